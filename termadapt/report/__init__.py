"""Stage ``report``: render ``report/report.json`` as Markdown, self-contained HTML and CSV.

Reads ``run_dir/report/report.json`` (written by :func:`termadapt.evaluate.evaluate`) and
the regressed clips' audio under ``run_dir/eval/audio``; writes ``report.md``,
``report.html`` and ``hypotheses.csv`` next to it, and a model card (``README.md``) into
each evaluated model folder of the run. Rendering needs no model, so
``termadapt report RUN_DIR`` re-renders in a second.

- :mod:`.schema` — the versioned ``report.json``;
- :mod:`.summary` — the plain-words summary and the console lines;
- :mod:`.markdown`, :mod:`.html` — the two renderers (metric columns from
  :mod:`termadapt.scoring.table`);
- :mod:`.model_card` — ``README.md`` model cards in ``model/`` and ``merged/``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TermadaptError
from ..records import REPORT_DIR, atomic_write_text
from .model_card import write_model_cards
from .schema import Report, load_report

__all__ = ["render", "write_report", "write_csv", "REPORT_FORMATS"]

REPORT_FORMATS = ("json", "md", "html", "csv")
CSV_COLUMNS = ("set", "clip_id", "utterance_id", "voice", "kind", "condition", "ref", "hyp", "cer", "suspect")


def write_csv(report: Report, path: str | Path) -> Path:
    """``hypotheses.csv``: one row per clip and condition with REF and HYP (as seed 002)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for u in report.utterances:
        for cond in report.condition_names():
            if cond not in u.hyps:
                continue
            writer.writerow(
                [
                    u.set,
                    u.clip_id,
                    u.utterance_id,
                    u.voice,
                    u.kind,
                    cond,
                    u.ref,
                    u.hyps[cond],
                    f"{u.cer.get(cond, 0.0):.4f}",
                    int(u.suspect),
                ]
            )
    atomic_write_text(path, "\ufeff" + buf.getvalue())  # BOM: spreadsheet apps in Japan read UTF-8 correctly
    return Path(path)


def write_report(
    run_dir: str | Path, formats: Sequence[str] | None = None, embed_audio: bool = True, max_listed: int = 50
) -> Path:
    """Render ``run_dir/report/report.json`` into the requested formats.

    Args:
        run_dir: Run directory.
        formats: Subset of ``json, md, html, csv`` (json is always kept: it is the source).
        embed_audio: Embed regressed clips' wav (base64) in the HTML.
        max_listed: Regressions listed per condition in md/html (all stay in report.json).

    Returns:
        The report directory.
    """
    from .html import render_html
    from .markdown import render_markdown

    run_dir = Path(run_dir)
    out = run_dir / REPORT_DIR
    formats = list(formats or REPORT_FORMATS)
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad:
        raise ConfigError(f"report.formats: unknown format {bad[0]!r} — use {', '.join(REPORT_FORMATS)}")
    report = load_report(out / "report.json")
    if "md" in formats:
        atomic_write_text(out / "report.md", render_markdown(report, max_listed=max_listed))
    if "html" in formats:
        atomic_write_text(
            out / "report.html", render_html(report, run_dir, embed_audio=embed_audio, max_listed=max_listed)
        )
    if "csv" in formats:
        write_csv(report, out / "hypotheses.csv")
    write_model_cards(report, run_dir)
    return out


def render(recipe: Any, run_dir: str | Path) -> Path:
    """The report stage: render ``report/report.json`` in the recipe's formats (``[report]``).

    Raises:
        TermadaptError: no ``report.json`` yet (the evaluate stage writes it).
    """
    path = Path(run_dir) / REPORT_DIR / "report.json"
    if not path.is_file():
        raise TermadaptError(f"{path} is missing — run `termadapt evaluate RECIPE` first")
    cfg = recipe.report
    return write_report(
        run_dir, formats=cfg.formats, embed_audio=cfg.embed_audio, max_listed=cfg.max_regressions_listed
    )
