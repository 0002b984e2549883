"""CLI command: build-and-train (the whole pipeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import EXIT_BUDGET_BROKEN, command


@command("build-and-train")
def build_and_train(
    recipe: Path = typer.Argument(..., help="Recipe TOML, e.g. recipes/quickstart-ja.toml."),
    run_dir: Optional[Path] = typer.Option(
        None, "--run-dir", help="Run directory (default: the recipe's run_dir or runs/<name>)."
    ),
    start: Optional[str] = typer.Option(
        None, "--from", help="First stage: terms, sentences, synth, dataset, train, merge, evaluate, report."
    ),
    stop: Optional[str] = typer.Option(None, "--to", help="Last stage (same names as --from)."),
    force: bool = typer.Option(
        False, "--force", help="Re-run the selected stages even if their inputs did not change."
    ),
) -> None:
    """Dictionary → sentences → speech → dataset → fine-tune → merge → evaluate → report, in one command.

    Each stage skips itself when its outputs exist and its inputs did not change; an
    interrupted run resumes where it stopped when you run the same command again.
    """
    from ..config import load_recipe
    from ..pipeline import run_pipeline, summarize

    r = load_recipe(recipe)
    out = r.resolved_run_dir(run_dir)
    run_pipeline(r, out, start=start, stop=stop, force=force, log=lambda m: typer.echo(m, err=True))
    lines, budget_ok = summarize(out)
    for line in lines:
        typer.echo(line)
    if budget_ok is False:
        raise typer.Exit(EXIT_BUDGET_BROKEN)
