"""Tests of termadapt.merging: weight interpolation, α selection, the merge stage and its CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from termadapt.config import recipe_from_dict
from termadapt.errors import TermadaptError
from termadapt.merging import merge
from termadapt.merging.alpha import CurvePoint, select_alpha
from termadapt.merging.interpolate import interpolate, trim_task_vector
from termadapt.scoring.budget import Budget
from termadapt.scoring.validation import score_validation

# ----------------------------------------------------------------------------- interpolate


def _states(dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    emb_b = torch.randn(6, 4, generator=g).to(dtype)
    emb_a = torch.randn(6, 4, generator=g).to(dtype)
    enc = torch.randn(3, 4, generator=g).to(dtype)
    base = {"embed.weight": emb_b, "proj.weight": emb_b, "encoder.w": enc, "steps": torch.tensor([1, 2])}
    adapted = {"embed.weight": emb_a, "proj.weight": emb_a, "encoder.w": enc.clone(), "steps": torch.tensor([3, 4])}
    return base, adapted


def test_interpolate_endpoints_and_midpoint():
    base, adapted = _states()
    zero = interpolate(base, adapted, 0.0)
    one = interpolate(base, adapted, 1.0)
    half = interpolate(base, adapted, 0.5)
    assert torch.equal(zero["embed.weight"], base["embed.weight"])
    assert torch.equal(one["embed.weight"], adapted["embed.weight"])
    assert torch.allclose(half["embed.weight"], (base["embed.weight"] + adapted["embed.weight"]) / 2)
    assert not torch.equal(half["embed.weight"], base["embed.weight"])
    # equal (frozen) tensors stay bit-exact and non-float tensors come from the adapted model
    assert torch.equal(half["encoder.w"], base["encoder.w"])
    assert torch.equal(half["steps"], adapted["steps"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_interpolate_half_precision_in_fp32(dtype):
    base, adapted = _states(dtype)
    out = interpolate(base, adapted, 0.3)["embed.weight"]
    assert out.dtype == dtype
    expected = (0.7 * base["embed.weight"].float() + 0.3 * adapted["embed.weight"].float()).to(dtype)
    assert torch.equal(out, expected)


def test_interpolate_keeps_tied_weights_tied():
    base, adapted = _states()
    out = interpolate(base, adapted, 0.4)
    assert out["embed.weight"] is out["proj.weight"]


def test_interpolate_shape_mismatch_is_one_clear_line():
    base, adapted = _states()
    adapted["encoder.w"] = torch.zeros(5, 4)
    with pytest.raises(TermadaptError) as err:
        interpolate(base, adapted, 0.5)
    msg = str(err.value)
    assert "\n" not in msg and "encoder.w" in msg and "(3, 4)" in msg and "(5, 4)" in msg and "--base" in msg


def test_interpolate_rejects_missing_keys_and_bad_alpha():
    base, adapted = _states()
    del base["steps"]
    with pytest.raises(TermadaptError, match="'steps' is in the adapted model but not the base"):
        interpolate(base, adapted, 0.5)
    with pytest.raises(TermadaptError, match=r"\[0, 1\]"):
        interpolate(*_states(), 1.5)


def test_trim_task_vector_keeps_the_largest_changes():
    base, adapted = _states()
    trimmed = trim_task_vector(base, adapted, 0.25)
    delta = adapted["embed.weight"] - base["embed.weight"]
    kept = trimmed["embed.weight"] != base["embed.weight"]
    assert int(kept.sum()) == 6  # a quarter of 24 entries
    assert delta.abs()[kept].min() >= delta.abs()[~kept].max()  # the largest ones
    assert torch.allclose(trimmed["embed.weight"][kept], adapted["embed.weight"][kept])
    assert trimmed["embed.weight"] is trimmed["proj.weight"]  # tied stays tied
    assert torch.equal(trimmed["steps"], adapted["steps"])
    assert trim_task_vector(base, adapted, 1.0)["embed.weight"] is adapted["embed.weight"]
    with pytest.raises(TermadaptError, match="task_vector_keep"):
        trim_task_vector(base, adapted, 0.0)


def test_trim_task_vector_keeps_exactly_k_of_tied_changes_bit_exact():
    base = {"w": torch.zeros(8, dtype=torch.bfloat16)}
    adapted = {"w": torch.tensor([1, 1, 1, 1, 0.5, 0.5, 0.1, 0.1], dtype=torch.bfloat16)}
    trimmed = trim_task_vector(base, adapted, 0.25)["w"]
    kept = trimmed != 0
    assert int(kept.sum()) == 2 and torch.equal(trimmed[kept], adapted["w"][kept])  # two of the four 1s
    assert trimmed.dtype == torch.bfloat16


def test_merge_trims_the_task_vector(tiny_model, tiny_model_dir, adapted_run, tmp_path):
    from termadapt.models import resolve_model

    run, adapted = adapted_run
    base_model, _ = tiny_model
    recipe = _recipe(tiny_model_dir)
    recipe.merge.task_vector_keep = 0.1
    out = merge(recipe, run, alpha=1.0, out_dir=tmp_path / "trimmed")
    assert json.loads((out / "merge.json").read_text())["task_vector_keep"] == 0.1
    merged, _ = resolve_model(str(out))
    key = "model.decoder.layers.0.fc1.weight"
    b, a, m = base_model.state_dict()[key], adapted.state_dict()[key], merged.state_dict()[key]
    changed = (m != b).float().mean().item()
    assert 0.05 < changed <= 0.11 and (a != b).float().mean().item() > 0.5


# ----------------------------------------------------------------------------- selection


def _point(alpha, recall, cer_inc, invented=0, swaps=0):
    return CurvePoint(
        alpha=alpha,
        term_recall=recall,
        term_hits=0,
        term_total=0,
        neutral_recall=None,
        general_cer=10.0 + cer_inc,
        general_cer_increase=cer_inc,
        invented=invented,
        swaps=swaps,
        general_rows=10,
    )


BUDGET = Budget(max_cer_increase=0.5, min_term_recall=0.95, max_invented=0, max_swaps=0)


def test_select_alpha_best_recall_within_budget():
    points = [
        _point(0.0, 0.1, 0.0),
        _point(0.3, 0.6, 0.1),
        _point(0.5, 0.9, 0.4),
        _point(0.7, 1.0, 0.6),
        _point(1.0, 1.0, 0.2, invented=2),
    ]
    alpha, reason = select_alpha(points, BUDGET)
    assert alpha == 0.5
    assert "within the forgetting budget" in reason
    assert [p.chosen for p in points] == [False, False, True, False, False]
    assert [p.qualifies for p in points] == [True, True, True, False, False]
    assert "invented" in points[4].reason and "general CER" in points[3].reason


def test_select_alpha_recall_tie_goes_to_the_larger_alpha_that_learned_more():
    points = [_point(0.3, 0.8, 0.0), _point(0.5, 0.9, 0.3), _point(0.7, 0.9, 0.1), _point(1.0, 0.9, 0.5)]
    assert select_alpha(points, BUDGET)[0] == 1.0  # +0.5 is within the limit: the tie goes to α = 1
    points[-1] = _point(1.0, 0.9, 0.6)  # over the limit now
    assert select_alpha(points, BUDGET)[0] == 0.7


def test_curve_points_carry_the_paired_interval_of_the_cer_change():
    """Each α's CER change vs α = 0 comes with the paired 95% interval of the same clips."""
    from termadapt.merging.alpha import curve_points
    from termadapt.scoring.validation import ValidationScore

    def score(errors):
        chars = (20,) * len(errors)
        cer = 100.0 * sum(errors) / sum(chars)
        return ValidationScore(1.0, 4, 4, None, cer, 0, 0, len(errors), tuple(errors), chars)

    base = [1, 0, 2, 0, 1, 0, 0, 3, 0, 1] * 4
    same = score(base)
    one_worse = score([e + (i == 0) for i, e in enumerate(base)])  # one character on one clip
    many_worse = score([e + 1 for e in base])  # one character on every clip
    pts = {p.alpha: p for p in curve_points({0.0: score(base), 0.5: same, 0.7: one_worse, 1.0: many_worse})}
    assert pts[0.5].general_cer_low == pts[0.5].general_cer_high == 0.0
    assert pts[0.7].general_cer_low <= pts[0.7].general_cer_increase <= pts[0.7].general_cer_high
    assert pts[0.7].general_cer_low <= 0.0  # one clip cannot show a change: the interval reaches 0
    assert pts[1.0].general_cer_low == pytest.approx(5.0) == pts[1.0].general_cer_high  # every clip +1/20
    outcome = pts[0.7].outcome().sets[0]
    assert outcome.cer_interval == (pts[0.7].general_cer_low, pts[0.7].general_cer_high) and outcome.clips == 40
    alpha, reason = select_alpha(list(pts.values()), BUDGET)
    assert alpha == 0.7 and "on 40 clips" in reason and "[" in reason  # +0.125 pt is within +0.5; 1.0 is not


def _scores(errors: dict[float, list[int]], hits: dict[float, list[int]], swapped: dict[float, int] | None = None):
    """Validation scores per α: per-clip general errors (20 chars each), per-row term hits and
    the number of general rows written with a term (swaps)."""
    from termadapt.scoring.validation import ValidationScore

    out = {}
    for a in errors:
        chars = (20,) * len(errors[a])
        cer = 100.0 * sum(errors[a]) / sum(chars)
        h = tuple(hits[a])
        n = (swapped or {}).get(a, 0)
        flags = (1,) * n + (0,) * (len(chars) - n)
        out[a] = ValidationScore(
            sum(h) / len(h),
            sum(h),
            len(h),
            None,
            cer,
            0,
            n,
            len(chars),
            tuple(errors[a]),
            chars,
            h,
            (1,) * len(h),
            flags,
        )
    return out


def test_select_alpha_gives_up_resolved_recall_only_for_resolved_forgetting():
    """The glossary case: α 0.5 is within +0.5 on point estimates with little recall; α 1 has
    all of it at a CER rise that 40 clips cannot resolve — α 1 wins. When the rise is on every
    clip (resolved), or the recall gain is one clip (unresolved), the budget's pick stands."""
    from termadapt.merging.alpha import curve_points

    base = [1, 0, 2, 0, 1, 0, 0, 3, 0, 1] * 4
    noisy = [e + (3 if i in (0, 7) else 0) for i, e in enumerate(base)]  # +6 chars on 2 of 40 clips: +0.75 pt
    hits = {0.0: [0] * 20, 0.5: [1] * 4 + [0] * 16, 1.0: [1] * 20}
    scores = _scores({0.0: base, 0.5: base, 1.0: noisy}, hits)
    points = curve_points(scores)
    alpha, reason = select_alpha(points, BUDGET, scores)
    assert alpha == 1.0 and "cannot resolve" in reason and "more term recall than α 0.5" in reason
    chosen = next(p for p in points if p.alpha == 1.0)
    assert chosen.chosen and chosen.traded and not chosen.qualifies
    assert select_alpha(curve_points(scores), BUDGET)[0] == 0.5  # without the scores: point estimates decide

    worse = [e + 1 for e in base]  # one character on every clip: +5 pt, resolved
    scores = _scores({0.0: base, 0.5: base, 1.0: worse}, hits)
    assert select_alpha(curve_points(scores), BUDGET, scores)[0] == 0.5

    one_more = {0.0: [0] * 20, 0.5: [1] * 19 + [0], 1.0: [1] * 20}  # one clip of recall: not resolved
    scores = _scores({0.0: base, 0.5: base, 1.0: noisy}, one_more)
    assert select_alpha(curve_points(scores), BUDGET, scores)[0] == 0.5

    # One homophone sentence of 40 written with the term (出し物 → 出汁物): over the swap limit,
    # but one clip cannot resolve a rate — α 1 still wins, and the reason says so. Eight can.
    scores = _scores({0.0: base, 0.5: base, 1.0: noisy}, hits, {1.0: 1})
    points = curve_points(scores)
    alpha, reason = select_alpha(points, BUDGET, scores)
    assert alpha == 1.0 and "1 more over-triggering clip " in reason
    scores = _scores({0.0: base, 0.5: base, 1.0: noisy}, hits, {1.0: 8})
    assert select_alpha(curve_points(scores), BUDGET, scores)[0] == 0.5


def test_extra_cer_counts_from_the_base_when_the_pick_is_below_it():
    """The untuned glossary's curve: the pick α 0.3 is well below the base model (it only has
    its swap-free record), α 1 learned the terms at the base's own CER. Against the pick, α 1
    is resolvably worse on every clip; against the base it has forgotten nothing — it wins,
    and the reason says its CER is measured from the base."""
    from termadapt.merging.alpha import curve_points

    base = [2, 1, 2, 1, 2, 1, 3, 3, 1, 2] * 4
    better = [e - 1 for e in base]  # α 0.3: one character fewer on every clip (−5 pt)
    hits = {0.0: [0] * 20, 0.3: [1] * 3 + [0] * 17, 0.5: [1] * 10 + [0] * 10, 1.0: [1] * 20}
    # α 0.5 and 1 each wrote one homophone sentence with the term: over the swap limit of 0.
    scores = _scores({0.0: base, 0.3: better, 0.5: base, 1.0: base}, hits, {0.5: 1, 1.0: 1})
    alpha, reason = select_alpha(curve_points(scores), BUDGET, scores)
    assert alpha == 1.0 and "more term recall than α 0.3" in reason
    assert "+0.00 pt general CER over the base model" in reason
    # A candidate that forgets what the base knew (every clip worse than the base) still loses.
    worse = [e + 1 for e in base]
    scores = _scores({0.0: base, 0.3: better, 0.5: base, 1.0: worse}, hits, {0.5: 1, 1.0: 1})
    assert select_alpha(curve_points(scores), BUDGET, scores)[0] == 0.5


def test_budget_may_keep_and_trades():
    from termadapt.scoring.budget import Outcome, SetOutcome

    def outcome(rise, ci, invented=0):
        return Outcome((SetOutcome("validation", 0.9, rise, ci, 80),), invented=invented)

    assert BUDGET.may_keep(outcome(1.9, (-0.8, 4.5)))  # over on the point, unresolved
    assert not BUDGET.may_keep(outcome(2.4, (0.6, 4.3)))  # the whole interval above +0.5
    assert not BUDGET.may_keep(outcome(0.0, (-1.0, 1.0), invented=1))  # a count over its limit, no interval
    assert BUDGET.may_keep(outcome(0.0, (-1.0, 1.0), invented=1), (0.0, 0.05))  # one clip: unresolved
    assert not BUDGET.may_keep(outcome(0.0, (-1.0, 1.0), invented=9), (0.05, 0.2))  # resolved
    assert not BUDGET.trades((0.1, 0.5), (-0.5, 2.0), (0.01, 0.1))  # resolved extra over-triggering
    assert BUDGET.trades((0.1, 0.5), (-0.5, 2.0), (0.0, 0.05))
    assert BUDGET.may_keep(outcome(0.4, None)) and not BUDGET.may_keep(outcome(0.6, None))
    assert BUDGET.trades((0.1, 0.5), (-0.5, 2.0))
    assert not BUDGET.trades((-0.05, 0.5), (-0.5, 2.0)) and not BUDGET.trades((0.1, 0.5), (0.2, 2.0))
    assert not BUDGET.trades(None, (-0.5, 2.0))


def test_select_alpha_none_qualifies_takes_the_one_closest_to_the_budget():
    points = [
        _point(0.0, 0.0, 0.0),
        _point(0.5, 0.7, 0.9, swaps=1),
        _point(0.7, 0.9, 0.8, invented=3),
        _point(1.0, 1.0, 2.0),
        _point(0.85, 0.95, 0.9),
    ]
    alpha, reason = select_alpha(points, BUDGET)
    # excess over the limits: 0.4 pt + 1 swap, 0.3 pt + 3 invented, 1.5 pt, 0.4 pt: α 0.85
    assert alpha == 0.85  # the base (α = 0) is not a candidate: it would undo the training
    assert reason.startswith("no α met the forgetting budget")
    assert not any(p.qualifies for p in points[1:])


def test_score_validation_counts_recall_cer_invented_and_swaps():
    rows = [
        {"text": "今日は痙攣がある", "kind": "term", "terms": ["痙攣"], "homophone_of": "", "decides": -1},
        {"text": "動悸がする", "kind": "term_alone", "terms": ["動悸"], "homophone_of": "", "decides": 0},
        {"text": "駅前で会う", "kind": "general", "terms": [], "homophone_of": "", "decides": -1},
        {"text": "志望動機を書く", "kind": "homophone", "terms": [], "homophone_of": "動悸", "decides": 1},
    ]
    hyps = ["今日は痙攣がある", "動機がする", "痙攣で会う", "志望動悸を書く"]
    s = score_validation(rows, hyps, ["痙攣", "動悸"])
    assert (s.term_hits, s.term_total, s.term_recall) == (1, 1, 1.0)
    assert s.neutral_recall == 0.0  # reported apart: the context allows either spelling
    assert s.invented == 1 and s.swaps == 1 and s.general_rows == 2
    assert s.general_cer == pytest.approx(100 * 3 / 12)  # 駅前→痙攣 (2) + 機→悸 (1) over 5 + 7 chars
    assert s.general_errors == (2, 1) and s.general_chars == (5, 7)  # per row, for paired comparisons
    # the budget's view: the CER rise over the base model's score on the same rows, with its
    # paired interval, over-triggering counted
    base = score_validation(rows, ["今日は痙攣がある", "動悸がする", "駅前で会う", "志望動機を書く"], ["痙攣", "動悸"])
    outcome = s.outcome(base).sets[0]
    assert outcome.cer_increase == pytest.approx(25.0) and outcome.clips == 2
    low, high = outcome.cer_interval
    assert 0.0 < low <= 25.0 <= high  # both rows got worse: every resample is worse
    assert s.outcome(base).invented == 1 and s.outcome(base).swaps == 1
    assert s.outcome(None).sets[0].cer_increase is None


# ----------------------------------------------------------------------------- the stage


@pytest.fixture(scope="module")
def adapted_run(tiny_model, tmp_path_factory):
    """A run dir whose model/ is the tiny model with a perturbed decoder (encoder untouched)."""
    model, processor = tiny_model
    adapted = copy.deepcopy(model)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if name.startswith("model.decoder."):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    run = tmp_path_factory.mktemp("run")
    adapted.save_pretrained(run / "model")
    processor.save_pretrained(run / "model")
    adapted.generation_config.save_pretrained(run / "model")
    return run, adapted


def _recipe(base_dir: Path, batch_size: int = 8, **merge_cfg):
    return recipe_from_dict(
        {
            "model": {"base": str(base_dir)},
            "merge": merge_cfg,
            "evaluate": {"batch_size": batch_size, "max_new_tokens": 4},
        }
    )


def test_merge_fixed_alpha_writes_loadable_model(tiny_model, tiny_model_dir, adapted_run, tmp_path):
    from termadapt.models import resolve_model

    run, adapted = adapted_run
    base_model, _ = tiny_model
    out = merge(_recipe(tiny_model_dir), run, alpha=0.5, out_dir=tmp_path / "merged")
    info = json.loads((out / "merge.json").read_text())
    assert info["alpha"] == 0.5 and info["mode"] == "fixed" and info["encoder_shared"] is True
    merged, processor = resolve_model(str(out))
    sd, b, a = merged.state_dict(), base_model.state_dict(), adapted.state_dict()
    key = "model.decoder.layers.0.fc1.weight"
    assert torch.allclose(sd[key], (b[key] + a[key]) / 2, atol=1e-6)
    assert torch.equal(sd["model.encoder.layers.0.fc1.weight"], b["model.encoder.layers.0.fc1.weight"])
    assert merged.proj_out.weight.data_ptr() == merged.model.decoder.embed_tokens.weight.data_ptr()
    assert (out / "generation_config.json").is_file()
    assert processor.tokenizer.convert_tokens_to_ids("<|ja|>") == 50266


SENTENCES = [
    ("今日は痙攣があります", "term", ["痙攣"], "", 1),
    ("心電図を取りました", "term_context", ["心電図"], "", 1),
    ("駅前で友達に会った", "general", [], "", -1),
    ("志望動機を書きました", "homophone", [], "動悸", 1),
    ("明日は雨が降るそうです", "general", [], "", -1),
]


@pytest.fixture(scope="module")
def validation_dataset(adapted_run, ja_speech):
    from train_fixtures import save_dataset

    run, _ = adapted_run
    rows = [
        {
            "audio": ja_speech(text, speed=1.2),
            "text": text,
            "kind": kind,
            "terms": terms,
            "homophone_of": homo,
            "decides": decides,
            "utterance_id": f"u{i}",
        }
        for i, (text, kind, terms, homo, decides) in enumerate(SENTENCES)
    ]
    return save_dataset(run, {"validation": rows})


def test_merge_auto_writes_curve_and_reuses_cached_hyps(tiny_model_dir, validation_dataset, monkeypatch):
    run = validation_dataset
    recipe = _recipe(tiny_model_dir, alpha="auto", alpha_grid=[0.5, 1.0])
    calls = {"generate": 0, "encoder": 0}
    from transformers import WhisperForConditionalGeneration

    real_generate = WhisperForConditionalGeneration.generate

    def counting_generate(self, *args, **kwargs):
        calls["generate"] += 1
        assert "encoder_outputs" in kwargs and "input_features" not in kwargs  # encoder shared by every α
        return real_generate(self, *args, **kwargs)

    monkeypatch.setattr(WhisperForConditionalGeneration, "generate", counting_generate)
    out = merge(recipe, run)
    # 5 clips in one batch × 3 α (0, 0.5, 1)
    assert calls["generate"] == 3
    curve = json.loads((out / "merge_curve.json").read_text())
    assert [p["alpha"] for p in curve["points"]] == [0.5, 1.0]
    assert curve["base"]["alpha"] == 0.0 and curve["base"]["general_cer_increase"] == 0.0
    chosen = [p for p in curve["points"] if p["chosen"]]
    assert len(chosen) == 1 and chosen[0]["alpha"] == curve["chosen_alpha"]
    # the recorded numbers reproduce the choice under the documented rule
    points = [CurvePoint(**p) for p in curve["points"]]
    assert select_alpha(points, Budget.from_config(SimpleNamespace(**curve["budget"])))[0] == curve["chosen_alpha"]
    assert json.loads((out / "merge.json").read_text())["alpha"] == curve["chosen_alpha"]
    # one hypothesis file per α's weights in the run's one cache, every clip in each
    files = sorted((run / "hypotheses").glob("*.jsonl"))
    assert len(files) == 3 and all(len(f.read_text().splitlines()) == len(SENTENCES) for f in files)
    assert len(list((run / "encoder_cache").rglob("shard-*.safetensors"))) >= 1  # the frozen encoder's outputs, stored

    def no_generate(self, *args, **kwargs):
        raise AssertionError("rerun must use cached transcripts")

    monkeypatch.setattr(WhisperForConditionalGeneration, "generate", no_generate)
    again = merge(recipe, run)
    assert json.loads((again / "merge_curve.json").read_text()) == curve


def test_merge_auto_resumes_after_interruption(tiny_model_dir, validation_dataset, tmp_path, monkeypatch):
    from transformers import WhisperForConditionalGeneration

    run = validation_dataset
    recipe = _recipe(tiny_model_dir, batch_size=4, alpha="auto", alpha_grid=[0.5, 1.0])
    real_generate = WhisperForConditionalGeneration.generate
    calls = []

    def interrupted_generate(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # α = 0 done (2 batches), the first batch of α = 0.5, then Ctrl-C
            raise KeyboardInterrupt
        return real_generate(self, *args, **kwargs)

    monkeypatch.setattr(WhisperForConditionalGeneration, "generate", interrupted_generate)
    out = tmp_path / "merged"
    hyps = run / "hypotheses"
    shutil.rmtree(hyps, ignore_errors=True)
    with pytest.raises(KeyboardInterrupt):
        merge(recipe, run, out_dir=out)
    assert not (out / "merge.json").exists()
    assert sorted(len(f.read_text().splitlines()) for f in hyps.glob("*.jsonl")) == [4, 5]
    calls.clear()
    merge(recipe, run, out_dir=out)
    assert len(calls) == 3  # the second batch of α = 0.5, then α = 1 (2 batches)
    assert json.loads((out / "merge.json").read_text())["mode"] == "auto"


def test_merge_auto_without_dataset_is_one_line(tiny_model_dir, adapted_run, tmp_path):
    run, _ = adapted_run
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model").symlink_to(run / "model")
    with pytest.raises(TermadaptError, match=r"no dataset for merge --alpha auto — run `termadapt dataset RECIPE`"):
        merge(_recipe(tiny_model_dir, alpha="auto"), bare)


def test_merge_auto_needs_term_and_general_rows(tiny_model_dir, validation_dataset, tmp_path):
    import datasets

    dd = datasets.load_from_disk(str(validation_dataset / "dataset"))
    run = tmp_path / "run"
    val = dd["validation"]
    general_only = val.select([i for i, kind in enumerate(val["kind"]) if kind == "general"])
    datasets.DatasetDict(validation=general_only).save_to_disk(str(run / "dataset"))
    (run / "model").symlink_to(validation_dataset / "model")
    with pytest.raises(TermadaptError, match="no term sentences"):
        merge(_recipe(tiny_model_dir, alpha="auto"), run)


# ----------------------------------------------------------------------------- CLI


def test_cli_merge_model_dir(tiny_model_dir, adapted_run, tmp_path):
    from typer.testing import CliRunner

    from termadapt.cli import app

    run, _ = adapted_run
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["merge", str(run / "model"), "--base", str(tiny_model_dir), "--alpha", "0.25", "--out", str(tmp_path / "m")],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m" / "merge.json").read_text())["alpha"] == 0.25
    bad = runner.invoke(app, ["merge", str(run / "model"), "--base", str(tiny_model_dir), "--alpha", "2"])
    assert bad.exit_code == 1
    assert bad.output.strip().count("\n") == 0 and "[0, 1]" in bad.output
    nobase = runner.invoke(app, ["merge", str(run / "model"), "--alpha", "0.5"])
    assert nobase.exit_code == 1 and "--base" in nobase.output


def test_merge_auto_reuses_the_validation_transcripts_of_training(tiny_model_dir, tmp_path, ja_speech, monkeypatch):
    """α = 0 is the base model and α = 1 the best checkpoint: training decoded both on the same clips."""
    from train_fixtures import build_run_dir, tiny_recipe
    from transformers import WhisperForConditionalGeneration

    from termadapt.training import train

    run = build_run_dir(tmp_path / "run", ja_speech)
    recipe = tiny_recipe(tiny_model_dir, max_steps=2, eval_every_steps=2, early_stopping=True, patience=0)
    recipe = dataclasses.replace(recipe, merge=dataclasses.replace(recipe.merge, alpha="auto", alpha_grid=[0.5, 1.0]))
    train(recipe, run, progress=False)
    calls = []
    real_generate = WhisperForConditionalGeneration.generate

    def counting_generate(self, *args, **kwargs):
        calls.append(kwargs["encoder_outputs"].last_hidden_state.shape[0])
        return real_generate(self, *args, **kwargs)

    monkeypatch.setattr(WhisperForConditionalGeneration, "generate", counting_generate)
    out = merge(recipe, run)
    assert calls == [4]  # only α = 0.5: the 4 validation clips in one batch
    curve = json.loads((out / "merge_curve.json").read_text())
    log = json.loads((run / "model" / "training_log.json").read_text())
    adapted = next(p for p in curve["points"] if p["alpha"] == 1.0)
    assert curve["base"]["term_recall"] == log["base_validation"]["term_recall"]
    assert curve["base"]["general_cer"] == log["base_validation"]["general_cer"]
    best = next(c for c in log["validation_curve"] if c["step"] == log["best_step"])
    assert (adapted["term_recall"], adapted["general_cer"]) == (best["term_recall"], best["general_cer"])
