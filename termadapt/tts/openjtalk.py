"""OpenJTalk engine (default): pyopenjtalk-plus, plus Debian's ``open_jtalk`` program.

Voices: ``mei_normal`` (bundled with pyopenjtalk-plus, CC-BY 3.0) and every ``.htsvoice``
file found in ``/usr/share/hts-voice`` (Debian's ``hts-voice-*`` packages) or in the folders
listed in ``$TERMADAPT_HTSVOICE_DIR``. Knobs ``speed`` and ``half_tone`` run in-process
(with the project's OpenJTalk user dictionary applied); ``alpha`` (all-pass constant),
``beta`` (post-filter), ``jf`` / ``jm`` (global-variance weights for F0 / spectrum) need the
``open_jtalk`` program (``apt-get install open-jtalk open-jtalk-mecab-naist-jdic``), which
reads text with its own dictionary: term readings are already katakana in ``tts_text``.

pyopenjtalk returns float64 on the int16 scale at 48 kHz that can exceed ±32767, so the
waveform is divided by 32768 (never cast) and level-normalised later by ``synth``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import read_native
from ..errors import MissingDependencyError, TermadaptError
from ..records import sha256_file
from ..text.readings import apply_user_dictionary, run_user_dictionary
from .base import Knob, TTSEngine, VoiceInfo, VoiceSpec, to_float32

if TYPE_CHECKING:
    from ..config import Recipe

__all__ = ["OpenJTalkEngine", "find_htsvoices"]

BUNDLED_VOICE = "mei_normal"
# int16 full scale: pyopenjtalk's waveform is on this scale (and may exceed it).
INT16_SCALE = 32768.0
# Debian's open-jtalk-mecab-naist-jdic installs its dictionary here.
DEBIAN_DICT_DIR = "/var/lib/mecab/dic/open-jtalk/naist-jdic"
DEBIAN_VOICE_DIR = "/usr/share/hts-voice"
# open_jtalk on one short sentence takes ~0.3 s; a minute means it hung.
CLI_TIMEOUT_S = 60

BASE_KNOBS = (
    Knob("speed", 1.0, 0.5, 2.0, "speaking rate"),
    Knob("half_tone", 0.0, -12.0, 12.0, "pitch shift in semitones"),
)
CLI_KNOBS = (
    Knob("alpha", 0.55, 0.0, 1.0, "all-pass constant (timbre; open_jtalk -a)"),
    Knob("beta", 0.0, 0.0, 1.0, "post-filter coefficient (open_jtalk -b)"),
    Knob("jf", 1.0, 0.0, 3.0, "global-variance weight for F0: intonation range (open_jtalk -jf)"),
    Knob("jm", 1.0, 0.0, 3.0, "global-variance weight for spectrum (open_jtalk -jm)"),
)
_CLI_FLAGS = {"alpha": "-a", "beta": "-b", "jf": "-jf", "jm": "-jm", "speed": "-r", "half_tone": "-fm"}


def _pyopenjtalk_dir() -> Path | None:
    try:
        import pyopenjtalk
    except ImportError:
        return None
    return Path(pyopenjtalk.__file__).parent


def find_htsvoices() -> dict[str, Path]:
    """Voice name → ``.htsvoice`` path for every voice file found here."""
    found: dict[str, Path] = {}
    base = _pyopenjtalk_dir()
    if base is not None and (base / "htsvoice" / f"{BUNDLED_VOICE}.htsvoice").is_file():
        found[BUNDLED_VOICE] = base / "htsvoice" / f"{BUNDLED_VOICE}.htsvoice"
    dirs = [DEBIAN_VOICE_DIR] + [d for d in os.environ.get("TERMADAPT_HTSVOICE_DIR", "").split(os.pathsep) if d]
    for folder in dirs:
        root = Path(folder).expanduser()
        if root.is_dir():
            for path in sorted(root.rglob("*.htsvoice")):
                found.setdefault(path.stem, path)
    return found


def _cli_dict_dir() -> str | None:
    for cand in (os.environ.get("OPEN_JTALK_DICT_DIR", ""), DEBIAN_DICT_DIR):
        if cand and (Path(cand) / "sys.dic").is_file():
            return cand
    return None


def cli_available() -> bool:
    """True when the ``open_jtalk`` program and a dictionary for it are installed."""
    return shutil.which("open_jtalk") is not None and _cli_dict_dir() is not None


class OpenJTalkEngine(TTSEngine):
    """HMM speech through pyopenjtalk-plus; see the module docstring.

    Options:
        user_dict: Path of the run's OpenJTalk user dictionary (applied once per process).
    """

    name = "openjtalk"
    install_hint = "pip install pyopenjtalk-plus (extra knobs: apt-get install open-jtalk open-jtalk-mecab-naist-jdic)"

    def __init__(self, user_dict: str | os.PathLike[str] | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.user_dict = str(user_dict) if user_dict else ""
        if self.user_dict:
            if not Path(self.user_dict).is_file():
                raise TermadaptError(
                    f"{self.user_dict}: OpenJTalk user dictionary not found — re-run `termadapt terms`"
                )
            apply_user_dictionary(self.user_dict)
        self._engines: dict[str, Any] = {}

    @classmethod
    def options_for(cls, recipe: Recipe, run_dir: Path) -> dict[str, Any]:
        return {"user_dict": run_user_dictionary(run_dir)}

    @classmethod
    def available(cls) -> bool:
        return _pyopenjtalk_dir() is not None

    @property
    def version(self) -> str:
        from importlib.metadata import version

        text = f"pyopenjtalk-plus-{version('pyopenjtalk-plus')}"
        if self.user_dict:
            text += f"+userdict-{sha256_file(self.user_dict)[:12]}"
        return text

    def cache_version(self, voice: VoiceSpec) -> str:
        text = self.version
        path = find_htsvoices().get(voice.voice)
        if path is not None and voice.voice != BUNDLED_VOICE:
            text += f"+voice-{sha256_file(path)[:12]}"
        if self._needs_cli(voice):
            text += "+open_jtalk-cli"
        return text

    def voices(self) -> list[VoiceInfo]:
        knobs = BASE_KNOBS + (CLI_KNOBS if cli_available() else ())
        return [
            VoiceInfo(
                self.name, name, f"HTS voice {path.name}" + (" (bundled)" if name == BUNDLED_VOICE else ""), knobs
            )
            for name, path in find_htsvoices().items()
        ]

    @staticmethod
    def _needs_cli(voice: VoiceSpec) -> bool:
        return any(k in voice.settings for k in ("alpha", "beta", "jf", "jm"))

    def synthesize(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        if self.user_dict:  # again if the terms stage rewrote it since (a no-op otherwise)
            apply_user_dictionary(self.user_dict)
        if self._needs_cli(voice):
            return self._synthesize_cli(text, voice)
        import pyopenjtalk

        speed = voice.numeric("speed", 1.0)
        half_tone = voice.numeric("half_tone", 0.0)
        if voice.voice == BUNDLED_VOICE:
            wav, sr = pyopenjtalk.tts(text, speed=speed, half_tone=half_tone)
        else:
            engine = self._hts_engine(voice.voice)
            labels = pyopenjtalk.extract_fullcontext(text)
            engine.set_speed(speed)
            engine.add_half_tone(half_tone)
            wav, sr = engine.synthesize(labels), engine.get_sampling_frequency()
        return to_float32(np.asarray(wav, dtype=np.float64) / INT16_SCALE), int(sr)

    def _hts_engine(self, name: str) -> Any:
        if name not in self._engines:
            from pyopenjtalk.htsengine import HTSEngine

            path = find_htsvoices().get(name)
            if path is None:
                raise TermadaptError(f"openjtalk voice '{name}' not found — see `termadapt voices`")
            self._engines[name] = HTSEngine(str(path).encode())
        return self._engines[name]

    def _synthesize_cli(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        if not cli_available():
            raise MissingDependencyError(
                f"voice '{voice}' needs the open_jtalk program — apt-get install open-jtalk open-jtalk-mecab-naist-jdic"
            )
        path = find_htsvoices().get(voice.voice)
        if path is None:
            raise TermadaptError(f"openjtalk voice '{voice.voice}' not found — see `termadapt voices`")
        with tempfile.TemporaryDirectory(prefix="termadapt-ojt-") as tmp:
            txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            txt.write_text(text + "\n", encoding="utf-8")
            cmd = ["open_jtalk", "-x", str(_cli_dict_dir()), "-m", str(path), "-ow", str(wav)]
            for key, value in voice.params:
                cmd += [_CLI_FLAGS[key], value]
            proc = subprocess.run(cmd + [str(txt)], capture_output=True, timeout=CLI_TIMEOUT_S)
            if proc.returncode != 0 or not wav.is_file():
                err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                raise RuntimeError(f"open_jtalk failed (exit {proc.returncode}): {err[-1] if err else 'no output'}")
            data, sr = read_native(wav)
        return to_float32(data), int(sr)
