"""Scoring of hand-written hypotheses, the report schema, Markdown/HTML/CSV rendering."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from termadapt.errors import TermadaptError
from termadapt.report import write_report
from termadapt.report.schema import Report, from_dict, load_report, save_report, to_dict
from termadapt.scoring.evaluation import paired_bootstrap_ci, template_ngrams

from .helpers import sample_report


def test_scoring_counts_are_exact() -> None:
    rep = sample_report()
    terms = rep.set_named("test_terms")
    b, a = terms.get("base"), terms.get("adapted")
    assert (b.term_hits, b.term_total) == (0, 4)
    assert (a.term_hits, a.term_total) == (3, 4)
    assert (a.decides_hits, a.decides_total, a.neutral_hits, a.neutral_total) == (1, 1, 0, 1)
    assert a.budget_recall == 1.0  # the neutral 動悸/動機 sentence is reported apart
    assert (a.fixes, a.regressions) == (3, 0)
    g = rep.set_named("general")
    gb, ga = g.get("base"), g.get("adapted")
    assert gb.cer == 0.0  # 三日/3日, 六時/6時 and the final 。 are not errors
    assert (ga.base_correct, ga.retained, ga.retention) == (4, 1, 0.25)
    assert (ga.regressions, ga.fixes) == (3, 0)
    assert (ga.invented_terms, ga.homophone_swaps, ga.homophone_clips) == (1, 1, 1)
    assert ga.leaks == 1 and rep.leaks[0].ngram in ("説明しまし", "明しました")
    assert ga.cer_delta > 0 and ga.cer_delta_ci[0] <= ga.cer_delta <= ga.cer_delta_ci[1]
    kinds = sorted((o.kind, o.term) for o in rep.over_triggers)
    assert kinds == [("homophone_swap", "動悸"), ("invented", "痙攣")]
    row = next(t for t in rep.terms if t.term == "動悸")
    assert (row.total, row.neutral_total, row.hits["adapted"], row.neutral_hits["adapted"]) == (2, 1, 1, 0)
    assert not rep.budget.ok
    broken = {c.name for c in rep.budget.checks if not c.ok}
    assert broken == {"general_cer", "invented_terms", "homophone_swaps"}
    assert any("replay" in a for a in rep.budget.advice) and any("merge α" in a for a in rep.budget.advice)


def test_bootstrap_ci() -> None:
    ref_len = np.full(200, 10)
    base = np.zeros(200, dtype=np.int64)
    same = paired_bootstrap_ci(base, base.copy(), ref_len, 500, 0)
    assert same == [0.0, 0.0]
    worse = base.copy()
    worse[:20] = 5  # 100 extra errors over 2000 chars: +5 points
    lo, hi = paired_bootstrap_ci(base, worse, ref_len, 500, 0)
    assert 0.0 < lo < 0.05 < hi < 0.1
    assert paired_bootstrap_ci(base, worse, ref_len, 500, 0) == [lo, hi]  # seeded
    assert paired_bootstrap_ci(base[:0], base[:0], ref_len[:0], 10, 0) is None


def test_template_ngrams_never_cross_the_slot() -> None:
    grams = template_ngrams(["医師は{term}について説明しました。"])
    assert "について説" in grams and "医師は" not in grams
    assert all("{" not in g for g in grams)


def test_schema_round_trip(tmp_path) -> None:
    rep = sample_report()
    path = save_report(rep, tmp_path / "report.json")
    back = load_report(path)
    assert to_dict(back) == to_dict(rep)
    assert isinstance(back, Report) and back.sets[0].conditions[0].__class__.__name__ == "ConditionMetrics"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["schema_version"] = 99
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TermadaptError, match="schema version 99"):
        load_report(path)
    path.write_text("{broken", encoding="utf-8")
    with pytest.raises(TermadaptError, match="not valid JSON"):
        load_report(path)
    with pytest.raises(TermadaptError, match="no report.json"):
        load_report(tmp_path / "missing.json")
    assert from_dict(Report, {"schema_version": 1, "created": "", "run_dir": "", "recipe": "", "future": 1}).sets == []


def test_write_report_files(tmp_path) -> None:
    rep = sample_report(tmp_path)
    save_report(rep, tmp_path / "report" / "report.json")
    out = write_report(tmp_path)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "**Forgetting budget (adapted): BROKEN.**" in md
    assert "What to try next" in md and "replay" in md
    assert "| 動悸 | 動機 | 2 | 0/2 | 1/2 | 1 |" in md
    assert "## Merge curve" in md and "## Template leakage" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 3  # CER per set, per-term recall, merge curve
    assert "data:audio/wav;base64," in html and "<audio" in html
    assert "#1f6fd1" in html and "#8c8c8c" in html
    assert "src='http" not in html and "href='http" not in html  # self-contained
    rows = list(csv.DictReader((out / "hypotheses.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 2 * 8
    assert {r["condition"] for r in rows} == {"base", "adapted"}
    r = next(r for r in rows if r["condition"] == "adapted" and r["ref"].startswith("駅前"))
    assert r["hyp"] == "痙攣の店は6時に閉まります" and float(r["cer"]) > 0
    # Without audio embedding the player becomes a link to the wav.
    write_report(tmp_path, formats=["html"], embed_audio=False)
    assert "data:audio/wav" not in (out / "report.html").read_text(encoding="utf-8")
    with pytest.raises(TermadaptError, match="report.formats"):
        write_report(tmp_path, formats=["pdf"])


@pytest.mark.parametrize(
    "mutate, field_name, problem",
    [
        (lambda d: [d], None, "holds a list, not a report object"),
        (lambda d: {k: v for k, v in d.items() if k != "run_dir"}, "run_dir", "missing"),
        (lambda d: {**d, "sets": {"a": 1}}, "sets", "expected a list, found an object"),
        (lambda d: {**d, "budget": None}, "budget", "expected an object (BudgetResult), found null"),
        (
            lambda d: {**d, "sets": [{**d["sets"][0], "conditions": [{**d["sets"][0]["conditions"][0], "cer": "x"}]}]},
            "sets[0].conditions[0].cer",
            "expected a number, found a string",
        ),
        (
            lambda d: {**d, "utterances": [{**d["utterances"][0], "hyps": {"base": 3}}]},
            "utterances[0].hyps.base",
            "expected a string, found int 3",
        ),
        (lambda d: {**d, "terms": [{**d["terms"][0], "total": True}]}, "terms[0].total", "expected an integer"),
    ],
)
def test_report_of_the_wrong_shape_names_the_field(tmp_path, mutate, field_name, problem) -> None:
    path = save_report(sample_report(), tmp_path / "report.json")
    path.write_text(json.dumps(mutate(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
    with pytest.raises(TermadaptError) as info:
        load_report(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and problem in msg and "\n" not in msg
    if field_name:
        assert f"field {field_name}: {problem}" in msg


def test_html_embeds_no_audio_from_outside_the_run_dir(tmp_path) -> None:
    rep = sample_report(tmp_path)
    secret = tmp_path.parent / f"{tmp_path.name}-secret.wav"
    secret.write_bytes(b"RIFF private")
    for change in rep.changes:
        change.audio = f"../{secret.name}"  # a hand-edited report.json
    save_report(rep, tmp_path / "report" / "report.json")
    out = write_report(tmp_path, formats=["html"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert rep.changes and "data:audio/wav" not in html and secret.name in html  # linked, not embedded
