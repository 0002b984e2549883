"""The guards against forgetting: the table, replay batches, homophone balance, KL to the base."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from termadapt.config import Recipe, recipe_from_dict
from termadapt.errors import TermadaptError
from termadapt.training.guards import GUARDS, ReplayMixSampler, guard_named, homophone_repeats, kl_to_base


def test_every_guard_names_real_recipe_keys_and_can_be_turned_off():
    recipe = Recipe()
    assert [g.name for g in GUARDS] == [
        "frozen encoder",
        "replay",
        "homophone guard",
        "distillation",
        "early stopping",
        "merge",
    ]
    for guard in GUARDS:
        for key in guard.keys:
            section, name = key.split(".")
            assert hasattr(getattr(recipe, section), name), key
        off = recipe_from_dict({section: dict(settings) for section, settings in guard.off.items()})
        assert not guard.enabled(off), guard.name
    # the defaults turn every guard on except distillation (replay with true labels is the one that matters)
    assert [g.name for g in GUARDS if not g.enabled(recipe)] == ["distillation"]
    assert guard_named("replay").off == {"train": {"replay_ratio": 0.0}}


def test_kl_to_base_is_zero_for_the_base_itself_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(5, 11, generator=g)
    assert float(kl_to_base(base, base, 1.0)) == pytest.approx(0.0, abs=1e-7)
    other = base + torch.randn(5, 11, generator=g)
    assert float(kl_to_base(other, base, 2.0)) == pytest.approx(2 * float(kl_to_base(other, base, 1.0)))
    assert float(kl_to_base(other, base, 1.0)) > 0


def test_replay_sampler_mixes_every_batch_and_repeats_per_epoch():
    s = ReplayMixSampler(n_term=10, n_replay=7, batch_size=4, replay_ratio=0.5, seed=3)
    assert (s.n_term_per_batch, s.n_replay_per_batch, s.n_batches) == (2, 2, 5)
    s.set_epoch(0)
    e0 = list(s)
    assert len(e0) == len(s) == 20
    batches = [e0[i : i + 4] for i in range(0, 20, 4)]
    assert all(sum(i >= 10 for i in b) == 2 for b in batches)  # exactly half replay in every batch
    assert sorted(i for i in e0 if i < 10) == list(range(10))  # one pass over the term data
    assert list(s) == e0  # same epoch, same order (resume)
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0
    # Replay is drawn by cycling through the pool: 20 draws over 7 clips use all of them ~evenly.
    counts = Counter(i for i in e0 + e1 if i >= 10)
    assert set(counts) == set(range(10, 17)) and max(counts.values()) - min(counts.values()) <= 1
    # No replay pool: plain shuffled term batches.
    plain = ReplayMixSampler(5, 0, 2, 0.5)
    assert sorted(plain) == list(range(5))
    with pytest.raises(TermadaptError):
        ReplayMixSampler(0, 5, 4, 0.5)


def test_homophone_guard_rows_are_repeated_to_balance_their_term():
    rows = [{"kind": "term", "terms": ["蒸留"], "homophone_of": ""} for _ in range(12)]
    rows += [{"kind": "term_alone", "terms": ["汎化"], "homophone_of": ""}]
    rows += [{"kind": "homophone", "terms": [], "homophone_of": "蒸留"} for _ in range(3)]
    rows += [{"kind": "general", "terms": [], "homophone_of": ""}]
    reps = homophone_repeats(rows, balance=1.0)
    assert reps[:13] == [1] * 13 and reps[-1] == 1
    assert reps[13:16] == [4, 4, 4]  # 3 guard rows × 4 ≈ the 12 rows of 蒸留 itself
    assert homophone_repeats(rows, balance=0.5)[13:16] == [2, 2, 2]
    assert homophone_repeats(rows, balance=0.0) == [1] * len(rows)


def test_the_ablation_adds_the_guards_in_table_order():
    import importlib.util
    from pathlib import Path

    from termadapt.config import load_recipe

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("ablate_guards", root / "benchmarks" / "ablate_guards.py")
    ablate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablate)
    planned = ablate.variants(load_recipe(root / "recipes" / "quickstart-ja.toml"))
    assert [name for name, _ in planned] == ["frozen encoder", "+ replay", "+ homophone guard"]
    assert planned[0][1] == {"replay_ratio": 0.0, "homophone_guard": False, "distill": "none", "early_stopping": False}
    assert planned[-1][1] == {"distill": "none", "early_stopping": False}  # the recipe's run adds early stopping
