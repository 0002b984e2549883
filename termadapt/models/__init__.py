"""Whisper model sources, conversions and exports.

``resolve_model(spec)`` turns a short name (``whisper-base``), hub id, transformers
directory, CTranslate2 directory or openai-whisper ``.pt`` into a transformers
``(WhisperForConditionalGeneration, WhisperProcessor)``; :mod:`.export` writes models back
out to openai-whisper and CTranslate2; :mod:`.tiny` builds the tiny test model.
"""

from __future__ import annotations

from .resolve import SHORT_NAMES, resolve_model

__all__ = ["SHORT_NAMES", "resolve_model"]
