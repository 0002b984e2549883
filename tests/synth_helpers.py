"""Helpers for the synthesis/dataset/import tests: a tiny external "TTS" program and runs.

The fake program is a real external command driven through the ``command`` engine: it
writes a wav whose pitch and length depend on the text, logs every call (so tests can
count engine calls), fails on texts containing ``FAIL`` and speaks 0.15 s for texts containing
``SHORT`` (audio that cannot hold its text).
"""

from __future__ import annotations

import sys
from pathlib import Path

from termadapt.config import recipe_from_dict
from termadapt.records import Utterance, write_jsonl

FAKE_TTS = r"""
import array, math, sys, wave, zlib
text_file, wav_file, log_file, voice = sys.argv[1:5]
text = open(text_file, encoding="utf-8").read().strip()
with open(log_file, "a", encoding="utf-8") as fh:
    fh.write(voice + "\t" + text + "\n")
if "FAIL" in text:
    sys.stderr.write("cannot pronounce FAIL\n")
    sys.exit(3)
sr = 22050
f0 = 120 + zlib.crc32((voice + text).encode()) % 200
n = int(sr * (0.15 if "SHORT" in text else 0.3 + 0.08 * len(text)))  # SHORT: speaks almost nothing
pcm = array.array("h", (int(9000 * math.sin(2 * math.pi * f0 * i / sr) * (1 + 0.5 * math.sin(6 * math.pi * i / sr)))
                        for i in range(n)))
with wave.open(wav_file, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(sr); w.writeframes(pcm.tobytes())
"""

UTTERANCES = [
    Utterance("t1", "心電図を確認します", "シンデンズを確認します", "term", "train", ("心電図",), "{term}を確認します"),
    Utterance("t2", "痙攣", "ケイレン", "term_alone", "train", ("痙攣",)),
    Utterance("h1", "動機を話す", "動機を話す", "homophone", "train", (), "", "動悸", True),
    Utterance("g1", "駅前で会いましょう", "駅前で会いましょう", "general", "train"),
    Utterance("v1", "心電図の結果です", "シンデンズの結果です", "term", "validation", ("心電図",), "{term}の結果です"),
    Utterance("x1", "痙攣が起きた", "ケイレンが起きた", "term", "test", ("痙攣",), "{term}が起きた"),
    Utterance("x2", "今日は晴れです", "今日は晴れです", "general", "test"),
    Utterance("x3", "同期を取る", "同期を取る", "homophone", "test", (), "", "動悸", False),
]


def fake_tts(tmp_path: Path) -> tuple[str, Path]:
    """Write the fake TTS script; return (command template, call log path)."""
    script = tmp_path / "fake_tts.py"
    script.write_text(FAKE_TTS, encoding="utf-8")
    log = tmp_path / "calls.log"
    return f"{sys.executable} {script} {{text_file}} {{wav_file}} {log} {{voice}}", log


def calls(log: Path) -> int:
    """Number of times the fake TTS ran."""
    return len(log.read_text(encoding="utf-8").splitlines()) if log.is_file() else 0


def make_run(tmp_path: Path, utterances=UTTERANCES, **synth):
    """A run dir with ``utterances.jsonl`` and a recipe whose voices all use the fake TTS."""
    template, log = fake_tts(tmp_path)
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    write_jsonl(run / "utterances.jsonl", utterances)
    cfg = {
        "train_voices": ["command:train_a", "command:train_b"],
        "heldout_voices": ["command:held"],
        "fallback_heldout_voices": [],
        "workers": 1,
        "cache_dir": str(tmp_path / "cache"),
        "command_template": template,
    }
    cfg.update(synth)
    return recipe_from_dict({"synth": cfg, "seed": 1}), run, log
