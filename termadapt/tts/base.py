"""The engine protocol shared by every TTS engine, and waveform helpers.

An engine turns text into a float32 mono waveform at its own sample rate. It describes its
voices and knobs (``voices()``), reports whether it can run here (``available()`` and
``install_hint``), and has a ``version`` string that goes into the audio cache key, so a
new engine or model version never reuses stale audio.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # a type only: voices imports the engines, so a runtime import would be circular
    from ..voices import VoiceSpec

__all__ = ["Knob", "VoiceInfo", "TTSEngine", "to_float32"]


@dataclass(frozen=True)
class Knob:
    """A numeric voice setting, with its valid range."""

    name: str
    default: float
    low: float
    high: float
    doc: str

    def describe(self) -> str:
        return f"{self.name}={self.default:g} [{self.low:g}..{self.high:g}] {self.doc}"


@dataclass(frozen=True)
class VoiceInfo:
    """One voice of an engine, as listed by ``termadapt voices``."""

    engine: str
    voice: str
    description: str
    knobs: tuple[Knob, ...] = field(default_factory=tuple)


def to_float32(wav: Any) -> np.ndarray:
    """Any mono/stereo waveform → 1-D float32 (stereo averaged, scale unchanged)."""
    arr = np.asarray(wav, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr.mean(axis=0 if arr.shape[0] <= 2 < arr.shape[1] else 1)
    return np.ascontiguousarray(arr.reshape(-1), dtype=np.float32)


class TTSEngine(abc.ABC):
    """Base class of the engines (see the module docstring).

    Subclasses set ``name`` and ``install_hint``, implement ``available``, ``voices``,
    ``version`` and ``synthesize``. Constructor keyword options are engine-specific
    (``user_dict`` for OpenJTalk, ``template`` for the command engine…).
    """

    name: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    @classmethod
    @abc.abstractmethod
    def available(cls) -> bool:
        """True when the engine's packages/programs are installed here."""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """Engine + model version; part of the audio cache key."""

    @abc.abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """The voices usable here, with their knobs."""

    @abc.abstractmethod
    def synthesize(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        """Speak ``text`` with ``voice``; return (float32 mono waveform, sample rate)."""

    def cache_version(self, voice: VoiceSpec) -> str:
        """Version string for this voice's cache key (default: the engine version)."""
        return self.version

    def check_voice(self, voice: VoiceSpec) -> None:
        """Raise :class:`ConfigError` when the voice or one of its knobs is unknown or out of range."""
        infos = {v.voice: v for v in self.voices()}
        info = infos.get(voice.voice)
        if info is None:
            raise ConfigError(
                f"voice '{voice}': engine '{self.name}' has no voice '{voice.voice}' — "
                f"choose one of {', '.join(sorted(infos)) or '(none installed)'}"
            )
        knobs = {k.name: k for k in info.knobs}
        for key, value in voice.params:
            knob = knobs.get(key)
            if knob is None:
                raise ConfigError(
                    f"voice '{voice}': unknown setting '{key}' — {self.name} knobs: {', '.join(knobs) or 'none'}"
                )
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(f"voice '{voice}': '{key}' must be a number, got '{value}'") from None
            if not knob.low <= number <= knob.high:
                raise ConfigError(f"voice '{voice}': '{key}'={value} is outside [{knob.low:g}, {knob.high:g}]")
