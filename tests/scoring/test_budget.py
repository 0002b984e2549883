"""The one forgetting budget: the gate's checks and the ranking early stopping and the merge α use."""

from __future__ import annotations

import pytest

from termadapt.config import EvaluateConfig
from termadapt.scoring.budget import ADVICE, Budget, Outcome, SetOutcome

BUDGET = Budget(max_cer_increase=0.5, min_term_recall=0.95, max_invented=0, max_swaps=0)


def _val(recall: float, cer: float, invented: int = 0, swaps: int = 0) -> Outcome:
    return Outcome(sets=(SetOutcome("validation", recall=recall, cer_increase=cer),), invented=invented, swaps=swaps)


def test_from_config_reads_the_evaluate_table():
    cfg = EvaluateConfig(max_general_cer_increase=1.0, min_term_recall=0.9, max_invented_terms=2, max_homophone_swaps=1)
    budget = Budget.from_config(cfg)
    assert budget == Budget(1.0, 0.9, 2, 1)
    assert budget.as_dict() == {
        "max_general_cer_increase": 1.0,
        "min_term_recall": 0.9,
        "max_invented_terms": 2,
        "max_homophone_swaps": 1,
    }
    assert Budget.from_config(EvaluateConfig()) == BUDGET  # the defaults agree


def test_verdict_checks_every_set_then_over_triggering():
    outcome = Outcome(
        sets=(SetOutcome("test_terms", recall=0.857), SetOutcome("general", cer_increase=-0.64)), invented=0, swaps=1
    )
    result = BUDGET.verdict(outcome, "merged")
    assert [c.name for c in result.checks] == ["term_recall", "general_cer", "invented_terms", "homophone_swaps"]
    assert [c.ok for c in result.checks] == [False, True, True, False]
    assert not result.ok and result.condition == "merged"
    assert result.checks[0].message == "test_terms: term recall 85.7% without neutral homophone sentences (minimum 95%)"
    assert result.checks[1].message == "general: CER -0.64 points vs base (limit +0.5)"
    assert result.checks[3].message == "homophone sentences written with the term: 1 (at most 0)"
    assert result.advice == [ADVICE["term_recall"], ADVICE["homophone_swaps"]]
    # without a general set there is no over-triggering to judge
    assert [
        c.name for c in BUDGET.checks(Outcome(sets=(SetOutcome("t", recall=1.0),), over_triggering_scored=False))
    ] == ["term_recall"]


def test_score_puts_every_candidate_within_the_forgetting_limits_first():
    within_low = BUDGET.score(_val(recall=0.2, cer=0.5))  # at the limit: within
    within_high = BUDGET.score(_val(recall=0.9, cer=-1.0))
    outside = [
        BUDGET.score(_val(1.0, 0.51)),
        BUDGET.score(_val(1.0, 0.0, invented=1)),
        BUDGET.score(_val(1.0, 0.0, swaps=1)),
    ]
    assert within_high > within_low > max(outside)
    # outside the limits: the smaller excess wins, recall only breaks ties
    assert BUDGET.score(_val(0.1, 0.6)) > BUDGET.score(_val(1.0, 0.9))
    assert BUDGET.score(_val(0.9, 0.6)) > BUDGET.score(_val(0.1, 0.6))
    assert BUDGET.over_limits(_val(1.0, 0.9, invented=2)) == ["general CER +0.90 pt > 0.5", "2 invented > 0"]
    # the recall floor is the gate's, not the ranking's: a low-recall candidate is still within the limits
    assert BUDGET.within_forgetting_limits(_val(0.1, 0.0))


def test_best_breaks_ties_with_the_key():
    candidates = [("a", _val(0.9, 0.1)), ("b", _val(0.9, 0.3)), ("c", _val(0.8, 0.0))]
    assert BUDGET.best(candidates, tie_key=lambda name: {"a": 2, "b": 1, "c": 0}[name]) == "b"
    with pytest.raises(ValueError):
        BUDGET.best([])


def test_gate_is_not_verified_when_the_interval_reaches_past_the_limit():
    """Point estimate within +0.5 but the 95% interval reaches +1.4: kept, yet not verified."""
    from termadapt.scoring.budget import BROKEN, MET, NOT_VERIFIED

    budget = Budget(max_cer_increase=0.5)

    def gate(pts, interval, clips=100):
        return budget.verdict(
            Outcome((SetOutcome("general", cer_increase=pts, cer_interval=interval, clips=clips),)), "merged"
        )

    wide = gate(0.2, (-1.0, 1.4))
    (check,) = [c for c in wide.checks if c.name == "general_cer"]
    assert wide.ok and wide.status == NOT_VERIFIED and check.ok and check.verified is False
    assert check.clips_needed == 1600  # the upper half-width 1.2 must shrink to the 0.3 of room: (1.2 / 0.3)² × 100
    assert "[-1.00, +1.40] on 100 clips" in check.message
    assert any("about 1600 general clips" in a for a in wide.advice)
    narrow = gate(0.2, (-0.1, 0.45))
    assert narrow.status == MET and narrow.checks[0].verified is True and not narrow.advice
    assert gate(0.7, (0.1, 1.3)).status == BROKEN
    assert gate(0.2, None).status == MET  # no interval computed: judged on the point estimate alone
    assert gate(0.5, (-0.4, 1.4)).checks[0].clips_needed is None  # on the limit: no size resolves it


def test_clips_to_resolve_scales_with_the_square_of_the_half_width():
    from termadapt.scoring.intervals import clips_to_resolve

    assert clips_to_resolve(100, -1.0, 1.0, 0.0, 0.5) == 400  # half-width 1 → 0.5: four times the clips
    assert clips_to_resolve(100, -0.2, 0.4, 0.1, 0.5) is None  # already below the limit
    assert clips_to_resolve(100, 0.6, 1.4, 1.0, 0.5) is None  # already above it
    assert clips_to_resolve(100, 0.25, 1.0, 0.75, 0.5) == 400  # broken, but the interval reaches below the limit
