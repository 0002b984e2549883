"""Resolve a model spec into a transformers Whisper model and processor.

A spec is one of:

- a short name (``whisper-base``, ``whisper-small`` ...): the hub cache first, then (for
  ``whisper-base``) the offline CTranslate2 packages of the ``offline-base`` extra, then a
  hub download;
- a local transformers directory (``config.json`` + weights), e.g. an adapted model;
- a CTranslate2 / faster-whisper directory (``model.bin``; float32, float16, bfloat16 or
  int8 with scales);
- an openai-whisper checkpoint (``.pt``);
- a hub id (``openai/whisper-small``).

Conversions are written once as transformers directories under
``<cache>/models/<content-hash>/`` (see :mod:`termadapt.models.cache`) and loaded from
there afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, TermadaptError
from .cache import cached_dir, source_key
from .ct2 import ct2_to_hf_state_dict, is_ct2_dir, read_model_bin, whisper_dims
from .openai import dims_to_config_kwargs, load_openai_checkpoint, openai_to_hf
from .processor import (
    OFFLINE_HINT,
    build_processor,
    check_tokenizer,
    ct2_generation_settings,
    offline_base_files,
    whisper_config,
    whisper_generation_config,
)

__all__ = [
    "SHORT_NAMES",
    "resolve_model",
    "offline_base_ct2_dir",
    "convert_ct2_dir",
    "convert_openai_checkpoint",
    "load_hf_dir",
    "quiet_transformers",
]

# Short names and their hub ids; only whisper-base has an offline source (docs/design.md, "Weights offline").
SHORT_NAMES = {
    name: f"openai/{name}"
    for name in (
        "whisper-tiny",
        "whisper-base",
        "whisper-small",
        "whisper-medium",
        "whisper-large-v2",
        "whisper-large-v3",
        "whisper-large-v3-turbo",
    )
}
OFFLINE_SHORT_NAME = "whisper-base"
# Files faster-whisper reads next to model.bin.
CT2_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json", "preprocessor_config.json")
# Weight files of a transformers directory that are loaded: safetensors only, never a pickle.
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
# Pickled weight files a transformers directory may hold instead; refused by name.
_PICKLED_WEIGHT_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' own progress bars and notices while loading or saving weights.

    transformers 5 draws a "Loading weights" / "Writing model shards" bar for every call;
    termadapt's stages show their own progress, and the bars would tear it.
    """
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_model(
    spec: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, device: Any = None, dtype: Any = None
) -> tuple[Any, Any]:
    """Load ``spec`` as ``(WhisperForConditionalGeneration, WhisperProcessor)``.

    Args:
        spec: Short name, local directory, ``.pt`` file or hub id (see module docstring).
        cache_dir: Cache root (default ``$TERMADAPT_CACHE`` / ``~/.cache/termadapt``).
        device: Optional torch device for the model.
        dtype: Optional torch dtype for the model (weights are converted in float32).

    Raises:
        TermadaptError: One line naming the spec and what to install or pass.
    """
    path = local_path(spec)
    if path is not None:
        hf_dir = _local_to_hf_dir(path, cache_dir)
    elif str(spec) in SHORT_NAMES:
        hf_dir = _short_name_dir(str(spec), cache_dir)
    else:
        hf_dir = _hub_dir(str(spec))
    model, processor = load_hf_dir(hf_dir, spec=str(spec))
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    model.eval()
    return model, processor


def local_path(spec: str | os.PathLike[str]) -> Path | None:
    """Return ``spec`` as an existing path, ``None`` for names; raise for a missing path."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.exists():
        return path
    looks_local = (
        isinstance(spec, os.PathLike)
        or text.startswith((".", "/", "~"))
        or text.endswith((".pt", ".pth", ".bin", "/", os.sep))
        or text.count("/") > 1
        or os.sep == "\\"
        and "\\" in text
    )
    if looks_local:
        raise TermadaptError(f"model {text}: no such file or directory")
    return None


def _local_to_hf_dir(path: Path, cache_dir: Any) -> Path:
    if path.is_file() and path.name == "model.bin":
        path = path.parent
    if path.is_file():
        if path.suffix in (".pt", ".pth"):
            return convert_openai_checkpoint(path, cache_dir)
        raise TermadaptError(
            f"model {path}: unknown file type (expected an openai-whisper .pt, a transformers or a CTranslate2 directory)"
        )
    if is_ct2_dir(path):
        return convert_ct2_dir(path, cache_dir)
    if (path / "config.json").is_file() and any((path / f).is_file() for f in _WEIGHT_FILES):
        return path
    pickled = next((f for f in _PICKLED_WEIGHT_FILES if (path / f).is_file()), None)
    if pickled:
        raise TermadaptError(
            f"model {path}: holds {pickled} (a pickle) but no model.safetensors — termadapt loads only "
            "safetensors, so no model file can run code; if you trust it, load it with "
            "transformers yourself and save_pretrained() it again, which writes model.safetensors"
        )
    raise TermadaptError(
        f"model {path}: directory holds neither a transformers model (config.json + model.safetensors) nor a CTranslate2 model.bin"
    )


def _short_name_dir(name: str, cache_dir: Any) -> Path:
    hub_id = SHORT_NAMES[name]
    cached = _hub_cached(hub_id)
    if cached is not None:
        return cached
    if name == OFFLINE_SHORT_NAME:
        try:
            ct2_dir = offline_base_ct2_dir(cache_dir)
        except MissingDependencyError:
            if _hub_offline():
                raise
        else:
            return convert_ct2_dir(ct2_dir, cache_dir)
    return _hub_dir(hub_id, short=name)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _hub_cached(hub_id: str) -> Path | None:
    """Return the hub-cache snapshot dir of ``hub_id`` if it is complete, without network."""
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(hub_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None
    ok = (snap / "config.json").is_file() and any((snap / f).is_file() for f in _WEIGHT_FILES)
    return snap if ok else None


def _hub_dir(hub_id: str, short: str | None = None) -> Path:
    cached = _hub_cached(hub_id)
    if cached is not None:
        return cached
    alt = (
        " (or --model whisper-base, which works offline with the offline-base extra)"
        if short != OFFLINE_SHORT_NAME
        else ""
    )
    if _hub_offline():
        raise TermadaptError(
            f"model {hub_id}: not in the local Hugging Face cache and the hub is offline (HF_HUB_OFFLINE=1): {OFFLINE_HINT}{alt}"
        )
    try:
        from huggingface_hub import snapshot_download

        snap = snapshot_download(hub_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except Exception as exc:  # noqa: BLE001 - network, auth and not-found errors all end here
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise TermadaptError(
            f"model {hub_id}: cannot download from the Hugging Face hub ({reason}): {OFFLINE_HINT}{alt}"
        ) from None
    return Path(snap)


def _check_config(path: Path, label: str) -> None:
    """Refuse a ``config.json`` that is not a Whisper model's, in one line."""
    config = path / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TermadaptError(f"model {label}: {config} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise TermadaptError(f"model {label}: {config} holds a {type(data).__name__}, expected a JSON object")
    if data.get("model_type") != "whisper":
        raise TermadaptError(
            f"model {label}: {config} describes a {data.get('model_type')!r} model, not 'whisper' — "
            "termadapt adapts Whisper models only"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_hf_dir(path: Path, spec: str = "") -> tuple[Any, Any]:
    """Load a transformers Whisper directory (safetensors only) and its (checked) processor.

    Raises:
        TermadaptError: one line naming the model and the file that is wrong.
    """
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    label = spec or str(path)
    _check_config(path, label)
    try:
        with quiet_transformers():
            model = WhisperForConditionalGeneration.from_pretrained(path, use_safetensors=True)
    except Exception as exc:  # noqa: BLE001 - bad JSON, truncated safetensors, shape mismatches all end here
        raise TermadaptError(
            f"model {label}: cannot load transformers weights from {path} ({_first_line(exc)})"
        ) from None
    try:
        if (path / "processor_config.json").is_file() or (path / "preprocessor_config.json").is_file():
            processor = WhisperProcessor.from_pretrained(path)
        elif (path / "tokenizer.json").is_file():
            processor = build_processor(path / "tokenizer.json", num_mel_bins=model.config.num_mel_bins)
        else:
            raise TermadaptError(
                f"model {label}: {path} has no tokenizer.json / processor files; save the processor next to the model"
            )
    except TermadaptError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged tokenizer or processor file
        raise TermadaptError(
            f"model {label}: cannot load the tokenizer / processor files in {path} "
            f"({type(exc).__name__}: {_first_line(exc)}); save the processor next to the model again"
        ) from None
    check_tokenizer(processor.tokenizer, source=f"model {label}")
    if getattr(model.generation_config, "lang_to_id", None) is None:
        model.generation_config = whisper_generation_config(
            processor.tokenizer, suppress_tokens=list(model.config.suppress_tokens or [])
        )
    return model, processor


def offline_base_ct2_dir(cache_dir: Any = None) -> Path:
    """Assemble the offline whisper-base CTranslate2 directory in the cache (once).

    Concatenates ``model.bin.part1`` + ``model.bin.part2`` and copies the side files, giving
    a directory faster-whisper loads directly.
    """
    files = offline_base_files()
    key = source_key([files["part1"], files["part2"], files["tokenizer"], files["config"]], extra="offline-base-ct2")

    def build(tmp: Path) -> None:
        with open(tmp / "model.bin", "wb") as out:
            for part in (files["part1"], files["part2"]):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        for side in ("config", "tokenizer", "vocabulary"):
            shutil.copyfile(files[side], tmp / files[side].name)
        _write_preprocessor_config(tmp, num_mel_bins=80)

    return cached_dir(f"{key}-ct2", build, cache_dir)


def _write_preprocessor_config(path: Path, num_mel_bins: int) -> None:
    from transformers import WhisperFeatureExtractor

    WhisperFeatureExtractor(feature_size=num_mel_bins).save_pretrained(path)


def convert_ct2_dir(ct2_dir: Path, cache_dir: Any = None) -> Path:
    """Convert a CTranslate2 Whisper directory to a cached transformers directory."""
    tokenizer_json = ct2_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        tokenizer_json = _fallback_tokenizer(ct2_dir)
    sources = [ct2_dir / "model.bin", tokenizer_json]
    if (ct2_dir / "config.json").is_file():
        sources.append(ct2_dir / "config.json")
    key = source_key(sources, extra="ct2-to-hf")

    def build(tmp: Path) -> None:
        from tqdm import tqdm

        with tqdm(
            total=3, desc=f"converting {ct2_dir.name} (CTranslate2 → transformers, once)", unit="step", leave=False
        ) as bar:
            ct2 = read_model_bin(ct2_dir / "model.bin")
            bar.update()
            dims = whisper_dims(ct2)
            state = ct2_to_hf_state_dict(ct2)
            settings = ct2_generation_settings(ct2_dir / "config.json") if (ct2_dir / "config.json").is_file() else {}
            bar.update()
            _save_hf(tmp, dims, state, tokenizer_json, settings, source=ct2_dir)
            bar.update()

    return cached_dir(key, build, cache_dir)


def _fallback_tokenizer(ct2_dir: Path) -> Path:
    ct2 = read_model_bin(ct2_dir / "model.bin")
    vocab = whisper_dims(ct2)["vocab_size"]
    if vocab != 51865:
        raise TermadaptError(
            f"model {ct2_dir}: no tokenizer.json next to model.bin; copy the model's tokenizer.json there"
        )
    try:
        return offline_base_files()["tokenizer"]
    except MissingDependencyError:
        raise TermadaptError(
            f"model {ct2_dir}: no tokenizer.json next to model.bin; copy it there or {OFFLINE_HINT}"
        ) from None


def convert_openai_checkpoint(path: Path, cache_dir: Any = None) -> Path:
    """Convert an openai-whisper ``.pt`` to a cached transformers directory.

    The tokenizer is ``tokenizer.json`` next to the checkpoint if present, else (for the
    multilingual 51865-token vocabulary) the offline-base package's.
    """
    side = path.with_suffix(".tokenizer.json")
    tokenizer_json = side if side.is_file() else path.parent / "tokenizer.json"
    key = source_key([path] + ([tokenizer_json] if tokenizer_json.is_file() else []), extra="openai-to-hf")

    def build(tmp: Path) -> None:
        ckpt = load_openai_checkpoint(path)
        dims = dims_to_config_kwargs(ckpt["dims"])
        tok = tokenizer_json
        settings: dict[str, Any] = {}
        if not tok.is_file():
            if dims["vocab_size"] != 51865:
                raise TermadaptError(
                    f"model {path}: vocabulary of {dims['vocab_size']} tokens needs its tokenizer.json saved as {side.name} next to it"
                )
            files = offline_base_files()
            tok = files["tokenizer"]
            settings = ct2_generation_settings(files["config"])
            settings.pop("alignment_heads", None)  # base's heads; unknown for other sizes
        state = {k: v.numpy() for k, v in openai_to_hf(ckpt).items()}
        _save_hf(tmp, dims, state, tok, settings, source=path)

    return cached_dir(key, build, cache_dir)


def _save_hf(
    out: Path,
    dims: dict[str, int],
    state: dict[str, Any],
    tokenizer_json: Path,
    settings: dict[str, Any],
    source: Path | str = "",
) -> None:
    """Build a Whisper model from ``state`` (strictly), save it with its processor to ``out``."""
    import torch
    from transformers import WhisperForConditionalGeneration

    processor = build_processor(tokenizer_json, num_mel_bins=dims["num_mel_bins"])
    generation_config = whisper_generation_config(processor.tokenizer, **settings)
    config = whisper_config(dims, generation_config)
    model = WhisperForConditionalGeneration(config)
    tensors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in state.items()}
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    expected = set(model.state_dict())
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise TermadaptError(
            f"model {source}: its weights are not a Whisper model's (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )
    wrong = next((k for k, v in tensors.items() if tuple(v.shape) != tuple(model.state_dict()[k].shape)), None)
    if wrong is not None:
        raise TermadaptError(
            f"model {source}: weight {wrong} has shape {tuple(tensors[wrong].shape)} but its dims call for "
            f"{tuple(model.state_dict()[wrong].shape)} — the file's dims and weights disagree"
        )
    model.load_state_dict(tensors, strict=True)
    model.tie_weights()
    model.generation_config = generation_config
    with quiet_transformers():
        model.save_pretrained(out)
        processor.save_pretrained(out)
        # faster-whisper and other tools look for the feature-extractor file by this name.
        processor.feature_extractor.save_pretrained(out)
    (out / "termadapt_source.json").write_text(
        json.dumps({"tokenizer": str(tokenizer_json)}, indent=1) + "\n", encoding="utf-8"
    )
