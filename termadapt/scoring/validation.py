"""Scoring of the validation split, for the decisions made on it (early stopping, the merge α).

The validation split holds term sentences and general sentences spoken by held-out voices
(docs/design.md, "Decisions and their evidence"). :func:`score_validation` counts what the
evaluation counts — term recall without neutral homophone sentences, general CER, invented
terms and homophone swaps, through :mod:`.terms` — and :meth:`ValidationScore.outcome`
hands it to the :class:`~.budget.Budget` as an :class:`~.budget.Outcome`, with the CER change
against the base model's score on the same clips and its paired 95% interval (the evidence
each decision is made with). :func:`traded_over` compares two candidates on the same clips —
recall gain, extra CER, extra over-triggering, each with its paired interval — for the
evidence trade both decisions make (``evaluate.evidence_trade``).

Reads: validation rows and their hypotheses. Writes: nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .budget import Budget, Outcome, SetOutcome
from .intervals import paired_bootstrap_ci
from .terms import GENERAL_KINDS, INVENTED, SWAP, TERM_KINDS, counts_for_budget, over_triggers, term_recall
from .text import cer, char_errors

__all__ = ["VALIDATION", "ValidationScore", "score_validation", "traded_over"]

VALIDATION = "validation"


@dataclass(frozen=True)
class ValidationScore:
    """What a model did on the validation split.

    Attributes:
        term_recall: Share of expected term occurrences found, on term rows whose context
            decides the spelling (or that have no homophone); on the neutral rows when
            there are no others.
        term_hits: Term occurrences found (same rows).
        term_total: Term occurrences expected (same rows).
        neutral_recall: Recall on term rows whose context allows a homophone (None: none).
        general_cer: Corpus CER on general and homophone rows, in percent.
        invented: General rows whose hypothesis contains a term their reference lacks.
        swaps: Homophone rows whose hypothesis writes the term instead of its homophone.
        general_rows: Rows scored for general CER.
        general_errors: Character errors per general row (for paired comparisons).
        general_chars: Reference characters per general row.
        term_row_hits: Term occurrences found per recall row (the rows behind ``term_recall``,
            in order; for paired comparisons of recall).
        term_row_totals: Term occurrences expected per recall row.
        general_flags: Per general row, 1 when it has an invented term or a homophone swap
            (for paired comparisons of over-triggering).
    """

    term_recall: float
    term_hits: int
    term_total: int
    neutral_recall: float | None
    general_cer: float
    invented: int
    swaps: int
    general_rows: int
    general_errors: tuple[int, ...] = ()
    general_chars: tuple[int, ...] = ()
    term_row_hits: tuple[int, ...] = ()
    term_row_totals: tuple[int, ...] = ()
    general_flags: tuple[int, ...] = ()

    def cer_change(self, base: ValidationScore | None) -> tuple[float | None, tuple[float, float] | None]:
        """(CER rise over ``base`` in points, its paired 95% interval) — None without a base or rows.

        The interval needs both scores' per-row errors on the same rows (else None).
        """
        if base is None or not self.general_rows:
            return None, None
        return self.general_cer - base.general_cer, self.cer_change_over(base)

    def cer_change_over(self, other: ValidationScore) -> tuple[float, float] | None:
        """Paired 95% interval of this score's general CER minus ``other``'s, in points (None:
        no per-row errors on the same rows)."""
        same_rows = len(self.general_errors) == len(other.general_errors) == self.general_rows > 0
        if not same_rows or self.general_chars != other.general_chars:
            return None
        ci = paired_bootstrap_ci(other.general_errors, self.general_errors, self.general_chars)
        return (100.0 * ci[0], 100.0 * ci[1]) if ci else None

    def recall_gain_over(self, other: ValidationScore) -> tuple[float, float] | None:
        """Paired 95% interval of this score's term recall minus ``other``'s, as a fraction
        (None: not the same rows)."""
        if not self.term_row_totals or self.term_row_totals != other.term_row_totals:
            return None
        ci = paired_bootstrap_ci(other.term_row_hits, self.term_row_hits, self.term_row_totals)
        return (ci[0], ci[1]) if ci else None

    def flag_change_over(self, other: ValidationScore) -> tuple[float, float] | None:
        """Paired 95% interval of this score's share of over-triggering general rows (invented
        terms, swaps) minus ``other``'s (None: not the same rows)."""
        if not self.general_flags or len(self.general_flags) != len(other.general_flags):
            return None
        ci = paired_bootstrap_ci(other.general_flags, self.general_flags, (1,) * len(self.general_flags))
        return (ci[0], ci[1]) if ci else None

    def outcome(self, base: ValidationScore | None) -> Outcome:
        """The budget's view: recall, the CER rise over ``base`` (with its interval), over-triggering."""
        rise, ci = self.cer_change(base)
        return Outcome(
            sets=(
                SetOutcome(
                    VALIDATION, recall=self.term_recall, cer_increase=rise, cer_interval=ci, clips=self.general_rows
                ),
            ),
            invented=self.invented,
            swaps=self.swaps,
            over_triggering_scored=self.general_rows > 0,
        )


def traded_over(
    candidate: ValidationScore, pick: ValidationScore, base: ValidationScore | None, budget: Budget
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float], bool] | None:
    """Whether ``candidate`` wins over the budget's ``pick`` on evidence (:meth:`Budget.trades`).

    It must have more term recall, nothing the clips resolve over the limits against ``base``
    (:meth:`Budget.may_keep`), a resolved recall gain over the pick, and neither extra CER nor
    extra over-triggering over the pick that the clips resolve. Forgetting is CER *above the
    base model's*: where the pick's general CER is below the base's, handing that improvement
    back is no forgetting, so the candidate's extra CER is measured from the base instead (on
    the untuned glossary the pick α 0.3 was 1.7 points below the base, and every α that had
    learned the terms looked resolvably worse than it while none was resolvably worse than
    the base).

    Returns:
        ``(recall gain, CER cost in points, over-triggering cost, from_base)`` intervals when
        it wins — ``from_base`` True when the CER cost is measured from the base model rather
        than the pick — else None.
    """
    if candidate.term_recall <= pick.term_recall:
        return None
    flags_vs_base = candidate.flag_change_over(base) if base is not None else None
    if not budget.may_keep(candidate.outcome(base), flags_vs_base):
        return None
    from_base = base is not None and pick.general_cer < base.general_cer
    gain, cost = candidate.recall_gain_over(pick), candidate.cer_change_over(base if from_base else pick)
    flags = candidate.flag_change_over(pick)
    if gain is None or cost is None or flags is None or not budget.trades(gain, cost, flags):
        return None
    return gain, cost, flags, from_base


def score_validation(
    rows: Sequence[Mapping[str, Any]],
    hyps: Sequence[str],
    terms: Sequence[str],
    homophones: Mapping[str, Sequence[str]] | None = None,
) -> ValidationScore:
    """Score validation transcripts.

    Args:
        rows: Dataset rows (``text``, ``kind``, ``terms``, ``homophone_of``, ``decides``).
        hyps: One hypothesis per row.
        terms: Every dictionary term (targets), for over-triggering.
        homophones: ``term -> its known homophones``: a general row saying one is a
            homophone sentence of that term (:func:`~.terms.homophone_sentence_of`).
    """
    decided, neutral = [], []
    refs, gen_hyps, errors, chars = [], [], [], []
    invented = swaps = 0
    flags = []
    for row, hyp in zip(rows, hyps, strict=True):
        kind = row["kind"]
        if kind in TERM_KINDS:
            (decided if counts_for_budget(row.get("decides", -1)) else neutral).append((hyp, list(row["terms"])))
        elif kind in GENERAL_KINDS:
            refs.append(row["text"])
            gen_hyps.append(hyp)
            e, n = char_errors(row["text"], hyp)
            errors.append(e)
            chars.append(n)
            found = {
                k for _, k in over_triggers(hyp, row["text"], terms, kind, row.get("homophone_of") or "", homophones)
            }
            invented += INVENTED in found
            swaps += SWAP in found
            flags.append(int(INVENTED in found or SWAP in found))
    recall_rows = decided or neutral  # only neutral rows: score them rather than nothing
    rec = term_recall(recall_rows)
    per_row = [term_recall([item]) for item in recall_rows]
    neu = term_recall(neutral)
    return ValidationScore(
        term_recall=rec.recall,
        term_hits=rec.hits,
        term_total=rec.total,
        neutral_recall=neu.recall if neu.total else None,
        general_cer=100.0 * cer(refs, gen_hyps),
        invented=invented,
        swaps=swaps,
        general_rows=len(refs),
        general_errors=tuple(errors),
        general_chars=tuple(chars),
        term_row_hits=tuple(r.hits for r in per_row),
        term_row_totals=tuple(r.total for r in per_row),
        general_flags=tuple(flags),
    )
