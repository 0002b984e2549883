"""The engine protocol shared by every TTS engine, voice specs, and waveform helpers.

An engine turns text into a float32 mono waveform at its own sample rate. It describes its
voices and knobs (``voices()``), reports whether it can run here (``available()`` and
``install_hint``), reads its own constructor options from a recipe (``options()``), and has
a ``version`` string that goes into the audio cache key, so a new engine or model version
never reuses stale audio.

A voice spec is a string ``engine:voice?knob=value&knob=value`` such as
``openjtalk:mei_normal?speed=0.9&half_tone=-2`` or ``kokoro:jf_alpha``. :func:`parse_voice`
turns it into a frozen :class:`VoiceSpec` whose ``str()`` is the canonical form (knobs
sorted, numbers normalised), used as the clip's voice id and in the audio cache key.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, quote

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Recipe

__all__ = ["Knob", "VoiceInfo", "VoiceSpec", "TTSEngine", "parse_voice", "to_float32"]


def _canonical_value(value: str) -> str:
    """Numbers in one spelling (``1.0`` → ``1``, ``0.90`` → ``0.9``), other text unchanged."""
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    if number == int(number):
        return str(int(number))
    return repr(number)


@dataclass(frozen=True, order=True)
class VoiceSpec:
    """One voice: an engine, a voice of that engine and its knob settings.

    Attributes:
        engine: Engine name (``openjtalk``, ``kokoro``, ``coqui``, ``command``).
        voice: Voice id within the engine (``mei_normal``, ``jf_alpha``).
        params: Knob settings as sorted ``(name, value)`` pairs, values as strings.
    """

    engine: str
    voice: str
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = f"{self.engine}:{self.voice}"
        if self.params:
            text += "?" + "&".join(f"{k}={quote(v, safe='.-_/')}" for k, v in self.params)
        return text

    @property
    def settings(self) -> dict[str, str]:
        """Knob settings as a dict."""
        return dict(self.params)

    def numeric(self, name: str, default: float) -> float:
        """A knob's value as a number (``default`` when not set)."""
        value = self.settings.get(name)
        return default if value is None else float(value)


def parse_voice(text: str, where: str = "voice") -> VoiceSpec:
    """Parse ``engine:voice?k=v&k=v`` into a :class:`VoiceSpec`.

    Raises:
        ConfigError: the string lacks ``engine:``, has an empty voice or a malformed knob.
    """
    raw = text.strip()
    head, _, query = raw.partition("?")
    engine, sep, voice = head.partition(":")
    if not sep or not engine or not voice:
        raise ConfigError(
            f"{where}: '{text}' is not a voice spec — write engine:voice, e.g. openjtalk:mei_normal?speed=0.9 "
            "or kokoro:jf_alpha (see `termadapt voices`)"
        )
    params: dict[str, str] = {}
    if query:
        try:
            pairs = parse_qsl(query, keep_blank_values=False, strict_parsing=True)
        except ValueError:
            raise ConfigError(f"{where}: '{text}' has a malformed knob list — write ?name=value&name=value") from None
        for key, value in pairs:
            if key in params:
                raise ConfigError(f"{where}: '{text}' sets '{key}' twice — keep one")
            params[key] = _canonical_value(value)
    return VoiceSpec(engine.strip().lower(), voice.strip(), tuple(sorted(params.items())))


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
    def options_for(cls, recipe: Recipe, run_dir: Path) -> dict[str, Any]:
        """Constructor options of this engine for a run (default: none)."""
        return {}

    def prepare(self) -> None:
        """One-time work shared by every worker (assembling a model…), done once before they start.

        The synth stage calls it in its main process; an engine that writes shared files does
        so under :func:`termadapt.cache.file_lock`, so two runs sharing a cache are safe too.
        Default: nothing to prepare.
        """
        return None

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

    def effective(self, voice: VoiceSpec) -> VoiceSpec:
        """The voice as it sounds: knobs set to their defaults dropped (``speed=1`` is no knob at all).

        Two specs with the same effective voice speak identically, so one cannot train while
        the other is held out.
        """
        info = next((v for v in self.voices() if v.voice == voice.voice), None)
        defaults = {k.name: _canonical_value(repr(float(k.default))) for k in info.knobs} if info else {}
        return VoiceSpec(voice.engine, voice.voice, tuple((k, v) for k, v in voice.params if defaults.get(k) != v))

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
