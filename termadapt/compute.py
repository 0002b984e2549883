"""Where models run and in which number format: the one home of device and precision choices.

Training (``train.precision``), the frozen encoder's one pass, and every decode
(``evaluate.precision``: validation, the merge α sweep, evaluation) resolve their setting here:

- ``fp32``: exact, everywhere;
- ``bf16``: on a GPU that supports it, and on CPUs with bfloat16 matrix instructions (Intel
  AMX or AVX512-BF16). Training keeps float32 weights and runs its matrix products under
  ``torch.autocast`` (:func:`autocast`; the loss from float32 logits), where whisper-base's
  encoder runs 2.5× and a decoder training step 1.9× faster than in float32; decoding runs a
  bfloat16 copy of the weights (:class:`~termadapt.decoding.hf.TransformersBackend`), 2.0×
  (docs/design.md, "Measured on these machines");
- ``fp16``: GPUs only;
- ``auto``: ``bf16`` where the hardware runs it natively (a bf16 GPU, or such a CPU), else ``fp32``.
  On a CPU without those instructions bfloat16 is emulated and slower, so ``auto`` stays exact.

Reads: nothing. Writes: nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import ConfigError

__all__ = ["PRECISIONS", "autocast", "cpu_has_bf16", "default_device", "resolve_precision"]

# The settings train.precision and evaluate.precision accept.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def default_device() -> str:
    """``cuda`` when a GPU is usable, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (Intel AMX or AVX512-BF16)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _device_type(device: Any) -> str:
    return getattr(device, "type", None) or str(device).split(":")[0]


def resolve_precision(setting: str, device: Any, key: str = "precision") -> str:
    """The precision ``setting`` means on ``device``: ``fp32``, ``bf16`` or ``fp16``.

    Args:
        setting: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        device: A torch device or its name (``cpu``, ``cuda``, ``cuda:1``).
        key: The recipe key, for the error.

    Raises:
        ConfigError: an unknown setting, or ``fp16`` (or ``bf16`` on a GPU without it) where
            the hardware cannot run it.
    """
    import torch

    if setting not in PRECISIONS:
        raise ConfigError(f"{key} = {setting!r}: use one of {', '.join(PRECISIONS)}")
    kind = _device_type(device)
    if kind == "cuda":
        bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if setting == "auto":
            return "bf16" if bf16 else "fp32"
        if setting == "bf16" and not bf16:
            raise ConfigError(f'{key} = "bf16" but this GPU has no bfloat16 — use "auto", "fp16" or "fp32"')
        return setting
    if setting == "fp16":
        raise ConfigError(f'{key} = "fp16" needs a GPU — use "auto", "bf16" or "fp32" on a CPU')
    if setting == "auto":
        return "bf16" if kind == "cpu" and cpu_has_bf16() else "fp32"
    return setting


@contextlib.contextmanager
def autocast(device: Any, precision: str) -> Iterator[None]:
    """``torch.autocast`` for a resolved ``bf16``/``fp16`` on ``device``; nothing for ``fp32``."""
    import torch

    if precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=_device_type(device), dtype=dtype):
        yield
