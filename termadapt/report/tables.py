"""The report's tables, declared once for both renderers (report.md and report.html).

Each function returns ``(header, rows)`` of plain strings; the metric table itself comes
from :mod:`termadapt.scoring.table`. Reads a :class:`~termadapt.report.schema.Report`.
"""

from __future__ import annotations

from collections import Counter

from ..scoring.records import ClipChange
from ..scoring.table import pct
from ..scoring.terms import replaced_by, written_instead
from .schema import Report

__all__ = [
    "evaluated",
    "conditions",
    "terms",
    "confusion_counts",
    "confusions",
    "merge_curve",
    "regressions",
    "regression_cells",
    "over_triggers",
    "leaks",
]

Table = tuple[list[str], list[list[str]]]


def evaluated(report: Report) -> list[str]:
    """Conditions that were decoded (a missing model has no fingerprint)."""
    return [c.name for c in report.conditions if c.fingerprint]


def conditions(report: Report, prompt_text: bool = False) -> Table:
    """The compared conditions, their weights and shared encoders (with the prompt when asked)."""
    rows = []
    for c in report.conditions:
        note = c.note
        if not note and c.name == "prompt":
            note = f"{c.prompt_terms}/{c.prompt_terms_total} terms in the prompt" + (
                f": {c.prompt_text}" if prompt_text else ""
            )
        rows.append([c.name, c.model, c.fingerprint or "—", c.shares_encoder_with or "—", note])
    return ["condition", "model", "weights", "encoder shared with", "note"], rows


def terms(report: Report) -> Table:
    """Per-term hits per condition on the test_terms set, and swaps in the clips of its homophone sentences."""
    names = evaluated(report)
    rows = [
        [
            t.term,
            "、".join(t.homophones) or "—",
            str(t.total),
            *[f"{t.hits.get(c, 0)}/{t.total}" for c in names],
            str(t.neutral_total),
            " · ".join(f"{c} {t.swaps.get(c, 0)}/{t.homophone_clips}" for c in names) if t.homophone_clips else "—",
        ]
        for t in report.terms
    ]
    return ["term", "homophones", "clips", *names, "neutral clips", "swaps in its homophone clips"], rows


# Wrong spellings listed per term and condition (the rest are counted in "others").
CONFUSIONS_SHOWN = 3
LEFT_OUT = "(nothing)"  # the hypothesis has no text where the term was said


def confusion_counts(report: Report) -> dict[str, dict[str, Counter]]:
    """term → condition → Counter of what was written instead, over the terms set's clips."""
    terms_sets = {s.name for s in report.sets if s.role == "terms"}
    out: dict[str, dict[str, Counter]] = {}
    for u in report.utterances:
        if u.set not in terms_sets:
            continue
        for term in u.terms:
            for cond, hyp in u.hyps.items():
                wrote = written_instead(u.ref, hyp, term)
                if wrote is not None:
                    out.setdefault(term, {}).setdefault(cond, Counter())[wrote or LEFT_OUT] += 1
    return out


def _top(counter: Counter | None) -> str:
    if not counter:
        return "—"
    items = counter.most_common()
    shown = ", ".join(f"{w} ×{n}" for w, n in items[:CONFUSIONS_SHOWN])
    rest = sum(n for _, n in items[CONFUSIONS_SHOWN:])
    return shown + (f", others ×{rest}" if rest else "")


def confusions(report: Report) -> Table:
    """What each condition wrote where a term was said and missed: the most frequent first."""
    names = evaluated(report)
    counts = confusion_counts(report)
    order = [t.term for t in report.terms if t.term in counts] + sorted(set(counts) - {t.term for t in report.terms})
    rows = [[term, *[_top(counts[term].get(c)) for c in names]] for term in order]
    return ["term", *names], rows


def merge_curve(report: Report) -> Table:
    """The merge sweep: every recorded value per α, and the chosen one."""
    keys = sorted({k for p in report.merge_curve for k in p.values})
    rows = [
        [f"{p.alpha:g}", *[f"{p.values.get(k, float('nan')):.4g}" for k in keys], "✓" if p.chosen else ""]
        for p in report.merge_curve
    ]
    return ["α", *keys, "chosen"], rows


def regressions(report: Report, condition: str) -> list[ClipChange]:
    """A condition's clips worse than the base model's, the largest CER rise first."""
    return sorted(
        (c for c in report.changes if c.condition == condition and c.change == "regression"),
        key=lambda c: c.base_cer - c.cer,
    )


def regression_cells(r: ClipChange) -> list[str]:
    """Reference, both hypotheses, the CER change and the suspect flag of one regression."""
    return [r.ref, r.base_hyp, r.hyp, f"{pct(r.base_cer, 0)} → {pct(r.cer, 0)}", "yes" if r.suspect else ""]


def over_triggers(report: Report, limit: int) -> Table:
    """Terms written where the reference lacks them (invented terms, homophone swaps), with
    the words of the reference the term replaced."""
    rows = []
    for o in report.over_triggers[:limit]:
        said = replaced_by(o.ref, o.hyp, o.term)
        rows.append([o.set, o.condition, o.kind, o.term, (said or LEFT_OUT) if said is not None else "—", o.ref, o.hyp])
    return ["set", "condition", "kind", "term", "in place of", "reference", "hypothesis"], rows


def leaks(report: Report, limit: int) -> Table:
    """Training-template wording in hypotheses whose reference and base hypothesis lack it."""
    return (
        ["set", "condition", "leaked wording", "template", "reference", "hypothesis"],
        [[lk.set, lk.condition, lk.ngram, lk.template, lk.ref, lk.hyp] for lk in report.leaks[:limit]],
    )
