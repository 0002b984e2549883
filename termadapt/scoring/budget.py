"""The forgetting budget: one object for early stopping, the merge α and the final gate.

The recipe's ``[evaluate]`` table sets four limits: general CER may rise at most
``max_general_cer_increase`` points over the base model, held-out term recall must reach
``min_term_recall``, and at most ``max_invented_terms`` general clips may contain a term and
``max_homophone_swaps`` homophone sentences be written with it. :class:`Budget` applies them
to an :class:`Outcome` (what one model did on one or more scored sets):

- :meth:`Budget.verdict` is the final gate on the delivered model (``termadapt evaluate``
  exits 3 when it fails). Its status is ``met``, ``broken`` or ``not verified``: every
  point estimate within the limits, but the 95% interval of a CER change reaches above its
  limit — the set is too small to show the budget is kept (the check says about how many
  clips would);
- :meth:`Budget.score` ranks candidates — early-stopping checkpoints and merge weights α —
  by the same limits: a candidate within the forgetting limits (CER, invented terms,
  swaps) always beats one outside them; within them, higher term recall wins; outside
  them, the smaller excess over the limits wins. So the checkpoint training keeps, the α
  the merge picks and the gate agree on what "within budget" means.

Reads: outcomes. Writes: nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from .intervals import clips_to_resolve

__all__ = [
    "ADVICE",
    "BROKEN",
    "DELIVERED",
    "MET",
    "NOT_VERIFIED",
    "Budget",
    "BudgetCheck",
    "BudgetResult",
    "Outcome",
    "SetOutcome",
    "delivered_condition",
]

# The condition the gate judges and termadapt delivers: the merged model when there is one,
# else the adapted one.
DELIVERED = ("merged", "adapted")
# Statuses of the gate (BudgetResult.status).
MET, NOT_VERIFIED, BROKEN = "met", "not verified", "broken"
# Tolerance on the CER limit: a difference of rounding is not a broken budget.
CER_EPSILON = 1e-9
# Weight of term recall among candidates outside the forgetting limits: it only breaks ties
# of equal excess, and keeps every such score below any score within the limits (≥ 1).
OUTSIDE_RECALL_WEIGHT = 0.01

ADVICE = {
    "general_cer": "General CER rose: add more replay (raise train.replay_ratio, give sentences.general_sentences more "
    "sentences), train fewer epochs, or lower the merge α (merge.alpha).",
    "term_recall": "Terms are still missed: add more templates (sentences.templates_per_term, more template files) or "
    "more training voices (synth.train_voices), train longer (train.epochs), or raise the merge α.",
    "invented_terms": "The model writes terms into ordinary speech: add more replay (train.replay_ratio) or lower the "
    "merge α (merge.alpha).",
    "homophone_swaps": "Homophones are turned into the term: keep sentences.include_homophones and "
    "train.homophone_guard on, add more replay, or lower the merge α.",
}


def delivered_condition(conditions: Sequence[str]) -> str:
    """The delivered condition among ``conditions`` (:data:`DELIVERED`), or "" when neither was evaluated."""
    return next((c for c in DELIVERED if c in conditions), "")


@dataclass
class BudgetCheck:
    """One forgetting-budget rule applied to the delivered condition.

    Attributes:
        ok: The point estimate is within the limit.
        low, high: 95% interval of ``value`` (general CER checks with an interval; else None).
        verified: For a passing CER check with an interval: whether all of it is within the
            limit (None: no interval, or not a CER check).
        clips_needed: About how many clips would resolve the limit (None: resolved, or unknown).
    """

    name: str
    condition: str
    set: str
    value: float
    limit: float
    ok: bool
    message: str
    advice: str = ""
    low: Optional[float] = None
    high: Optional[float] = None
    verified: Optional[bool] = None
    clips_needed: Optional[int] = None


@dataclass
class BudgetResult:
    """The verdict: ok when every check passed (or nothing to check); see :attr:`status`."""

    ok: bool
    condition: str = ""
    checks: list[BudgetCheck] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``broken`` (a limit broken), ``not verified`` (kept on point estimates, but an
        interval reaches past a limit) or ``met``."""
        if not self.ok:
            return BROKEN
        return NOT_VERIFIED if any(c.verified is False for c in self.checks) else MET


@dataclass(frozen=True)
class SetOutcome:
    """One scored set of an outcome.

    Attributes:
        name: Set name (``validation``, ``test_terms``, ``general``, ``import_*``).
        recall: Term recall without neutral homophone sentences (None: no term clips scored).
        cer_increase: General CER minus the base model's, in points (None: not scored).
        cer_interval: Paired 95% interval of ``cer_increase``, in points (None: not computed).
        clips: General clips behind ``cer_increase``.
    """

    name: str
    recall: Optional[float] = None
    cer_increase: Optional[float] = None
    cer_interval: Optional[tuple[float, float]] = None
    clips: int = 0


@dataclass(frozen=True)
class Outcome:
    """What one model did: per-set recall and CER change, and its over-triggering in total."""

    sets: tuple[SetOutcome, ...]
    invented: int = 0
    swaps: int = 0
    over_triggering_scored: bool = True  # False when no general clip was scored

    @property
    def recall(self) -> float:
        """The lowest term recall of the sets (1.0 when no set scored any)."""
        values = [s.recall for s in self.sets if s.recall is not None]
        return min(values) if values else 1.0


@dataclass(frozen=True)
class Budget:
    """The four limits of ``[evaluate]`` (see the module docstring)."""

    max_cer_increase: float = 0.5
    min_term_recall: float = 0.95
    max_invented: int = 0
    max_swaps: int = 0

    @classmethod
    def from_config(cls, cfg: Any) -> Budget:
        """The budget of a recipe's ``[evaluate]`` table."""
        return cls(
            float(cfg.max_general_cer_increase),
            float(cfg.min_term_recall),
            int(cfg.max_invented_terms),
            int(cfg.max_homophone_swaps),
        )

    def as_dict(self) -> dict[str, float]:
        """The limits under their recipe names (for reports and ``merge_curve.json``)."""
        return {
            "max_general_cer_increase": self.max_cer_increase,
            "min_term_recall": self.min_term_recall,
            "max_invented_terms": self.max_invented,
            "max_homophone_swaps": self.max_swaps,
        }

    # ----------------------------------------------------------------------------- checks

    def checks(self, outcome: Outcome, condition: str = "") -> list[BudgetCheck]:
        """Every rule applied to ``outcome``, set by set, then over-triggering in total."""
        out: list[BudgetCheck] = []
        for s in outcome.sets:
            if s.cer_increase is not None:
                out.append(self._cer_check(s, condition))
            if s.recall is not None:
                ok = s.recall >= self.min_term_recall
                out.append(
                    BudgetCheck(
                        name="term_recall",
                        condition=condition,
                        set=s.name,
                        value=s.recall,
                        limit=self.min_term_recall,
                        ok=ok,
                        message=f"{s.name}: term recall {s.recall:.1%} without neutral homophone sentences "
                        f"(minimum {self.min_term_recall:.0%})",
                        advice="" if ok else ADVICE["term_recall"],
                    )
                )
        if outcome.over_triggering_scored:
            for name, value, limit, what in (
                ("invented_terms", outcome.invented, self.max_invented, "general clips with an invented term"),
                ("homophone_swaps", outcome.swaps, self.max_swaps, "homophone sentences written with the term"),
            ):
                ok = value <= limit
                out.append(
                    BudgetCheck(
                        name=name,
                        condition=condition,
                        set="general",
                        value=float(value),
                        limit=float(limit),
                        ok=ok,
                        message=f"{what}: {value} (at most {limit})",
                        advice="" if ok else ADVICE[name],
                    )
                )
        return out

    def _cer_check(self, s: SetOutcome, condition: str) -> BudgetCheck:
        pts, limit = s.cer_increase, self.max_cer_increase
        ok = pts <= limit + CER_EPSILON
        message = f"{s.name}: CER {pts:+.2f} points vs base (limit +{limit:g})"
        low = high = verified = needed = None
        advice = "" if ok else ADVICE["general_cer"]
        if s.cer_interval is not None:
            low, high = (float(v) for v in s.cer_interval)
            message += f", 95% interval [{low:+.2f}, {high:+.2f}] on {s.clips} clips"
            needed = clips_to_resolve(s.clips, low, high, pts, limit)
            if ok:
                verified = high <= limit + CER_EPSILON
                if not verified:
                    more = f"about {needed} general clips would" if needed else "more general clips would"
                    advice = (
                        f"{s.name}: the CER change is within the limit but its interval reaches +{high:.2f}: "
                        f"{s.clips} clips cannot show the budget is kept; {more} (sentences.max_general_test, "
                        "dataset.eval_imports)."
                    )
        return BudgetCheck(
            name="general_cer",
            condition=condition,
            set=s.name,
            value=pts,
            limit=limit,
            ok=ok,
            message=message,
            advice=advice,
            low=low,
            high=high,
            verified=verified,
            clips_needed=needed,
        )

    def verdict(self, outcome: Outcome, condition: str) -> BudgetResult:
        """The final gate on the delivered condition: ok when every check passes."""
        checks = self.checks(outcome, condition)
        advice = list(dict.fromkeys(c.advice for c in checks if c.advice and (not c.ok or c.verified is False)))
        return BudgetResult(ok=all(c.ok for c in checks), condition=condition, checks=checks, advice=advice)

    def over_limits(self, outcome: Outcome) -> list[str]:
        """The forgetting limits (CER, invented, swaps) ``outcome`` breaks, as short phrases."""
        return [self._phrase(c) for c in self.checks(outcome) if not c.ok and c.name != "term_recall"]

    @staticmethod
    def _phrase(check: BudgetCheck) -> str:
        if check.name == "general_cer":
            return f"general CER {check.value:+.2f} pt > {check.limit:g}"
        what = "invented" if check.name == "invented_terms" else "swaps"
        return f"{check.value:g} {what} > {check.limit:g}"

    # ----------------------------------------------------------------------------- ranking

    def within_forgetting_limits(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` keeps the CER, invented-term and swap limits (recall aside)."""
        return not self.over_limits(outcome)

    def score(self, outcome: Outcome) -> float:
        """One number ranking candidates by the budget (higher is better).

        ``1 + recall`` (in [1, 2]) within the forgetting limits; outside them, minus the excess
        over the limits (CER points plus surplus invented terms and swaps) plus a tie-breaking
        ``0.01 · recall`` (always below 1).
        """
        if self.within_forgetting_limits(outcome):
            return 1.0 + outcome.recall
        excess = sum(
            max(0.0, s.cer_increase - self.max_cer_increase) for s in outcome.sets if s.cer_increase is not None
        )
        if outcome.over_triggering_scored:
            excess += max(0, outcome.invented - self.max_invented) + max(0, outcome.swaps - self.max_swaps)
        return -excess + OUTSIDE_RECALL_WEIGHT * outcome.recall

    def may_keep(self, outcome: Outcome, over_triggering_change: Optional[tuple[float, float]] = None) -> bool:
        """Whether the evidence leaves ``outcome`` possibly within the forgetting limits.

        No CER change whose interval lies wholly above its limit (without an interval, its
        point estimate decides), and invented terms and swaps within their limits — or, over
        them, an ``over_triggering_change`` (paired 95% interval of the share of over-triggering
        clips minus the base model's) that reaches 0: a clip or two the clips cannot resolve.
        """
        counts_over = outcome.over_triggering_scored and (
            outcome.invented > self.max_invented or outcome.swaps > self.max_swaps
        )
        if counts_over and (over_triggering_change is None or over_triggering_change[0] > 0.0):
            return False
        for s in outcome.sets:
            if s.cer_increase is None:
                continue
            low = s.cer_interval[0] if s.cer_interval is not None else s.cer_increase
            if low > self.max_cer_increase + CER_EPSILON:
                return False
        return True

    @staticmethod
    def trades(
        recall_gain: Optional[tuple[float, float]],
        cer_cost: Optional[tuple[float, float]],
        over_triggering_cost: Optional[tuple[float, float]] = None,
    ) -> bool:
        """Whether a candidate with more recall than the ranked pick should win instead.

        Args:
            recall_gain: Paired 95% interval of its term recall minus the pick's.
            cer_cost: Paired 95% interval of its general CER minus the pick's (the base
                model's when the pick is below the base), in points.
            over_triggering_cost: Paired 95% interval of its share of general clips with an
                invented term or a swap minus the pick's (None: not compared).

        Returns:
            True when the gain is resolved (interval above 0) and no cost is (each interval
            reaching 0): the clips show the recall and cannot show the forgetting. Without
            the recall and CER intervals, False (point estimates decide).
        """
        if recall_gain is None or cer_cost is None:
            return False
        costs_unresolved = cer_cost[0] <= 0.0 and (over_triggering_cost is None or over_triggering_cost[0] <= 0.0)
        return recall_gain[0] > 0.0 and costs_unresolved

    def best(self, candidates: Sequence[tuple[Any, Outcome]], tie_key: Any = None) -> Any:
        """The candidate with the highest :meth:`score`; ties go to the smallest ``tie_key(candidate)``."""
        if not candidates:
            raise ValueError("no candidates to choose from")
        return min(candidates, key=lambda c: (-self.score(c[1]), tie_key(c[0]) if tie_key else 0))[0]
