"""The metric table: a metric declared there is computed, stored and rendered with no renderer change."""

from __future__ import annotations

import json

import numpy as np

from termadapt.report.html import render_html
from termadapt.report.markdown import render_markdown
from termadapt.report.schema import SCHEMA_VERSION, Report, save_report, to_dict
from termadapt.scoring import table
from termadapt.scoring.evaluation import score
from termadapt.scoring.records import EvalClip
from termadapt.scoring.terms import TermInfo


def _clip(i: int, text: str) -> EvalClip:
    return EvalClip(
        set="general", index=i, audio_key=f"k{i}" * 12, audio=np.zeros(160, np.float32), text=text, utterance_id=f"u{i}"
    )


def test_loops_are_repeated_word_ngrams_not_ordinary_sentences():
    assert table._has_loop("痙攣の痙攣の痙攣の痙攣の")  # 2 words, 4 times
    assert table._has_loop("はい、はい、はい。")  # punctuation is not a word
    assert table._has_loop("今日は晴れ今日は晴れ今日は晴れです")
    assert not table._has_loop("今日は晴れ今日は晴れです")  # twice is speech, not a loop
    assert not table._has_loop("私の父の友人の家に行きました。")  # の three times, not in a row
    assert not table._has_loop("")


def test_repetition_rate_flows_from_the_table_into_report_json_md_and_html(tmp_path):
    clips = [_clip(0, "駅前で会いましょう。"), _clip(1, "明日は雨です。"), _clip(2, "はいはいはい、分かりました。")]
    hyps = {
        "base": {c.clip_id: c.text for c in clips},
        "adapted": {
            clips[0].clip_id: "駅前で会いましょう",
            clips[1].clip_id: "明日は雨雨雨です",
            clips[2].clip_id: "はいはいはい、分かりました",
        },
    }
    scores = score({"general": clips}, hyps, ["base", "adapted"], [TermInfo("痙攣")], bootstrap_samples=0)
    general = scores.sets[0]
    assert general.get("base").repetition_rate == 0.0
    assert general.get("adapted").repetition_rate == 1 / 3  # the reference's own はいはいはい is not the model's fault
    assert "repetition" in table.header()
    report = Report(
        schema_version=SCHEMA_VERSION, created="2026-01-01", run_dir=str(tmp_path), recipe="t", sets=scores.sets
    )
    save_report(report, tmp_path / "report.json")
    stored = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert (
        stored["sets"][0]["conditions"][1]["repetition_rate"]
        == 1 / 3
        == to_dict(report)["sets"][0]["conditions"][1]["repetition_rate"]
    )
    md = render_markdown(report)
    header = next(line for line in md.splitlines() if line.startswith("| set | condition"))
    assert header.rstrip(" |").endswith("repetition")
    assert "| 33.3% |" in md
    html = render_html(report, tmp_path)
    assert "<th>repetition</th>" in html and "<td>33.3%</td>" in html
