"""Markdown rendering of a :class:`~termadapt.report.schema.Report` (``report/report.md``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..scoring import table as metric_table
from ..scoring.table import pct
from .schema import Report
from .summary import summary

__all__ = ["render_markdown", "table"]


def _esc(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report, max_listed: int = 50) -> str:
    """The whole report as Markdown."""
    names = report.condition_names()
    evaluated = [c.name for c in report.conditions if c.fingerprint]
    out = [
        f"# termadapt report — {report.recipe}",
        "",
        f"Created {report.created} · schema v{report.schema_version} · run `{report.run_dir}`",
        "",
    ]
    out += summary(report) + [""]
    out += ["## Conditions", ""]
    out += table(
        ["condition", "model", "weights", "encoder shared with", "note"],
        [
            [
                c.name,
                c.model,
                c.fingerprint or "—",
                c.shares_encoder_with or "—",
                c.note
                or (f"{c.prompt_terms}/{c.prompt_terms_total} terms in the prompt" if c.name == "prompt" else ""),
            ]
            for c in report.conditions
        ],
    )
    out += ["", "## Metrics per set and condition", ""]
    out += table(metric_table.header(), [metric_table.row(s, m) for s in report.sets for m in s.conditions])
    if report.terms:
        out += ["", "## Term recall per term (test_terms)", ""]
        out += table(
            ["term", "homophones", "clips", *[f"{c}" for c in evaluated], "neutral clips"],
            [
                [
                    t.term,
                    "、".join(t.homophones) or "—",
                    t.total,
                    *[f"{t.hits.get(c, 0)}/{t.total}" for c in evaluated],
                    t.neutral_total,
                ]
                for t in report.terms
            ],
        )
    if report.merge_curve:
        keys = sorted({k for p in report.merge_curve for k in p.values})
        out += ["", "## Merge curve", ""]
        out += table(
            ["α", *keys, "chosen"],
            [
                [f"{p.alpha:g}", *[f"{p.values.get(k, float('nan')):.4g}" for k in keys], "✓" if p.chosen else ""]
                for p in report.merge_curve
            ],
        )
    for cond in [c for c in names if c != "base"]:
        regs = sorted(
            (c for c in report.changes if c.condition == cond and c.change == "regression"),
            key=lambda c: c.base_cer - c.cer,
        )
        if not regs:
            continue
        out += ["", f"## Regressions: {cond} ({len(regs)} clips worse than base)", ""]
        out += table(
            ["set", "clip", "reference", "base", cond, "CER base → now", "suspect"],
            [
                [
                    r.set,
                    r.clip_id,
                    r.ref,
                    r.base_hyp,
                    r.hyp,
                    f"{pct(r.base_cer, 0)} → {pct(r.cer, 0)}",
                    "yes" if r.suspect else "",
                ]
                for r in regs[:max_listed]
            ],
        )
    if report.over_triggers:
        out += ["", "## Over-triggering (term written where the reference lacks it)", ""]
        out += table(
            ["set", "condition", "kind", "term", "reference", "hypothesis"],
            [[o.set, o.condition, o.kind, o.term, o.ref, o.hyp] for o in report.over_triggers[:max_listed]],
        )
    if report.leaks:
        out += ["", "## Template leakage", ""]
        out += table(
            ["set", "condition", "leaked wording", "template", "reference", "hypothesis"],
            [[lk.set, lk.condition, lk.ngram, lk.template, lk.ref, lk.hyp] for lk in report.leaks[:max_listed]],
        )
    out += ["", "## Machine and timing", ""]
    out += [
        f"- {k}: {v}"
        for k, v in {**report.machine, **{f"timing.{k}": f"{v:.3g}" for k, v in report.timing.items()}}.items()
    ]
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    out += ["", "Per-utterance hypotheses of every condition: `hypotheses.csv`; everything above: `report.json`.", ""]
    return "\n".join(out)
