"""CLI commands ``termadapt evaluate``, ``termadapt report`` and ``termadapt compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import EXIT_BUDGET_BROKEN, app, command  # noqa: F401

__all__ = ["evaluate", "report", "compare"]


def _print_summary(run_dir: Path) -> bool:
    """Print the end-of-run lines of ``run_dir/report/report.json``; return whether the budget held."""
    from ..pipeline import summarize

    lines, ok = summarize(run_dir)
    for line in lines:
        typer.echo(line)
    return ok is not False


@command("evaluate")
def evaluate(
    recipe: Path = typer.Argument(..., help="Recipe (.toml)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
) -> None:
    """Transcribe the held-out sets with base, prompted base, adapted and merged models; write the report.

    Reads RUN_DIR/dataset, model/, merged/; writes report/report.json (the evaluate stage)
    and renders report.md, report.html and hypotheses.csv from it (the report stage).
    Transcripts are cached in RUN_DIR/hypotheses: re-runs decode nothing.
    Exits with code 3 when the forgetting budget ([evaluate] in the recipe) is broken.
    """
    from ..config import load_recipe
    from ..pipeline import run_stage

    rec = load_recipe(recipe)
    out = rec.resolved_run_dir(run_dir)
    run_stage(rec, out, "evaluate")
    run_stage(rec, out, "report")
    if not _print_summary(out):
        raise typer.Exit(EXIT_BUDGET_BROKEN)


@command("report")
def report(
    run_dir: Path = typer.Argument(..., help="Run directory holding report/report.json."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Do not embed regressed clips' audio in report.html."),
    max_listed: int = typer.Option(50, "--max-listed", min=0, help="Regressions listed per condition in md/html."),
) -> None:
    """Re-render report.md, report.html and hypotheses.csv from RUN_DIR/report/report.json (no model needed)."""
    from ..report import write_report

    write_report(run_dir, embed_audio=not no_audio, max_listed=max_listed)
    _print_summary(run_dir)  # re-rendering is not a gate: only `evaluate` exits 3 on a broken budget


@command("compare")
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="Two or more run directories holding report/report.json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write compare.md and compare.html here."),
) -> None:
    """The delivered model of several runs side by side: recall, CER change with CI, over-triggering,
    per-term recall, and the recipe keys that differ between the runs."""
    from ..report.compare import compare_runs, render_compare_markdown, write_comparison

    comp = compare_runs(run_dirs)
    typer.echo(render_compare_markdown(comp), nl=False)
    if out is not None:
        for path in write_comparison(comp, out):
            typer.echo(f"wrote {path}", err=True)
