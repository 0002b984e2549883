"""Decoding: the one batched Whisper decoder every stage transcribes with.

- :mod:`.core` — :func:`~.core.decode` (shared encoder passes, prompts, cached transcripts),
  :class:`~.core.DecodeOptions`, :class:`~.core.Condition`;
- :mod:`.cache` — the one hypothesis cache and the one weight fingerprint;
- :mod:`.hf` — the transformers backend (any device and dtype);
- :mod:`.ct2` — the CTranslate2 / faster-whisper backend;
- :mod:`.transcribe` — ``termadapt transcribe``: files of any length, timestamps, formats.
"""

from .cache import HypothesisCache, model_fingerprint, module_fingerprint
from .core import (
    Condition,
    DatasetClip,
    Decoded,
    DecodeOptions,
    build_term_prompt,
    decode,
    default_device,
    make_condition,
)
from .hf import TransformersBackend

__all__ = [
    "Condition",
    "DatasetClip",
    "DecodeOptions",
    "Decoded",
    "HypothesisCache",
    "TransformersBackend",
    "build_term_prompt",
    "decode",
    "default_device",
    "make_condition",
    "model_fingerprint",
    "module_fingerprint",
]
