"""Choosing the merge weight α on the validation split, by the forgetting budget.

:func:`sweep` loads each α of ``merge.alpha_grid`` (and α = 0, the base model) into one
model — α on the outside, so the weights are interpolated once per α — and decodes the
validation split through the run's :class:`~termadapt.training.validation.Validator`:
the frozen encoder's stored outputs are reused by every α, and the transcripts of α = 0
and α = 1 are those training already cached (the base model and the best checkpoint).
:func:`select_alpha` then picks the α the :class:`~termadapt.scoring.budget.Budget` ranks
best — the one early stopping would have kept: the best term recall within the forgetting
limits, ties to the smaller α.

Reads: models and the validation split. Writes: the hypothesis cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TermadaptError
from ..scoring.budget import Budget, Outcome
from ..scoring.validation import ValidationScore
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
        qualifies: Whether the point is within the forgetting budget.
        chosen: Whether this α was picked.
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
    qualifies: bool = False
    chosen: bool = False
    reason: str = ""

    def outcome(self) -> Outcome:
        """The budget's view of this point: its validation score against the base model's CER."""
        score = ValidationScore(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ValidationScore)})
        return score.outcome(self.general_cer - self.general_cer_increase)


def curve_points(scores: Mapping[float, ValidationScore]) -> list[CurvePoint]:
    """One :class:`CurvePoint` per α, the CER increase taken against α = 0 (the base model)."""
    base_cer = scores[0.0].general_cer
    return [
        CurvePoint(alpha=a, general_cer_increase=s.general_cer - base_cer, **dataclasses.asdict(s))
        for a, s in sorted(scores.items())
    ]


def select_alpha(points: Sequence[CurvePoint], budget: Budget) -> tuple[float, str]:
    """Pick α from scored points (the base point, α = 0, may be among them but is not picked
    unless it is the only one).

    Rule (:meth:`~termadapt.scoring.budget.Budget.score`): among points within the forgetting
    limits (general CER increase, invented terms, swaps), the best term recall; ties go to
    the smaller α. If none qualifies: the point closest to the limits (smallest excess, then
    best recall), and the reason says the budget was not met. Marks ``qualifies``,
    ``chosen`` and ``reason`` on the points (in place).

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
        p.chosen = False
        p.reason = "within budget" if not over else "over budget: " + ", ".join(over)
    best = budget.best([(p, p.outcome()) for p in candidates], tie_key=lambda p: p.alpha)
    summary = (
        f"{best.term_recall:.1%}, general CER {best.general_cer_increase:+.2f} pt, {best.invented} invented, "
        f"{best.swaps} swaps"
    )
    reason = (
        f"best term recall within the forgetting budget ({summary})"
        if best.qualifies
        else f"no α met the forgetting budget; chose the one closest to it ({summary})"
    )
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
