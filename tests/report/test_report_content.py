"""What the report tells a user: the merge chart's panels, what the model wrote instead, the
recall it leads with, model cards read back, and ``termadapt compare``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from termadapt.cli import app
from termadapt.config import recipe_from_dict, save_resolved
from termadapt.report import write_report
from termadapt.report.compare import compare_runs
from termadapt.report.html import merge_panels, render_html
from termadapt.report.model_card import model_card, write_model_cards
from termadapt.report.schema import from_dict, load_report, save_report, to_dict
from termadapt.report.summary import console_lines, summary
from termadapt.report.tables import LEFT_OUT, confusions, over_triggers

from .helpers import sample_report

SVG = "{http://www.w3.org/2000/svg}"


def _panels(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("data-metric"): g for g in root.iter(f"{SVG}g") if g.get("class") == "panel"}


def test_merge_chart_has_two_aligned_panels_with_budget_bands() -> None:
    rep = sample_report()
    svg = merge_panels(rep.merge_curve, min_recall=0.95, max_cer_increase=0.5)
    panels = _panels(svg)
    assert set(panels) == {"term_recall", "general_cer_increase"}  # no counts, no rows, no raw CER
    recall, delta = panels["term_recall"], panels["general_cer_increase"]
    assert (float(recall.get("data-min")), float(recall.get("data-max"))) == (0.0, 1.0)
    assert float(delta.get("data-min")) == -float(delta.get("data-max")) and float(delta.get("data-max")) >= 1.5
    for panel in (recall, delta):
        (line,) = [p for p in panel.iter(f"{SVG}polyline") if p.get("class") == "series"]
        xs = [float(pt.split(",")[0]) for pt in line.get("points").split()]
        assert len(xs) == len(rep.merge_curve) and xs == sorted(xs)
        (band,) = [r for r in panel.iter(f"{SVG}rect") if r.get("class") == "budget"]
        assert float(band.get("height")) > 0
    rx = [float(pt.split(",")[0]) for pt in next(recall.iter(f"{SVG}polyline")).get("points").split()]
    dx = [float(pt.split(",")[0]) for pt in next(delta.iter(f"{SVG}polyline")).get("points").split()]
    assert rx == dx  # the same α sits at the same x in both panels
    # The recall band runs from the 95% line to the top; the CER band from the bottom to +0.5.
    recall_labels = {t.text for t in recall.iter(f"{SVG}text")}
    assert {"0%", "100%"} <= recall_labels
    # The paired interval each CER change was measured with is drawn as a bar around its point.
    (bar,) = [ln for ln in delta.iter(f"{SVG}line") if ln.get("class") == "interval"]
    (point,) = [c for c in delta.iter(f"{SVG}circle") if "α=1:" in c.findtext(f"{SVG}title")]
    y_low, y_high = sorted((float(bar.get("y1")), float(bar.get("y2"))))
    assert float(bar.get("x1")) == float(point.get("cx")) and y_low < float(point.get("cy")) < y_high
    assert "[+0.30, +2.90]" in bar.findtext(f"{SVG}title")
    (chosen,) = [ln for ln in ET.fromstring(svg).iter(f"{SVG}line") if ln.get("class") == "chosen"]
    assert chosen.get("data-alpha") == "0.5"
    page = render_html(rep, ".")
    assert "id='chart-merge'" in page and page.count("class='panel'") == 2


def test_what_the_model_wrote_instead_from_a_hand_made_report() -> None:
    base = {"schema_version": 1, "created": "", "run_dir": "", "recipe": "hand"}
    data = {
        **base,
        "conditions": [
            {"name": "base", "model": "whisper-base", "fingerprint": "a"},
            {"name": "adapted", "model": "model", "fingerprint": "b"},
        ],
        "sets": [
            {"name": "test_terms", "role": "terms", "clips": 4},
            {"name": "general", "role": "general", "clips": 1},
        ],
        "utterances": [
            {
                "set": "test_terms",
                "clip_id": f"c{i}",
                "utterance_id": "",
                "voice": "v",
                "kind": "term",
                "ref": ref,
                "terms": ["蒸留"],
                "hyps": hyps,
            }
            for i, (ref, hyps) in enumerate(
                [
                    ("蒸留の工程です。", {"base": "上流の工程です", "adapted": "蒸留の工程です"}),
                    ("蒸留を使う。", {"base": "上流を使う", "adapted": "上流を使う"}),
                    ("それは蒸留です。", {"base": "それは常流です", "adapted": "それは蒸留です"}),
                    ("蒸留。", {"base": "", "adapted": "蒸留"}),
                ]
            )
        ],
        "over_triggers": [
            {
                "set": "general",
                "clip_id": "g0",
                "condition": "adapted",
                "term": "仙骨",
                "kind": "invented",
                "ref": "千個ください",
                "hyp": "仙骨ください",
            }
        ],
    }
    rep = from_dict(type(sample_report()), data)
    header, rows = confusions(rep)
    assert header == ["term", "base", "adapted"]
    assert rows == [["蒸留", f"上流 ×2, 常流 ×1, {LEFT_OUT} ×1", "上流 ×1"]]
    header, rows = over_triggers(rep, 10)
    assert rows[0][header.index("in place of")] == "千個"  # the word the invented term replaced


def test_report_leads_with_the_budget_recall_and_explains_the_other() -> None:
    rep = sample_report()
    terms = rep.set_named("test_terms").get("adapted")
    assert terms.budget_recall != terms.term_recall  # the sample has a neutral homophone sentence
    first = next(line for line in summary(rep) if "Are my terms recognized" in line)
    assert "(the budget's figure)" in first and f"adapted 3/3 ({100 * terms.budget_recall:.1f}%)" in first
    explained = next(line for line in summary(rep) if "neutral homophone sentences" in line)
    assert "either spelling fits" in explained and f"({100 * terms.term_recall:.1f}%)" in explained
    lines = console_lines(rep, "run")
    head = next(line for line in lines if line.startswith("test_terms:"))
    assert f"→ {100 * terms.budget_recall:.1f}% (adapted)" in head and "3/3 terms" in head
    assert any("not in the budget" in line and f"{100 * terms.term_recall:.1f}%" in line for line in lines)


def _run_with_model(tmp_path, tiny_model_dir, name: str, **recipe_changes):
    import shutil

    run = tmp_path / name
    (run / "report").mkdir(parents=True)
    shutil.copytree(tiny_model_dir, run / "model")
    rep = sample_report()
    rep.run_dir = str(run)
    rep.conditions[1].model = str(run / "model")
    save_report(rep, run / "report" / "report.json")
    save_resolved(recipe_from_dict({"dictionary": {"paths": ["shipped:demo-product.csv"]}, **recipe_changes}), run)
    return run, rep


def test_model_card_metadata_reads_back(tmp_path, tiny_model_dir) -> None:
    from huggingface_hub import ModelCard

    run, rep = _run_with_model(tmp_path, tiny_model_dir, "run")
    write_report(run)  # the report stage writes the cards
    card = ModelCard.load(run / "model" / "README.md")
    assert card.data.base_model == "openai/whisper-base" and card.data.language == "ja"
    assert card.data.pipeline_tag == "automatic-speech-recognition" and card.data.license == "apache-2.0"
    results = {(r.dataset_split, r.metric_type): r for r in card.data.eval_results}
    recall = rep.set_named("test_terms").get("adapted").budget_recall
    assert results[("test_terms", "recall")].metric_value == pytest.approx(100 * recall, abs=0.01)
    delta = rep.set_named("general").get("adapted")
    ci = results[("general", "cer_increase")].metric_args
    assert ci["ci95_low"] <= results[("general", "cer_increase")].metric_value <= ci["ci95_high"]
    assert results[("general", "cer")].metric_value == pytest.approx(100 * delta.cer, abs=0.01)
    assert "# sample — Whisper adapted to" in card.text and "Held out (never trained on" in card.text
    assert not (run / "merged").exists() and write_model_cards(rep, run) == [run / "model" / "README.md"]
    assert "merged" not in model_card(rep, run, "adapted").split("---")[1]  # metadata of this model only


def test_compare_two_runs_side_by_side(tmp_path, tiny_model_dir) -> None:
    a, rep_a = _run_with_model(tmp_path, tiny_model_dir, "a")
    b, _ = _run_with_model(tmp_path, tiny_model_dir, "b", train={"learning_rate": 1e-4}, merge={"alpha": 0.6})
    data = to_dict(load_report(b / "report" / "report.json"))
    for t in data["terms"]:
        t["hits"]["adapted"] = 0  # run b learned nothing
    (b / "report" / "report.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    comp = compare_runs([a, b])
    header, rows = comp.summary
    assert comp.runs == ["a", "b"] and [r[0] for r in rows] == ["a", "b"]
    assert rows[0][header.index("delivered")] == "adapted"
    assert re.match(
        r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]",
        rows[0][header.index("general CER Δ pts [95% CI]")].split(": ")[1],
    )
    keys = {row[0]: row[1:] for row in comp.recipe[1]}
    assert keys == {"train.learning_rate": ["0.0", "0.0001"], "merge.alpha": ["auto", "0.6"]}  # 0 = auto
    per_term = {row[0]: row[1:] for row in comp.terms[1]}
    assert per_term["痙攣"] == ["100.0%", "0.0%"]
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "## Recipe keys that differ" in result.stdout and "| merge.alpha | auto | 0.6 |" in result.stdout
    assert (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8") == result.stdout
    assert "<table>" in (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")
    assert rep_a.recipe == "sample"


def test_a_budget_kept_only_on_point_estimates_reads_not_verified_everywhere(tmp_path) -> None:
    """The gate's third state reaches the console, report.md, report.html and survives report.json."""
    import dataclasses

    from termadapt.report.schema import load_report, save_report
    from termadapt.report.summary import console_lines
    from termadapt.scoring.budget import NOT_VERIFIED, Budget, Outcome, SetOutcome

    outcome = Outcome((SetOutcome("general", cer_increase=0.2, cer_interval=(-1.0, 1.4), clips=100),))
    rep = dataclasses.replace(sample_report(), budget=Budget(max_cer_increase=0.5).verdict(outcome, "adapted"))
    back = load_report(save_report(rep, tmp_path / "report.json"))
    assert back.budget.status == NOT_VERIFIED and back.budget.checks[0].clips_needed == 1600
    lines = console_lines(back, tmp_path)
    assert "forgetting budget: not verified by adapted" in lines
    assert any(ln.startswith("  not verified general: CER +0.20 points") for ln in lines)
    assert any("about 1600 general clips" in ln for ln in lines)
    page = render_html(back, str(tmp_path))
    assert "<span class='unverified'>not verified</span>" in page
    from termadapt.report.markdown import render_markdown

    assert "**Forgetting budget (adapted): not verified.**" in render_markdown(back)
    from termadapt.report.compare import _row

    assert _row("run", back)[-1] == "not verified"  # termadapt compare's budget column too


def test_the_summary_says_how_the_delivered_model_was_chosen(tmp_path) -> None:
    """Early stopping's checkpoint and the merge α reach the report with their evidence."""
    import dataclasses

    from termadapt.evaluate import _decisions

    (tmp_path / "model").mkdir()
    (tmp_path / "merged").mkdir()
    log = {
        "best_step": 40,
        "validation_curve": [
            {"step": 0, "term_recall": 0.1},
            {"step": 20, "term_recall": 0.8},
            {
                "step": 40,
                "term_recall": 0.9,
                "general_cer_increase": 0.3,
                "general_cer_low": -1.2,
                "general_cer_high": 1.9,
                "general_clips": 80,
            },
        ],
    }
    (tmp_path / "model" / "training_log.json").write_text(json.dumps(log), encoding="utf-8")
    curve = {"chosen_alpha": 0.85, "validation_rows": 102, "reason": "best term recall within the forgetting budget"}
    (tmp_path / "merged" / "merge_curve.json").write_text(json.dumps(curve), encoding="utf-8")
    found = _decisions(tmp_path)
    assert found == [
        "Early stopping kept step 40 (checkpoints evaluated at steps 20, 40): validation term recall 90.0%, "
        "general CER +0.30 pt "
        "[-1.20, +1.90] on 80 clips.",
        "Merge α = 0.85 on 102 validation clips: best term recall within the forgetting budget.",
    ]
    rep = dataclasses.replace(sample_report(), decisions=found)
    line = next(ln for ln in summary(load_report(save_report(rep, tmp_path / "r.json"))) if "chosen?" in ln)
    assert "step 40" in line and "α = 0.85" in line
    assert _decisions(tmp_path / "missing") == []


def test_terms_table_and_summary_show_swaps_per_homophone_term() -> None:
    from termadapt.report.tables import terms as terms_table

    rep = sample_report()
    header, rows = terms_table(rep)
    row = next(r for r in rows if r[0] == "動悸")
    assert header[-1] == "swaps in its homophone clips"
    assert row[-1] == "base 0/1 · adapted 1/1"  # the sample's one 動機 sentence, swapped by adapted
    rep.settings["min_homophone_sentences"] = 4
    (line,) = [ln for ln in summary(rep) if "Swaps are tested on fewer than 4" in ln]
    assert "動悸 (1)" in line and "extra_general_sentences" in line
    rep.settings["min_homophone_sentences"] = 1
    assert not [ln for ln in summary(rep) if "Swaps are tested on fewer than" in ln]
