"""The metrics, declared once: what each column means, how it is computed, how it is shown.

Every metric of a (set, condition) pair is a row of :data:`METRICS`. The scorer
(:mod:`.evaluation`) fills each :class:`~.records.ConditionMetrics` field from the rows that
have a ``compute`` function (the counts that need the base model or produce lists —
term hits, over-triggering, regressions, leaks — are counted there and only shown here),
and the Markdown and HTML reports loop over the same rows for their metric table, so a new
metric is one field in :mod:`.records` and one row here.

Reads: hypotheses and references of one set and condition. Writes: nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import text
from .records import ConditionMetrics, EvalClip, SetMetrics

__all__ = ["Scored", "Metric", "METRICS", "pct", "pts", "count", "header", "row"]


def pct(value: float | None, digits: int = 1) -> str:
    """``0.123 → '12.3%'``; None → '—'."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def pts(value: float | None, digits: int = 2) -> str:
    """A CER difference (fraction) in signed percentage points."""
    return "—" if value is None else f"{value * 100:+.{digits}f}"


def count(hits: int, total: int) -> str:
    """``hits/total``, or '—' when nothing was counted."""
    return f"{hits}/{total}" if total else "—"


@dataclass(frozen=True)
class Scored:
    """What a metric sees: one condition's hypotheses on one evaluation set."""

    role: str  # "terms", "general" or "import" (:func:`.evaluation.set_role`)
    clips: Sequence[EvalClip]
    refs: Sequence[str]
    hyps: Sequence[str]
    suspect: Sequence[bool]  # TTS-suspect clips (flagged by the base model's reading CER)


@dataclass(frozen=True)
class Metric:
    """One metric column.

    Attributes:
        key: The :class:`~.records.ConditionMetrics` field it fills or shows.
        label: Column header in report.md and report.html.
        show: Cell text from the condition's metrics and the set's role.
        compute: The value from a :class:`Scored`; None when :mod:`.evaluation` counts it.
    """

    key: str
    label: str
    show: Callable[[ConditionMetrics, str], str]
    compute: Callable[[Scored], Any] | None = None


def _clean_cer(s: Scored) -> float | None:
    clean = [i for i in range(len(s.refs)) if not s.suspect[i]]
    return text.cer([s.refs[i] for i in clean], [s.hyps[i] for i in clean]) if clean else None


# A loop: the same n words (Sudachi), 1 ≤ n ≤ LOOP_MAX_WORDS, LOOP_REPEATS times in a row —
# the repetition fine-tuned Whisper falls into ("の痙攣の痙攣の痙攣…"); a reference with the
# same loop is not counted against the model.
LOOP_REPEATS = 3
LOOP_MAX_WORDS = 8


def _has_loop(sentence: str) -> bool:
    w = text.words(sentence)
    return any(
        all(w[i : i + n] == w[i + k * n : i + (k + 1) * n] for k in range(1, LOOP_REPEATS))
        for n in range(1, LOOP_MAX_WORDS + 1)
        for i in range(len(w) - LOOP_REPEATS * n + 1)
    )


def _repetition_rate(s: Scored) -> float | None:
    if not s.hyps:
        return None
    return sum(_has_loop(h) and not _has_loop(r) for r, h in zip(s.refs, s.hyps)) / len(s.hyps)


def _ci(m: ConditionMetrics, role: str) -> str:
    return f"[{pts(m.cer_delta_ci[0])}, {pts(m.cer_delta_ci[1])}]" if m.cer_delta_ci else "—"


def _general_only(show: Callable[[ConditionMetrics], str]) -> Callable[[ConditionMetrics, str], str]:
    return lambda m, role: "—" if role == "terms" else show(m)


METRICS: tuple[Metric, ...] = (
    Metric("clips", "clips", lambda m, role: str(m.clips)),
    Metric("cer", "CER", lambda m, role: pct(m.cer), lambda s: text.cer(s.refs, s.hyps)),
    Metric("cer_delta", "ΔCER pts", lambda m, role: pts(m.cer_delta)),
    Metric("cer_delta_ci", "95% CI", _ci),
    Metric(
        "reading_cer", "reading CER", lambda m, role: pct(m.reading_cer), lambda s: text.reading_cer(s.refs, s.hyps)
    ),
    Metric("wer", "WER", lambda m, role: pct(m.wer), lambda s: text.wer(s.refs, s.hyps)),
    Metric("cer_clean", "CER w/o suspects", lambda m, role: pct(m.cer_clean), _clean_cer),
    Metric("term_recall", "term recall", lambda m, role: pct(m.term_recall) if m.term_total else "—"),
    Metric("decides_hits", "decides", lambda m, role: count(m.decides_hits, m.decides_total)),
    Metric("neutral_hits", "neutral", lambda m, role: count(m.neutral_hits, m.neutral_total)),
    Metric("invented_terms", "invented", _general_only(lambda m: str(m.invented_terms))),
    Metric("homophone_swaps", "swaps", _general_only(lambda m: f"{m.homophone_swaps}/{m.homophone_clips}")),
    Metric("retention", "retention", lambda m, role: pct(m.retention)),
    Metric("regressions", "regressions", lambda m, role: str(m.regressions)),
    Metric("fixes", "fixes", lambda m, role: str(m.fixes)),
    Metric("leaks", "leaks", lambda m, role: str(m.leaks)),
    Metric("repetition_rate", "repetition", lambda m, role: pct(m.repetition_rate), _repetition_rate),
)


def header() -> list[str]:
    """The metric table's header: set, condition, then one column per metric."""
    return ["set", "condition", *(m.label for m in METRICS)]


def row(s: SetMetrics, m: ConditionMetrics) -> list[str]:
    """One row of the metric table."""
    return [s.name, m.condition, *(metric.show(m, s.role) for metric in METRICS)]
