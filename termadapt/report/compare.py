"""``termadapt compare``: the delivered model of several runs, side by side.

For each run directory it reads ``report/report.json`` and ``config.resolved.toml`` and
shows the condition the budget judged (merged, else adapted): budget term recall, the CER
change of each general set with its 95% interval, invented terms, homophone swaps, the
verdict; then per-term recall, and the recipe keys whose values differ between the runs
(what was changed to get there). Printed as Markdown, and written as ``compare.md`` and
``compare.html`` when asked.

Reads: ``<run>/report/report.json``, ``<run>/config.resolved.toml``. Writes: nothing, or
``<out>/compare.md`` and ``<out>/compare.html``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TermadaptError
from ..records import REPORT_DIR, RESOLVED_RECIPE, atomic_write_text
from ..scoring.table import pct, pts
from .schema import Report, load_report
from .summary import budget_counts, delivered, verdict_word

__all__ = ["Comparison", "compare_runs", "render_compare_markdown", "render_compare_html", "write_comparison"]

# Recipe keys that name a run rather than change what it does.
IGNORED_KEYS = ("run_dir",)


@dataclass
class Comparison:
    """What ``compare`` shows (see the module docstring).

    Attributes:
        runs: Run labels (the directory names, made unique).
        summary: Header and one row per run.
        terms: Header and one row per term (recall of each run's delivered model).
        recipe: Header and one row per recipe key that differs.
    """

    runs: list[str]
    summary: tuple[list[str], list[list[str]]]
    terms: tuple[list[str], list[list[str]]]
    recipe: tuple[list[str], list[list[str]]] = field(default_factory=lambda: ([], []))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _recipe(run_dir: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    path = run_dir / RESOLVED_RECIPE
    if not path.is_file():
        return {}
    try:
        return _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TermadaptError(f"{path}: cannot be read ({exc}) — re-run any stage to write it again") from None


def _labels(run_dirs: list[Path]) -> list[str]:
    labels = [p.name or str(p) for p in run_dirs]
    if len(set(labels)) < len(labels):  # same folder names under different parents
        labels = [str(p) for p in run_dirs]
    return labels


def _row(label: str, report: Report) -> list[str]:
    target = delivered(report)
    recall, general = "—", []
    for s in report.sets:
        m = s.get(target) if target else None
        if m is None:
            continue
        if s.role == "terms":
            hits, total = budget_counts(m)
            recall = f"{pct(m.budget_recall)} ({hits}/{total})"
        else:
            ci = f" [{pts(m.cer_delta_ci[0])}, {pts(m.cer_delta_ci[1])}]" if m.cer_delta_ci else ""
            general.append(
                (s.name, f"{pts(m.cer_delta)}{ci}", str(m.invented_terms), f"{m.homophone_swaps}/{m.homophone_clips}")
            )
    verdict = verdict_word(report.budget) if report.budget.condition else "—"
    cer = "; ".join(f"{n}: {d}" for n, d, _, _ in general) or "—"
    invented = "; ".join(f"{n}: {i}" for n, _, i, _ in general) or "—"
    swaps = "; ".join(f"{n}: {w}" for n, _, _, w in general) or "—"
    return [label, target or "—", recall, cer, invented, swaps, verdict]


def compare_runs(run_dirs: list[str | Path]) -> Comparison:
    """Read the runs and build the comparison.

    Raises:
        TermadaptError: fewer than two runs, or a run without ``report/report.json``.
    """
    paths = [Path(p) for p in run_dirs]
    if len(paths) < 2:
        raise TermadaptError("compare needs at least two run directories (termadapt compare RUN_A RUN_B ...)")
    reports = [load_report(p / REPORT_DIR / "report.json") for p in paths]
    labels = _labels(paths)
    summary = (
        ["run", "delivered", "term recall (budget)", "general CER Δ pts [95% CI]", "invented", "swaps", "budget"],
        [_row(label, r) for label, r in zip(labels, reports)],
    )
    targets = [delivered(r) for r in reports]
    recall = [{t.term: t.recall(target) for t in r.terms} if target else {} for r, target in zip(reports, targets)]
    order = list(dict.fromkeys(t for per in recall for t in per))
    terms = (["term", *labels], [[t, *[pct(per.get(t)) if t in per else "—" for per in recall]] for t in order])
    recipes = [_recipe(p) for p in paths]
    keys = sorted({k for r in recipes for k in r} - set(IGNORED_KEYS))
    differ = [k for k in keys if len({repr(r.get(k, "(not set)")) for r in recipes}) > 1]
    recipe = (["recipe key", *labels], [[k, *[str(r.get(k, "(not set)")) for r in recipes]] for k in differ])
    return Comparison(runs=labels, summary=summary, terms=terms, recipe=recipe)


def render_compare_markdown(comp: Comparison) -> str:
    """The comparison as Markdown (what ``termadapt compare`` prints)."""
    from .markdown import table

    out = ["# termadapt compare", "", "## Delivered models", ""] + table(*comp.summary)
    out += ["", "## Term recall per term (delivered models)", ""] + table(*comp.terms)
    out += ["", "## Recipe keys that differ", ""]
    out += table(*comp.recipe) if comp.recipe[1] else ["The runs used the same recipe values."]
    return "\n".join(out) + "\n"


def render_compare_html(comp: Comparison) -> str:
    """The comparison as one self-contained HTML page (the report's style)."""
    from .html import CSS

    def tab(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = ["<h1>termadapt compare</h1>", "<h2>Delivered models</h2>", tab(*comp.summary)]
    parts += ["<h2>Term recall per term (delivered models)</h2>", tab(*comp.terms), "<h2>Recipe keys that differ</h2>"]
    parts.append(tab(*comp.recipe) if comp.recipe[1] else "<p>The runs used the same recipe values.</p>")
    return (
        "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'><title>termadapt compare</title>"
        f"<style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n"
    )


def write_comparison(comp: Comparison, out_dir: str | Path) -> list[Path]:
    """Write ``compare.md`` and ``compare.html`` into ``out_dir``."""
    out = Path(out_dir)
    md, page = out / "compare.md", out / "compare.html"
    atomic_write_text(md, render_compare_markdown(comp))
    atomic_write_text(page, render_compare_html(comp))
    return [md, page]
