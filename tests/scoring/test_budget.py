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
