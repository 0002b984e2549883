"""Export a Whisper model to openai-whisper (``.pt``) or CTranslate2 (faster-whisper).

Reads any model spec (see :func:`termadapt.models.resolve_model`) and writes:

- ``--to openai``: ``{"dims", "model_state_dict"}`` saved with ``torch.save`` (tensors and
  ints only, so ``torch.load(weights_only=True)`` and ``whisper.load_model`` accept it);
  the tokenizer is written next to it as ``<name>.tokenizer.json`` so the file converts back.
- ``--to ct2``: a faster-whisper directory made by ctranslate2's ``TransformersConverter``
  (``model.bin``, ``config.json``, ``tokenizer.json``, ``vocabulary.json``,
  ``preprocessor_config.json``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, TermadaptError
from ..records import shareable
from .resolve import quiet_transformers

__all__ = ["CT2_QUANTIZATIONS", "OPENAI_DTYPES", "export_openai", "export_ct2", "export_model"]

# ctranslate2 quantization names accepted by TransformersConverter.convert.
CT2_QUANTIZATIONS = ("float32", "float16", "bfloat16", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16")
# openai-whisper ships float16 checkpoints; float32 keeps adapted weights exact.
OPENAI_DTYPES = ("float32", "float16")
# File names whisper.load_model and termadapt read as openai-whisper checkpoints.
OPENAI_SUFFIXES = (".pt", ".pth")


def _writable(out: Path, to: str, force: bool) -> None:
    """Refuse an ``--out`` that would overwrite something without ``--force`` or cannot be written.

    Raises:
        TermadaptError: one line naming ``--out`` and the fix.
    """
    if to == "openai":
        if out.suffix.lower() not in OPENAI_SUFFIXES:
            raise TermadaptError(
                f"--out {out}: an openai-whisper checkpoint is a .pt file; give a name like {out.with_suffix('.pt')}"
            )
        if out.is_dir():
            raise TermadaptError(f"--out {out}: is a directory; give a .pt file name")
        taken = [p for p in (out, tokenizer_path(out)) if p.exists()]
        if taken and not force:
            raise TermadaptError(
                f"--out {out}: {taken[0]} already exists; choose another --out or pass --force to replace it"
            )
    else:
        if out.exists() and not out.is_dir():
            raise TermadaptError(f"--out {out}: is a file; --to ct2 writes a directory")
        if out.is_dir() and any(out.iterdir()) and not force:
            raise TermadaptError(
                f"--out {out}: already exists and is not empty; choose another --out or pass --force to replace it"
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out.parent, prefix=".termadapt-probe-")
        probe.close()
    except OSError as exc:
        raise TermadaptError(
            f"--out {out}: cannot write to {out.parent} ({exc.strerror or exc}); choose a writable folder"
        ) from None


def tokenizer_path(out: Path) -> Path:
    """Where the tokenizer of an openai-whisper export ``out`` is written (and read back from)."""
    return out.with_suffix(".tokenizer.json")


def export_openai(
    model: Any, processor: Any, out: str | os.PathLike[str], dtype: str = "float32", force: bool = False
) -> Path:
    """Write ``model`` as an openai-whisper checkpoint at ``out`` and its tokenizer beside it (atomically).

    Args:
        model: ``WhisperForConditionalGeneration``.
        processor: Its processor (its ``tokenizer.json`` is saved as ``<name>.tokenizer.json``).
        out: Target ``.pt`` path (must not exist unless ``force``).
        dtype: ``float32`` or ``float16``.
        force: Replace an existing checkpoint and tokenizer file.
    """
    import torch

    from .openai import hf_to_openai

    if dtype not in OPENAI_DTYPES:
        raise TermadaptError(
            f"--quantization {dtype} is not available for --to openai (choose {', '.join(OPENAI_DTYPES)})"
        )
    out = Path(out)
    _writable(out, "openai", force)
    ckpt = hf_to_openai(model)
    ckpt["model_state_dict"] = {k: v.to(getattr(torch, dtype)) for k, v in ckpt["model_state_dict"].items()}
    with tempfile.TemporaryDirectory(prefix=".termadapt-export-", dir=out.parent) as work:
        staged = Path(work) / "model.pt"
        torch.save(ckpt, staged)
        processor.tokenizer.save_pretrained(work)
        for src, dst in ((Path(work) / "tokenizer.json", tokenizer_path(out)), (staged, out)):
            shareable(src)  # a model file is meant to be shared
            os.replace(src, dst)
    return out


def export_ct2(
    model: Any, processor: Any, out: str | os.PathLike[str], quantization: str = "float16", force: bool = False
) -> Path:
    """Write ``model`` as a CTranslate2 (faster-whisper) directory ``out``.

    Args:
        model: ``WhisperForConditionalGeneration`` (float32 or lower).
        processor: Its processor.
        out: Target directory (must not exist unless ``force``).
        quantization: One of :data:`CT2_QUANTIZATIONS`.
        force: Replace an existing ``out``.
    """
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        raise MissingDependencyError(
            "exporting to CTranslate2 needs ctranslate2: pip install 'termadapt[offline-base]'"
        ) from None
    if quantization not in CT2_QUANTIZATIONS:
        raise TermadaptError(
            f"--quantization {quantization} is not a CTranslate2 quantization (choose {', '.join(CT2_QUANTIZATIONS)})"
        )
    out = Path(out)
    _writable(out, "ct2", force)
    with tempfile.TemporaryDirectory(prefix=".termadapt-export-", dir=out.parent) as work:
        hf_dir = Path(work) / "hf"
        staged = Path(work) / "ct2"
        with quiet_transformers():
            model.save_pretrained(hf_dir)
            processor.save_pretrained(hf_dir)
            processor.feature_extractor.save_pretrained(hf_dir)  # writes preprocessor_config.json
            converter = TransformersConverter(str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"])
            converter.convert(str(staged), quantization=quantization, force=True)
        shareable(staged)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    return out


def export_model(
    spec: str,
    to: str,
    out: str | os.PathLike[str],
    quantization: str | None = None,
    force: bool = False,
    cache_dir: Any = None,
) -> Path:
    """Resolve ``spec`` and export it; the CLI's ``termadapt export``.

    Args:
        spec: Any model spec.
        to: ``openai`` or ``ct2``.
        out: Output path (``.pt`` file or directory).
        quantization: ``float32``/``float16`` for openai (default float32); a CT2
            quantization for ct2 (default float16, faster-whisper's usual format).
        force: Replace an existing output (a .pt and its tokenizer file, or a CT2 directory).
        cache_dir: Conversion cache root.
    """
    import torch

    from . import resolve_model

    if to not in ("openai", "ct2"):
        raise TermadaptError(f"--to {to}: choose openai or ct2")
    _writable(Path(out), to, force)  # before the model loads: a refused --out costs nothing
    model, processor = resolve_model(spec, cache_dir=cache_dir, dtype=torch.float32)
    if to == "openai":
        return export_openai(model, processor, out, dtype=quantization or "float32", force=force)
    return export_ct2(model, processor, out, quantization=quantization or "float16", force=force)
