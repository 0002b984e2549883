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

__all__ = ["CT2_QUANTIZATIONS", "OPENAI_DTYPES", "export_openai", "export_ct2", "export_model"]

# ctranslate2 quantization names accepted by TransformersConverter.convert.
CT2_QUANTIZATIONS = ("float32", "float16", "bfloat16", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16")
# openai-whisper ships float16 checkpoints; float32 keeps adapted weights exact.
OPENAI_DTYPES = ("float32", "float16")


def export_openai(model: Any, processor: Any, out: str | os.PathLike[str], dtype: str = "float32") -> Path:
    """Write ``model`` as an openai-whisper checkpoint at ``out`` (atomically).

    Args:
        model: ``WhisperForConditionalGeneration``.
        processor: Its processor (its ``tokenizer.json`` is saved beside the checkpoint).
        out: Target ``.pt`` path.
        dtype: ``float32`` or ``float16``.
    """
    import torch

    from .openai import hf_to_openai

    if dtype not in OPENAI_DTYPES:
        raise TermadaptError(
            f"--quantization {dtype} is not available for --to openai (choose {', '.join(OPENAI_DTYPES)})"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = hf_to_openai(model)
    ckpt["model_state_dict"] = {k: v.to(getattr(torch, dtype)) for k, v in ckpt["model_state_dict"].items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.chmod(tmp, 0o644)  # mkstemp files are private; a model file is meant to be shared
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    with tempfile.TemporaryDirectory() as tok_dir:
        processor.tokenizer.save_pretrained(tok_dir)
        shutil.copyfile(Path(tok_dir) / "tokenizer.json", out.with_suffix(".tokenizer.json"))
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
    if out.exists() and not force and any(out.iterdir()):
        raise TermadaptError(f"{out}: already exists and is not empty; choose another --out or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".termadapt-export-", dir=out.parent) as work:
        hf_dir = Path(work) / "hf"
        model.save_pretrained(hf_dir)
        processor.save_pretrained(hf_dir)
        processor.feature_extractor.save_pretrained(hf_dir)  # writes preprocessor_config.json
        staged = Path(work) / "ct2"
        converter = TransformersConverter(str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"])
        converter.convert(str(staged), quantization=quantization, force=True)
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
        force: Overwrite an existing CT2 directory.
        cache_dir: Conversion cache root.
    """
    import torch

    from . import resolve_model

    if to not in ("openai", "ct2"):
        raise TermadaptError(f"--to {to}: choose openai or ct2")
    model, processor = resolve_model(spec, cache_dir=cache_dir, dtype=torch.float32)
    if to == "openai":
        return export_openai(model, processor, out, dtype=quantization or "float32")
    return export_ct2(model, processor, out, quantization=quantization or "float16", force=force)
