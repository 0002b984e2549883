"""Self-contained HTML rendering with inline SVG plots and embedded audio.

No JavaScript, no external files: charts are SVG drawn here, regressed clips are embedded
as base64 wav in ``<audio>`` players, so ``report.html`` can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

from ..scoring import table as metric_table
from ..scoring.budget import BROKEN, MET, NOT_VERIFIED
from . import tables
from .schema import MergePoint, Report
from .summary import delivered, summary, verdict_word

__all__ = ["render_html", "bar_chart", "hbar_chart", "merge_panels", "CONDITION_COLORS", "FONT_STACK"]

# One fixed colour per condition, the same in every chart (the browser test looks for them).
CONDITION_COLORS = {"base": "#8c8c8c", "prompt": "#f0a020", "adapted": "#1f6fd1", "merged": "#2ca02c"}
EXTRA_COLORS = ("#9467bd", "#d62728", "#17becf", "#bcbd22")
# Merge-curve metrics get colours no condition uses, so a colour always means one thing.
MERGE_COLORS = ("#d62728", "#9467bd")  # term recall, general CER change
BUDGET_FILL = "#e6f4ea"  # the band a metric must stay in under the forgetting budget
# More terms than this make the per-term chart unreadable: the lowest-recall ones are drawn.
MAX_TERMS_CHARTED = 60
# Japanese fonts of macOS, Windows and Linux first: without one, a browser draws the
# Japanese text as boxes (Debian: apt-get install fonts-ipafont-gothic or fonts-noto-cjk).
FONT_STACK = (
    '"Hiragino Sans", "Hiragino Kaku Gothic ProN", "Yu Gothic UI", "Yu Gothic", Meiryo, '
    '"Noto Sans CJK JP", "Noto Sans JP", "Source Han Sans JP", IPAexGothic, IPAPGothic, IPAGothic, '
    'TakaoGothic, "VL Gothic", system-ui, sans-serif'
)
# SVG text takes its family from the page's CSS (``svg text`` below), so charts and tables match.
FONT = "font-size='12'"
FONT_TITLE = "font-size='15' font-weight='bold'"

CSS = (
    "body,svg text{font-family:"
    + FONT_STACK
    + "}"
    + """
body{margin:2em auto;max-width:1150px;color:#222;line-height:1.45}
h1{font-size:1.6em} h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f4f4f4} .ok{color:#18794e;font-weight:bold} .broken{color:#c0392b;font-weight:bold}
.verdict{padding:.6em 1em;border-radius:6px;margin:1em 0} .verdict.ok{background:#e8f6ee} .verdict.broken{background:#fdecea}
.unverified{color:#9a6700;font-weight:bold} .verdict.unverified{background:#fff8c5}
.chart{margin:1em 0} code{background:#f4f4f4;padding:0 3px} audio{height:28px;width:220px}
"""
)


def _color(cond: str, i: int) -> str:
    return CONDITION_COLORS.get(cond, EXTRA_COLORS[i % len(EXTRA_COLORS)])


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _inline_md(text: str) -> str:
    """The few Markdown marks used by the summary: **bold** and `code`."""
    out = _e(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _legend(series: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    parts = []
    for i, (name, color) in enumerate(series):
        parts.append(
            f"<rect x='{x + i * 110}' y='{y}' width='14' height='14' fill='{color}'/>"
            f"<text x='{x + i * 110 + 18}' y='{y + 12}' {FONT}>{_e(name)}</text>"
        )
    return parts


def bar_chart(
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    percent: bool = True,
    width: int = 900,
    height: int = 320,
) -> str:
    """Grouped vertical bars: one group per label, one bar per series ``(name, colour, values)``."""
    left, right, top, bottom = 60, 20, 50, 60
    vals = [v for _, _, vs in series for v in vs if v is not None]
    ymax = _nice_max(max(vals, default=0.0))
    pw, ph = width - left - right, height - top - bottom
    gw = pw / max(len(groups), 1)
    bw = min(40.0, gw * 0.8 / max(len(series), 1))
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' aria-label='{_e(title)}'>",
        f"<text x='{left}' y='20' {FONT_TITLE}>{_e(title)}</text>",
    ]
    for k in range(5):
        v = ymax * k / 4
        y = top + ph - ph * k / 4
        label = f"{v * 100:.3g}%" if percent else f"{v:.3g}"
        parts.append(
            f"<line x1='{left}' x2='{left + pw}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e3e3e3'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' {FONT}>{label}</text>"
        )
    for g, group in enumerate(groups):
        x0 = left + g * gw + (gw - bw * len(series)) / 2
        for s, (name, color, values) in enumerate(series):
            v = values[g] if g < len(values) else None
            if v is None:
                continue
            h = ph * min(v, ymax) / ymax
            x, y = x0 + s * bw, top + ph - h
            label = f"{v * 100:.1f}%" if percent else f"{v:.3g}"
            parts.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{bw - 2:.1f}' height='{max(h, 0.5):.1f}' fill='{color}'>"
                f"<title>{_e(name)} · {_e(group)}: {label}</title></rect>"
                f"<text x='{x + bw / 2 - 1:.1f}' y='{y - 3:.1f}' text-anchor='middle' font-size='10'>{label}</text>"
            )
        parts.append(
            f"<text x='{left + g * gw + gw / 2:.1f}' y='{top + ph + 18}' text-anchor='middle' {FONT}>{_e(group)}</text>"
        )
    parts.append(f"<line x1='{left}' x2='{left + pw}' y1='{top + ph}' y2='{top + ph}' stroke='#555'/>")
    parts += _legend([(n, c) for n, c, _ in series], left, height - 22)
    return "".join(parts) + "</svg>"


def hbar_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float | None]]], width: int = 900
) -> str:
    """Grouped horizontal bars in [0, 1] (per-term recall), one row per label."""
    left, right, top = 180, 60, 40
    row_h = 6 + 12 * len(series)
    height = top + row_h * len(labels) + 50
    pw = width - left - right
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' aria-label='{_e(title)}'>",
        f"<text x='10' y='20' {FONT_TITLE}>{_e(title)}</text>",
    ]
    for k in range(5):
        x = left + pw * k / 4
        parts.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' y2='{top + row_h * len(labels)}' stroke='#e3e3e3'/>"
            f"<text x='{x:.1f}' y='{top + row_h * len(labels) + 14}' text-anchor='middle' {FONT}>{25 * k}%</text>"
        )
    for r, label in enumerate(labels):
        y0 = top + r * row_h + 3
        parts.append(f"<text x='{left - 8}' y='{y0 + row_h / 2 + 2:.1f}' text-anchor='end' {FONT}>{_e(label)}</text>")
        for s, (name, color, values) in enumerate(series):
            v = values[r]
            if v is None:
                continue
            parts.append(
                f"<rect x='{left}' y='{y0 + s * 12:.1f}' width='{max(pw * v, 1):.1f}' height='10' fill='{color}'>"
                f"<title>{_e(name)} · {_e(label)}: {v * 100:.0f}%</title></rect>"
                f"<text x='{left + max(pw * v, 1) + 4:.1f}' y='{y0 + s * 12 + 9:.1f}' font-size='9'>{v * 100:.0f}%</text>"
            )
    parts += _legend([(n, c) for n, c, _ in series], left, height - 22)
    return "".join(parts) + "</svg>"


def merge_panels(
    curve: Sequence[MergePoint],
    min_recall: float | None,
    max_cer_increase: float | None,
    width: int = 900,
    panel_height: int = 170,
) -> str:
    """The merge choice in two aligned panels against α: validation term recall (top) and the
    general CER change vs the base model in points (bottom), with the paired 95% interval each
    change was measured with as a bar. Each panel shades the budget's allowed band; a dashed
    line marks the chosen α. Counts stay in the table below the chart.
    """
    left, right, top, gap, bottom = 70, 20, 62, 44, 40
    pw = width - left - right
    height = top + 2 * panel_height + gap + bottom
    xs = [p.alpha for p in curve]
    x_lo, x_hi = min([0.0, *xs]), max([1.0, *xs])

    def px(x: float) -> float:
        return left + pw * (x - x_lo) / ((x_hi - x_lo) or 1.0)

    recall = [p.values.get("term_recall") for p in curve]
    delta = [p.values.get("general_cer_increase") for p in curve]
    bars = [(p.values.get("general_cer_low"), p.values.get("general_cer_high")) for p in curve]
    finite = [v for v in delta if v is not None and math.isfinite(v)]
    finite += [v for bar in bars for v in bar if v is not None and math.isfinite(v)]
    d_hi = _nice_max(max([abs(v) for v in finite] + [max_cer_increase or 0.0, 0.5]))
    panels = [
        ("term_recall", "Validation term recall", recall, 0.0, 1.0, (min_recall, 1.0), lambda v: f"{v * 100:.0f}%"),
        (
            "general_cer_increase",
            "General CER change vs base (points)",
            delta,
            -d_hi,
            d_hi,
            (-d_hi, max_cer_increase),
            lambda v: f"{v:+.2g}",
        ),
    ]
    chosen = next((p.alpha for p in curve if p.chosen), None)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        "aria-label='Merge curve: term recall and general CER change against α'>",
        f"<text x='{left}' y='20' {FONT_TITLE}>Merge curve on the validation split: what α trades</text>",
    ]
    for i, (metric, label, values, lo, hi, band, fmt) in enumerate(panels):
        y0 = top + i * (panel_height + gap)

        def py(v: float, lo: float = lo, hi: float = hi, y0: float = y0) -> float:
            return y0 + panel_height - panel_height * (min(max(v, lo), hi) - lo) / (hi - lo)

        parts.append(f"<g class='panel' data-metric='{metric}' data-min='{lo:g}' data-max='{hi:g}'>")
        parts.append(f"<text x='{left}' y='{y0 - 6}' {FONT} font-weight='bold'>{_e(label)}</text>")
        b_lo, b_hi = band
        if b_lo is not None and b_hi is not None:
            parts.append(
                f"<rect class='budget' x='{left}' y='{py(b_hi):.1f}' width='{pw}' "
                f"height='{max(py(b_lo) - py(b_hi), 0.5):.1f}' fill='{BUDGET_FILL}'>"
                f"<title>within the budget</title></rect>"
            )
        for k in range(5):
            v = lo + (hi - lo) * k / 4
            parts.append(
                f"<line x1='{left}' x2='{left + pw}' y1='{py(v):.1f}' y2='{py(v):.1f}' stroke='#e3e3e3'/>"
                f"<text x='{left - 6}' y='{py(v) + 4:.1f}' text-anchor='end' {FONT}>{fmt(v)}</text>"
            )
        pts = [(px(x), py(v), x, v) for x, v in zip(xs, values) if v is not None and math.isfinite(v)]
        if metric == "general_cer_increase":
            parts += [
                f"<line class='interval' x1='{px(x):.1f}' x2='{px(x):.1f}' y1='{py(lo_v):.1f}' y2='{py(hi_v):.1f}' "
                f"stroke='{MERGE_COLORS[i]}' stroke-opacity='0.45' stroke-width='7'>"
                f"<title>α={x:g}: 95% interval [{lo_v:+.2f}, {hi_v:+.2f}] points</title></line>"
                for x, (lo_v, hi_v) in zip(xs, bars)
                if lo_v is not None and hi_v is not None
            ]
        if pts:
            parts.append(
                f"<polyline class='series' fill='none' stroke='{MERGE_COLORS[i]}' stroke-width='2.5' points='"
                + " ".join(f"{a:.1f},{b:.1f}" for a, b, _, _ in pts)
                + "'/>"
            )
            parts += [
                f"<circle cx='{a:.1f}' cy='{b:.1f}' r='4' fill='{MERGE_COLORS[i]}'>"
                f"<title>α={x:g}: {fmt(v)}</title></circle>"
                for a, b, x, v in pts
            ]
        parts.append(
            f"<line x1='{left}' x2='{left + pw}' y1='{y0 + panel_height}' y2='{y0 + panel_height}' stroke='#555'/>"
        )
        parts.append("</g>")
    axis_y = top + 2 * panel_height + gap
    for x in sorted(set([0.0, 1.0, *xs])):
        parts.append(f"<text x='{px(x):.1f}' y='{axis_y + 16}' text-anchor='middle' {FONT}>α={x:g}</text>")
    if chosen is not None:
        parts.append(
            f"<line class='chosen' data-alpha='{chosen:g}' x1='{px(chosen):.1f}' x2='{px(chosen):.1f}' y1='{top}' "
            f"y2='{axis_y}' stroke='#333' stroke-dasharray='4 3'/>"
            f"<text x='{px(chosen) + 4:.1f}' y='{top + 12}' {FONT}>chosen α={chosen:g}</text>"
        )
    return "".join(parts) + "</svg>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], raw_cols: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw_cols else _e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _audio(run_dir: Path, rel: str, embed: bool) -> str:
    if not rel:
        return ""
    path = run_dir / rel
    inside = path.resolve().is_relative_to(Path(run_dir).resolve())  # a hand-edited report.json embeds no other file
    if embed and inside and path.is_file():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"<audio controls preload='none' src='data:audio/wav;base64,{data}'></audio>"
    return f"<a href='../{_e(rel)}'>{_e(Path(rel).name)}</a>"


def render_html(report: Report, run_dir: str | Path, embed_audio: bool = True, max_listed: int = 50) -> str:
    """The whole report as one self-contained HTML page."""
    run_dir = Path(run_dir)
    evaluated = tables.evaluated(report)
    colors = {c: _color(c, i) for i, c in enumerate(evaluated)}
    target = delivered(report)
    body: list[str] = [
        f"<h1>termadapt report — {_e(report.recipe)}</h1>",
        f"<p>Created {_e(report.created)} · schema v{report.schema_version} · run <code>{_e(report.run_dir)}</code></p>",
    ]
    if report.budget.condition:
        cls = {MET: "ok", NOT_VERIFIED: "unverified", BROKEN: "broken"}[report.budget.status]
        body.append(
            f"<div class='verdict {cls}'>Forgetting budget for <b>{_e(report.budget.condition)}</b>: "
            f"<span class='{cls}'>{_e(verdict_word(report.budget))}</span></div>"
        )
    bullets: list[str] = []
    for ln in [*summary(report), ""]:
        if ln.startswith("- "):
            bullets.append(f"<li>{_inline_md(ln[2:])}</li>")
            continue
        if bullets:
            body.append("<ul>" + "".join(bullets) + "</ul>")
            bullets = []
        if ln:
            body.append(f"<p>{_inline_md(ln)}</p>")

    body.append("<h2>CER per set and condition</h2>")
    sets = [s.name for s in report.sets]
    series = [(c, colors[c], [(s.get(c).cer if s.get(c) else None) for s in report.sets]) for c in evaluated]
    body.append(
        f"<div class='chart' id='chart-cer'>{bar_chart('CER per evaluation set (lower is better)', sets, series)}</div>"
    )

    if report.terms:
        rows = report.terms
        if len(rows) > MAX_TERMS_CHARTED:
            key = target or evaluated[-1]
            rows = sorted(rows, key=lambda t: t.recall(key) or 0.0)[:MAX_TERMS_CHARTED]
            body.append(f"<p>{MAX_TERMS_CHARTED} of {len(report.terms)} terms with the lowest recall are drawn.</p>")
        series = [(c, colors[c], [t.recall(c) for t in rows]) for c in evaluated]
        body.append("<h2>Per-term recall before and after</h2>")
        body.append(
            f"<div class='chart' id='chart-terms'>{hbar_chart('Term recall on held-out voices', [t.term for t in rows], series)}</div>"
        )
        body.append(_table(*tables.terms(report)))
    header, rows = tables.confusions(report)
    if rows:
        body.append("<h2>What the model wrote instead</h2>")
        body.append("<p>Where a term was said and missed on held-out voices: the most frequent spellings first.</p>")
        body.append(_table(header, rows))

    if report.merge_curve:
        budget = report.settings
        body.append("<h2>Merge curve</h2>")
        chart = merge_panels(report.merge_curve, budget.get("min_term_recall"), budget.get("max_general_cer_increase"))
        body.append(f"<div class='chart' id='chart-merge'>{chart}</div>")
        body.append(_table(*tables.merge_curve(report)))

    body.append("<h2>Metrics per set and condition</h2>")
    body.append(_table(metric_table.header(), [metric_table.row(s, m) for s in report.sets for m in s.conditions]))

    body.append("<h2>Regressions (clips worse than the base model)</h2>")
    any_reg = False
    for cond in [c for c in evaluated if c != "base"]:
        regs = tables.regressions(report, cond)
        if not regs:
            continue
        any_reg = True
        body.append(f"<h3>{_e(cond)}: {len(regs)} clips</h3>")
        rows = [[r.set, _audio(run_dir, r.audio, embed_audio), *tables.regression_cells(r)] for r in regs[:max_listed]]
        body.append(
            _table(
                ["set", "listen", "reference", "base", _e(cond), "CER base → now", "TTS suspect"], rows, raw_cols=(1,)
            )
        )
    if not any_reg:
        body.append("<p>No clip got worse than with the base model.</p>")
    if report.over_triggers:
        body.append("<h2>Over-triggering</h2>")
        body.append(_table(*tables.over_triggers(report, max_listed)))
    if report.leaks:
        body.append("<h2>Template leakage</h2>")
        body.append(_table(*tables.leaks(report, max_listed)))
    body.append("<h2>Conditions</h2>")
    body.append(_table(*tables.conditions(report, prompt_text=True)))
    body.append("<h2>Machine and timing</h2>")
    body.append(
        _table(
            ["key", "value"],
            [[k, v] for k, v in report.machine.items()]
            + [[f"timing.{k}", f"{v:.3g}"] for k, v in report.timing.items()],
        )
    )
    return (
        "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'>"
        f"<title>termadapt report — {_e(report.recipe)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
