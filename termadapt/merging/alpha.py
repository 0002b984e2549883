"""Choosing the merge weight α on the validation split, by the forgetting budget.

:func:`sweep` loads each α of ``merge.alpha_grid`` (and α = 0, the base model) into one
model — α on the outside, so the weights are interpolated once per α — and decodes the
validation split through the run's :class:`~termadapt.training.validation.Validator`:
the frozen encoder's stored outputs are reused by every α, and the transcripts of α = 0
and α = 1 are those training already cached (the base model and the best checkpoint).
:func:`select_alpha` then picks the α the :class:`~termadapt.scoring.budget.Budget` ranks
best — the one early stopping would have kept: the best term recall within the forgetting
limits, ties to the larger α (the model that keeps more of what training learned) — and,
with ``evaluate.evidence_trade``, an α with more recall wins over that pick when the clips
resolve its recall gain but not its extra forgetting. Each point carries the paired 95%
interval of its CER change against α = 0 on the same clips, so the curve says how firmly
the choice was made.

Reads: models and the validation split. Writes: the hypothesis cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TermadaptError
from ..scoring.budget import Budget, Outcome, SetOutcome
from ..scoring.validation import VALIDATION, ValidationScore, traded_over
from .interpolate import interpolate

__all__ = ["CurvePoint", "select_alpha", "sweep", "curve_points"]


@dataclass
class CurvePoint:
    """Validation scores of one α.

    Attributes:
        alpha: Weight of the adapted model (0 = base).
        term_recall: Share of expected term occurrences found, on term rows whose context
            decides the spelling (or is not a homophone case).
        term_hits: Term occurrences found (same rows).
        term_total: Term occurrences expected (same rows).
        neutral_recall: Recall on term rows whose context allows a homophone (reported apart;
            None when there are none).
        general_cer: Corpus CER on general and homophone rows, in percent.
        general_cer_increase: ``general_cer`` minus the base model's, in points.
        invented: General/homophone rows whose hypothesis contains a term their reference lacks.
        swaps: Homophone rows whose hypothesis writes the term instead of its homophone.
        general_rows: Rows scored for general CER.
        general_cer_low: Paired 95% interval of ``general_cer_increase`` (None: not computed).
        general_cer_high: Its upper end.
        qualifies: Whether the point is within the forgetting budget.
        chosen: Whether this α was picked.
        traded: Whether it was picked over the budget's ranking, for recall the clips resolve
            at extra forgetting they cannot (``evaluate.evidence_trade``).
        reason: Why it was (or was not) picked.
    """

    alpha: float
    term_recall: float
    term_hits: int
    term_total: int
    neutral_recall: float | None
    general_cer: float
    general_cer_increase: float
    invented: int
    swaps: int
    general_rows: int
    general_cer_low: float | None = None
    general_cer_high: float | None = None
    qualifies: bool = False
    chosen: bool = False
    traded: bool = False
    reason: str = ""

    def outcome(self) -> Outcome:
        """The budget's view of this point: its validation score against the base model's CER."""
        interval = None
        if self.general_cer_low is not None and self.general_cer_high is not None:
            interval = (self.general_cer_low, self.general_cer_high)
        rise = self.general_cer_increase if self.general_rows else None
        return Outcome(
            sets=(
                SetOutcome(
                    VALIDATION,
                    recall=self.term_recall,
                    cer_increase=rise,
                    cer_interval=interval,
                    clips=self.general_rows,
                ),
            ),
            invented=self.invented,
            swaps=self.swaps,
            over_triggering_scored=self.general_rows > 0,
        )


# ValidationScore fields a curve point keeps (the per-row errors stay out of merge_curve.json).
_POINT_FIELDS = tuple(f.name for f in dataclasses.fields(ValidationScore) if f.name in CurvePoint.__dataclass_fields__)


def curve_points(scores: Mapping[float, ValidationScore]) -> list[CurvePoint]:
    """One :class:`CurvePoint` per α, the CER increase and its paired interval taken against
    α = 0 (the base model) on the same clips."""
    base = scores[0.0]
    points = []
    for a, s in sorted(scores.items()):
        rise, ci = s.cer_change(base)
        points.append(
            CurvePoint(
                alpha=a,
                general_cer_increase=rise if rise is not None else 0.0,
                general_cer_low=ci[0] if ci else None,
                general_cer_high=ci[1] if ci else None,
                **{k: getattr(s, k) for k in _POINT_FIELDS},
            )
        )
    return points


def _summary(p: CurvePoint) -> str:
    interval = (
        f" [{p.general_cer_low:+.2f}, {p.general_cer_high:+.2f}]"
        if p.general_cer_low is not None and p.general_cer_high is not None
        else ""
    )
    return (
        f"{p.term_recall:.1%} ({p.term_hits}/{p.term_total}), general CER {p.general_cer_increase:+.2f} pt"
        f"{interval} on {p.general_rows} clips, {p.invented} invented, {p.swaps} swaps"
    )


def select_alpha(
    points: Sequence[CurvePoint], budget: Budget, scores: Mapping[float, ValidationScore] | None = None
) -> tuple[float, str]:
    """Pick α from scored points (the base point, α = 0, may be among them but is not picked
    unless it is the only one).

    Rule (:meth:`~termadapt.scoring.budget.Budget.score`): among points within the forgetting
    limits (general CER increase, invented terms, swaps), the best term recall; ties go to
    the larger α. If none qualifies: the point closest to the limits (smallest excess, then
    best recall), and the reason says the budget was not met. With ``scores`` (the per-clip
    validation scores of every α) the pick then gives way to an α with more recall that the
    evidence may keep (:meth:`~termadapt.scoring.budget.Budget.may_keep`) when its recall
    gain over the pick is resolved and its extra CER is not
    (:meth:`~termadapt.scoring.budget.Budget.trades`); among several, the most recall, ties
    to the larger α. Marks ``qualifies``, ``chosen`` and ``reason`` on the points (in place).

    Returns:
        ``(alpha, reason)``.
    """
    candidates = [p for p in points if p.alpha > 0.0] or list(points)
    if not candidates:
        raise TermadaptError(
            "merge: no α values to choose from — set merge.alpha_grid to a list such as [0.3, 0.5, 0.7, 1.0]"
        )
    for p in points:
        over = budget.over_limits(p.outcome())
        p.qualifies = not over
        p.chosen = p.traded = False
        p.reason = "within budget" if not over else "over budget: " + ", ".join(over)
    best = budget.best([(p, p.outcome()) for p in candidates], tie_key=lambda p: -p.alpha)
    reason = (
        f"best term recall within the forgetting budget ({_summary(best)})"
        if best.qualifies
        else f"no α met the forgetting budget; chose the one closest to it ({_summary(best)})"
    )
    if scores is not None:
        traded = []
        for p in candidates:
            won = traded_over(scores[p.alpha], scores[best.alpha], scores.get(0.0), budget)
            if won:
                traded.append((p, *won))
        if traded:
            p, gain, cost, flags, from_base = max(traded, key=lambda t: (t[0].term_recall, t[0].alpha))
            extra = p.general_cer - (scores[0.0].general_cer if from_base else best.general_cer)
            over = " over the base model" if from_base else ""
            more = (p.invented + p.swaps) - (best.invented + best.swaps)
            also = (
                f" and {more} more over-triggering clip{'s' if more != 1 else ''} [{flags[0]:+.1%}, {flags[1]:+.1%}]"
                if more > 0
                else ""
            )
            reason = (
                f"more term recall than α {best.alpha:g} ({reason}) by {p.term_recall - best.term_recall:+.1%} "
                f"[{gain[0]:+.1%}, {gain[1]:+.1%}], at {extra:+.2f} pt general CER{over} [{cost[0]:+.2f}, {cost[1]:+.2f}]"
                f"{also} that these clips cannot resolve: recall is given up only for forgetting the evidence "
                f"shows ({_summary(p)})"
            )
            best = p
            best.traded = True
    best.chosen = True
    best.reason = reason
    return best.alpha, reason


def sweep(
    validator: Any,
    model: Any,
    base_sub: Mapping[str, Any],
    adapted_sub: Mapping[str, Any],
    alphas: Sequence[float],
    progress: Callable[[int], None] | None = None,
) -> dict[float, ValidationScore]:
    """Score ``model`` on the validation split at every α (see the module docstring).

    Args:
        validator: The run's :class:`~termadapt.training.validation.Validator`.
        model: The adapted model; its tensors named in ``adapted_sub`` are replaced per α.
        base_sub: The base model's values of the tensors that differ.
        adapted_sub: The adapted model's values of the same tensors.
        alphas: The α values (0 = base, 1 = adapted).
        progress: Called with the number of clips finished.
    """
    import torch

    scores: dict[float, ValidationScore] = {}
    for a in alphas:
        with torch.no_grad():
            result = model.load_state_dict(interpolate(base_sub, adapted_sub, a), strict=False)
        if result.unexpected_keys:  # cannot happen with keys taken from this model
            raise RuntimeError(f"merge: unexpected keys {result.unexpected_keys[:3]}")
        scores[float(a)] = validator.measure(model, progress)
    return scores
