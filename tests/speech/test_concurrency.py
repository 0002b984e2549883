"""One-time preparation shared by workers happens once, under a lock: no clip is lost on a fresh cache.

A newcomer's first quickstart lost a held-out clip: two synthesis workers assembled the
Kokoro model at the same time and one of them failed. These tests start from an empty
Kokoro cache with two workers, and with two runs sharing one cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from termadapt.tts import engine_class

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not engine_class("kokoro").available(), reason="kokoro extra not installed"),
]

SCRIPT = r"""
import json, sys
from pathlib import Path
from termadapt.config import recipe_from_dict
from termadapt.records import Utterance, write_jsonl
from termadapt.speech.synth import synthesize

run, audio = Path(sys.argv[1]), sys.argv[2]
run.mkdir(parents=True, exist_ok=True)
texts = ["今日は晴れです。", "駅前で会いましょう。", "本を読みます。", "雨が降りました。"]
utts = [Utterance(f"t{i}", t, t, "general", "test") for i, t in enumerate(texts)]
utts.append(Utterance("r0", "お茶を飲みます。", "お茶を飲みます。", "general", "train"))
write_jsonl(run / "utterances.jsonl", utts)
recipe = recipe_from_dict({"synth": {
    "train_voices": ["openjtalk:mei_normal"], "heldout_voices": ["kokoro:jf_alpha", "kokoro:jm_kumo"],
    "fallback_heldout_voices": [], "workers": 2, "cache_dir": audio, "max_failure_share": 1.0}})
synthesize(recipe, run)
print(json.dumps(json.loads((run / "synth_summary.json").read_text())))
"""


def _run(tmp_path: Path, name: str, kokoro_cache: Path) -> subprocess.Popen:
    script = tmp_path / "synth_once.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "KOKORO_JA_CACHE": str(kokoro_cache), "TERMADAPT_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / name), str(tmp_path / "audio")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _summary(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_two_workers_on_an_empty_kokoro_cache_lose_no_clip(tmp_path):
    summary = _summary(_run(tmp_path, "run", tmp_path / "kokoro"))
    assert summary["failed"] == 0 and summary["clips"] == 4 * 2 + 1
    assert (tmp_path / "kokoro" / "kokoro-v1.0.int8.onnx").is_file()


def test_two_runs_sharing_one_cache_lose_no_clip(tmp_path):
    first, second = _run(tmp_path, "a", tmp_path / "kokoro"), _run(tmp_path, "b", tmp_path / "kokoro")
    a, b = _summary(first), _summary(second)
    assert a["failed"] == b["failed"] == 0 and a["clips"] == b["clips"] == 9
    clips = [
        json.loads(line) for run in ("a", "b") for line in (tmp_path / run / "synth.jsonl").read_text().splitlines()
    ]
    assert len(clips) == 18 and all(Path(c["audio_path"]).is_file() for c in clips)
