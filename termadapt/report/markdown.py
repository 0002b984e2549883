"""Markdown rendering of a :class:`~termadapt.report.schema.Report` (``report/report.md``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..scoring import table as metric_table
from . import tables
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
    out = [
        f"# termadapt report — {report.recipe}",
        "",
        f"Created {report.created} · schema v{report.schema_version} · run `{report.run_dir}`",
        "",
    ]
    out += summary(report) + [""]
    out += ["## Conditions", ""] + table(*tables.conditions(report))
    out += ["", "## Metrics per set and condition", ""]
    out += table(metric_table.header(), [metric_table.row(s, m) for s in report.sets for m in s.conditions])
    if report.terms:
        out += ["", "## Term recall per term (test_terms)", ""] + table(*tables.terms(report))
    header, rows = tables.confusions(report)
    if rows:
        out += ["", "## What the model wrote instead (missed terms, test_terms)", ""] + table(header, rows)
    if report.merge_curve:
        out += ["", "## Merge curve", ""] + table(*tables.merge_curve(report))
    for cond in [c for c in report.condition_names() if c != "base"]:
        regs = tables.regressions(report, cond)
        if regs:
            out += ["", f"## Regressions: {cond} ({len(regs)} clips worse than base)", ""]
            out += table(
                ["set", "clip", "reference", "base", cond, "CER base → now", "suspect"],
                [[r.set, r.clip_id, *tables.regression_cells(r)] for r in regs[:max_listed]],
            )
    if report.over_triggers:
        out += ["", "## Over-triggering (term written where the reference lacks it)", ""]
        out += table(*tables.over_triggers(report, max_listed))
    if report.leaks:
        out += ["", "## Template leakage", ""] + table(*tables.leaks(report, max_listed))
    out += ["", "## Machine and timing", ""]
    out += [
        f"- {k}: {v}"
        for k, v in {**report.machine, **{f"timing.{k}": f"{v:.3g}" for k, v in report.timing.items()}}.items()
    ]
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    out += ["", "Per-utterance hypotheses of every condition: `hypotheses.csv`; everything above: `report.json`.", ""]
    return "\n".join(out)
