"""CLI commands ``termadapt evaluate`` and ``termadapt report``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import EXIT_BUDGET_BROKEN, app, command  # noqa: F401

__all__ = ["evaluate", "report"]


def _verdict(report_dir: Path) -> int:
    """Print the budget verdict of ``report_dir/report.json``; return the exit code."""
    from ..report.schema import load_report

    rep = load_report(report_dir / "report.json")
    typer.echo(f"report: {report_dir / 'report.html'}")
    budget = rep.budget
    if not budget.condition:
        typer.echo("budget: nothing to check (no adapted or merged model evaluated)")
        return 0
    for check in budget.checks:
        typer.echo(f"  {'ok    ' if check.ok else 'BROKEN'} {check.message}")
    if budget.ok:
        typer.echo(f"budget: kept by {budget.condition}")
        return 0
    broken = ", ".join(c.name for c in budget.checks if not c.ok)
    typer.echo(f"error: forgetting budget broken by {budget.condition} ({broken}); see {report_dir / 'report.md'}", err=True)
    for advice in budget.advice:
        typer.echo(f"  try: {advice}", err=True)
    return EXIT_BUDGET_BROKEN


@command("evaluate")
def evaluate(
    recipe: Path = typer.Argument(..., help="Recipe (.toml)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
) -> None:
    """Transcribe the held-out sets with base, prompted base, adapted and merged models; write the report.

    Reads RUN_DIR/dataset, model/, merged/; writes eval/ (cached hypotheses) and report/
    (report.json, report.md, report.html, hypotheses.csv). Re-runs reuse cached hypotheses.
    Exits with code 3 when the forgetting budget ([evaluate] in the recipe) is broken.
    """
    from ..config import load_recipe
    from ..evaluate import evaluate as run_evaluate

    rec = load_recipe(recipe)
    out = run_evaluate(rec, rec.resolved_run_dir(run_dir))
    code = _verdict(out)
    if code:
        raise typer.Exit(code)


@command("report")
def report(
    run_dir: Path = typer.Argument(..., help="Run directory holding report/report.json."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Do not embed regressed clips' audio in report.html."),
    max_listed: int = typer.Option(50, "--max-listed", help="Regressions listed per condition in md/html."),
) -> None:
    """Re-render report.md, report.html and hypotheses.csv from RUN_DIR/report/report.json (no model needed)."""
    from ..report import write_report

    out = write_report(run_dir, embed_audio=not no_audio, max_listed=max_listed)
    _verdict(out)  # re-rendering is not a gate: only `evaluate` exits 3 on a broken budget
