"""Evaluation stage (and the report stage rendering it) with the tiny model on a tiny DatasetDict."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest

# (split, text, kind, terms, homophone_of, decides)
ROWS = [
    ("test_terms", "昨日から痙攣が続いています。", "term", ["痙攣"], "", -1),
    ("test_terms", "心電図を確認してください。", "term", ["心電図"], "", -1),
    ("test_terms", "夜になると動悸がします。", "term", ["動悸"], "", 1),
    ("test_terms", "動悸について話しました。", "term", ["動悸"], "", 0),
    ("general", "今日は三日ぶりに晴れました。", "general", [], "", -1),
    ("general", "駅前の店は六時に閉まります。", "general", [], "", -1),
    ("general", "彼の動機はよく分かりません。", "homophone", [], "動悸", 1),
]
TEMPLATES = ["医師は{term}について説明しました。", "昨日から{term}が続いています。"]
TERMS = [("痙攣", []), ("心電図", []), ("動悸", ["動機"])]


def build_run_dir(path: Path, ja_speech) -> Path:
    """A run directory with dataset/, terms.jsonl and utterances.jsonl (real OpenJTalk audio)."""
    from train_fixtures import save_dataset

    from termadapt.records import write_jsonl

    splits: dict[str, list[dict]] = {}
    for i, (split, text, kind, terms, hom, decides) in enumerate(ROWS):
        splits.setdefault(split, []).append(
            {
                "audio": ja_speech(text, 1.1),
                "text": text,
                "kind": kind,
                "voice": "openjtalk:mei_normal:s1.1",
                "terms": terms,
                "utterance_id": f"u{i}",
                "homophone_of": hom,
                "decides": decides,
            }
        )
    save_dataset(path, splits)
    write_jsonl(path / "terms.jsonl", [{"target": t, "reading": t, "homophones": h} for t, h in TERMS])
    write_jsonl(
        path / "utterances.jsonl",
        [
            {
                "id": f"t{i}",
                "text": tpl.replace("{term}", "痙攣"),
                "tts_text": "",
                "kind": "term",
                "split": "train",
                "template": tpl,
            }
            for i, tpl in enumerate(TEMPLATES)
        ],
    )
    return path


def build_adapted_run(path: Path, ja_speech, tiny_model) -> Path:
    """:func:`build_run_dir` plus ``model/``: the tiny base with a perturbed decoder (encoder shared)."""
    import torch

    run = build_run_dir(path, ja_speech)
    model, processor = tiny_model
    adapted = copy.deepcopy(model)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in adapted.model.decoder.layers.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.5)
    adapted.save_pretrained(run / "model")
    processor.save_pretrained(run / "model")
    return run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, ja_speech, tiny_model, tiny_model_dir):
    """Run dir whose adapted model is the tiny base with a perturbed decoder (encoder shared)."""
    return build_adapted_run(tmp_path_factory.mktemp("run"), ja_speech, tiny_model)


def make_recipe(base: str | Path, **evaluate):
    from termadapt.config import recipe_from_dict

    ev = {"batch_size": 4, "max_new_tokens": 8, "bootstrap_samples": 200, **evaluate}
    return recipe_from_dict(
        {
            "name": "t",
            "model": {"base": str(base)},
            "evaluate": ev,
            "report": {"formats": ["json", "md", "html", "csv"]},
        }
    )


def test_load_eval_sets(tiny_run) -> None:
    from termadapt.evaluate import load_eval_sets

    sets = load_eval_sets(tiny_run)
    assert set(sets) == {"test_terms", "general"}
    clip = sets["general"][2]
    assert clip.kind == "homophone" and clip.homophone_of == "動悸" and clip.decides == 1
    assert clip.audio.dtype == np.float32 and clip.audio.size > 8000
    assert sets["test_terms"][3].decides == 0


def test_evaluate_end_to_end_and_cache(tiny_run, tiny_model_dir, monkeypatch) -> None:
    from transformers import WhisperForConditionalGeneration

    from termadapt.evaluate import evaluate
    from termadapt.report import render
    from termadapt.report.schema import load_report

    calls = {"n": 0}
    real_generate = WhisperForConditionalGeneration.generate

    def counting(self, *a, **k):
        calls["n"] += 1
        return real_generate(self, *a, **k)

    monkeypatch.setattr(WhisperForConditionalGeneration, "generate", counting)
    recipe = make_recipe(
        tiny_model_dir,
        min_term_recall=0.0,
        max_general_cer_increase=1e6,
        max_invented_terms=100,
        max_homophone_swaps=100,
    )
    path = evaluate(recipe, tiny_run, progress=False)
    out = path.parent
    assert calls["n"] > 0
    # The evaluate stage writes report.json only; the report stage renders it.
    assert path.name == "report.json" and not (out / "report.md").exists() and not (out / "report.html").exists()
    render(recipe, tiny_run)
    rep = load_report(path)
    names = rep.condition_names()
    assert names[:3] == ["base", "prompt", "adapted"]
    assert rep.machine["device"] == "cpu"  # no GPU here: every condition decoded on the CPU
    merged = next(c for c in rep.conditions if c.name == "merged")
    assert merged.note.startswith("not evaluated")
    prompt = next(c for c in rep.conditions if c.name == "prompt")
    assert (prompt.prompt_terms, prompt.prompt_terms_total) == (3, 3) and 0 < prompt.prompt_tokens <= 223
    adapted = next(c for c in rep.conditions if c.name == "adapted")
    base = next(c for c in rep.conditions if c.name == "base")
    assert adapted.encoder_fingerprint == base.encoder_fingerprint and adapted.fingerprint != base.fingerprint
    assert adapted.shares_encoder_with == "base"
    # Shared encoder: one encoder pass per clip for three conditions.
    assert rep.timing["encoder_passes"] == len(ROWS)
    assert rep.timing["decoded"] == 3 * len(ROWS)
    general = rep.set_named("general")
    assert general is not None and general.role == "general" and general.clips == 3
    b = general.get("base")
    assert b.cer_delta is None and b.retention in (None, 1.0)
    a = general.get("adapted")
    assert a.cer_delta is not None and a.cer_delta_ci is not None and a.cer_delta_ci[0] <= a.cer_delta_ci[1]
    assert a.homophone_clips == 1
    terms = rep.set_named("test_terms").get("base")
    assert terms.term_total == 4 and terms.decides_total == 1 and terms.neutral_total == 1
    assert [t.term for t in rep.terms] == ["痙攣", "心電図", "動悸"] and rep.terms[2].homophones == ["動機"]
    assert len(rep.utterances) == len(ROWS)
    assert rep.budget.ok and rep.budget.condition == "adapted"
    for name in ("report.md", "report.html", "hypotheses.csv"):
        assert (out / name).stat().st_size > 200
    csv_text = (out / "hypotheses.csv").read_text(encoding="utf-8-sig")
    assert csv_text.count("\n") == 1 + 3 * len(ROWS) and "駅前の店は六時に閉まります。" in csv_text
    regs = [c for c in rep.changes if c.change == "regression"]
    for r in regs:
        assert (tiny_run / r.audio).is_file()
    # Second run: everything comes from the cache.
    calls["n"] = 0
    rep2 = load_report(evaluate(recipe, tiny_run, progress=False))
    assert calls["n"] == 0
    assert rep2.timing["decoded"] == 0 and rep2.timing["cached"] == 3 * len(ROWS)
    assert [u.hyps for u in rep2.utterances] == [u.hyps for u in rep.utterances]


def test_changed_model_is_decoded_again(tiny_run, tiny_model_dir, tmp_path) -> None:
    import torch
    from transformers import WhisperForConditionalGeneration

    from termadapt.evaluate import evaluate
    from termadapt.report.schema import load_report

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    m = WhisperForConditionalGeneration.from_pretrained(run / "model")
    with torch.no_grad():
        m.model.decoder.embed_tokens.weight.mul_(1.5)
    m.save_pretrained(run / "model")
    recipe = make_recipe(tiny_model_dir, conditions=["base", "adapted"])
    rep = load_report(evaluate(recipe, run, progress=False))
    assert rep.timing["decoded"] == len(ROWS)  # only the changed adapted model; base is cached


def test_budget_broken_exits_3(tiny_run, tiny_model_dir, tmp_path) -> None:
    from typer.testing import CliRunner

    from termadapt.cli import app

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'name = "t"\nrun_dir = "{run}"\n[model]\nbase = "{tiny_model_dir}"\n'
        '[evaluate]\nconditions = ["base", "adapted"]\nbatch_size = 4\nmax_new_tokens = 8\nbootstrap_samples = 100\n'
        "min_term_recall = 1.0\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["evaluate", str(recipe)])
    assert result.exit_code == 3, result.output
    assert "forgetting budget: BROKEN by adapted" in result.output and "BROKEN test_terms: term recall" in result.output
    assert "Traceback" not in result.output
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "BROKEN" in md and "more templates" in md
    # Re-render from report.json without a model.
    (run / "report" / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report" / "report.html").is_file()


def test_missing_dataset_is_one_line_error(tmp_path, tiny_model_dir) -> None:
    from typer.testing import CliRunner

    from termadapt.cli import app

    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'name = "t"\nrun_dir = "{tmp_path / "empty"}"\n[model]\nbase = "{tiny_model_dir}"\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["evaluate", str(recipe)])
    assert result.exit_code == 1
    assert "no dataset" in result.output and "Traceback" not in result.output


def test_prompt_keeps_within_limit(tiny_model) -> None:
    from termadapt.decoding.core import PROMPT_TOKEN_LIMIT, build_term_prompt

    _, processor = tiny_model
    terms = [f"専門用語{i}番目の長い名前" for i in range(200)]
    ids, fitted = build_term_prompt(processor, terms)
    assert 0 < len(fitted) < len(terms)
    assert len(ids) - 1 <= PROMPT_TOKEN_LIMIT
    assert ids[0] == processor.tokenizer.convert_tokens_to_ids("<|startofprev|>")
    # One more term would not have fit.
    extra_ids, _ = build_term_prompt(processor, fitted + [terms[len(fitted)]], limit=10_000)
    assert len(extra_ids) - 1 > PROMPT_TOKEN_LIMIT


@pytest.mark.slow
def test_real_base_against_itself_and_a_damaged_copy(real_base, tmp_path, ja_speech) -> None:
    """Real whisper-base: vs itself → identical numbers, no regressions; vs a damaged copy → budget broken."""
    import torch
    from typer.testing import CliRunner

    from termadapt.cli import app
    from termadapt.report.schema import load_report

    run = build_run_dir(tmp_path / "run", ja_speech)
    model, processor = real_base
    model.save_pretrained(run / "model")
    processor.save_pretrained(run / "model")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'name = "real"\nrun_dir = "{run}"\n[model]\nbase = "whisper-base"\n'
        '[evaluate]\nconditions = ["base", "adapted"]\nbatch_size = 8\nmax_new_tokens = 40\nbootstrap_samples = 200\n'
        "min_term_recall = 0.0\nmax_general_cer_increase = 0.5\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["evaluate", str(recipe)])
    assert result.exit_code == 0, result.output
    rep = load_report(run / "report" / "report.json")
    assert rep.timing["encoder_passes"] == len(ROWS)  # same encoder: one pass serves both
    assert [c for c in rep.changes] == []
    for s in rep.sets:
        b, a = s.get("base"), s.get("adapted")
        assert (a.cer, a.reading_cer, a.wer, a.term_hits) == (b.cer, b.reading_cer, b.wer, b.term_hits)
        assert a.cer_delta == 0.0 and a.cer_delta_ci == [0.0, 0.0] and a.regressions == 0
    assert rep.set_named("general").get("base").cer < 0.3  # real speech recognized
    assert rep.budget.ok

    damaged = copy.deepcopy(model)
    with torch.no_grad():
        w = damaged.model.decoder.embed_tokens.weight
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(0)) * w.std() * 0.3)
    damaged.save_pretrained(run / "model")
    result = CliRunner().invoke(app, ["evaluate", str(recipe)])
    assert result.exit_code == 3, result.output
    assert "BROKEN general: CER +" in result.output
    rep = load_report(run / "report" / "report.json")
    assert rep.timing["decoded"] == len(ROWS)  # base hypotheses came from the cache
    a = rep.set_named("general").get("adapted")
    assert a.regressions >= 1 and a.cer_delta > 0.005
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    assert "data:audio/wav;base64," in html


def test_a_merged_model_is_delivered_only_when_it_belongs_to_this_training(tiny_run, tiny_model_dir, tmp_path):
    """merged/ from an earlier training, an unfinished merge or a disabled merge stage is never judged."""
    import dataclasses

    from termadapt.evaluate import build_conditions
    from termadapt.merging import merge

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "model" / ".completed").write_text("key-of-this-training\n", encoding="utf-8")
    recipe = make_recipe(tiny_model_dir, conditions=["base", "adapted", "merged"])
    merge(recipe, run, alpha=0.5)

    def merged_note(r) -> str:
        _, infos = build_conditions(r, run, [])
        return next(i for i in infos if i.name == "merged").note

    assert merged_note(recipe) == ""  # merged from this training: evaluated (and delivered)
    (run / "model" / ".completed").write_text("key-of-a-later-training\n", encoding="utf-8")
    assert "merged from an earlier training" in merged_note(recipe)
    (run / "merged" / "merge.json").unlink()
    assert "incomplete (no merge.json)" in merged_note(recipe)
    disabled = dataclasses.replace(recipe, merge=dataclasses.replace(recipe.merge, enabled=False))
    assert "disables the merge stage" in merged_note(disabled)


def test_import_problems_and_notices_become_report_notes(tmp_path) -> None:
    import json

    from termadapt.evaluate import _import_notes

    stats = {
        "imports": [
            {"name": "clean", "source": "a", "clips": 3, "problems": {}, "notices": {}},
            {
                "name": "real_ja",
                "source": "/data/real_ja",
                "clips": 40,
                "problems": {"truncated audio": {"count": 2, "first": "u7: cut.wav"}},
                "notices": {"audio outside the import folder (followed)": {"count": 1, "first": "u9: ../x.wav"}},
            },
        ]
    }
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    (note,) = _import_notes(tmp_path)
    assert note.startswith("import real_ja (40 clips from /data/real_ja): ")
    assert "2 × truncated audio (first: u7: cut.wav)" in note and "1 × audio outside the import folder" in note
    assert _import_notes(tmp_path / "nowhere") == []
