"""CLI command ``termadapt train``: fine-tune the recipe's base model on the run's dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, command  # noqa: F401

__all__ = ["train"]


@command("train")
def train(
    recipe: Path = typer.Argument(..., help="Recipe (.toml), e.g. recipes/quickstart-ja.toml."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
    resume: bool = typer.Option(
        True,
        "--resume/--no-resume",
        help="Continue from the last checkpoint in RUN_DIR/checkpoints (--no-resume: start over).",
    ),
) -> None:
    """Fine-tune Whisper on RUN_DIR/dataset and write RUN_DIR/model.

    Guards against forgetting (replay, distillation, homophone guards, early stopping on
    held-out voices) follow the recipe's [train] table. Interrupted runs resume from the
    last checkpoint. Multi-GPU: `torchrun --nproc_per_node N --no-python termadapt train RECIPE`.
    """
    from ..config import load_recipe
    from ..pipeline import run_stage
    from ..training import train as train_stage

    rec = load_recipe(recipe)
    run = rec.resolved_run_dir(run_dir)
    out = run_stage(rec, run, "train", lambda: train_stage(rec, run, resume=resume))
    typer.echo(f"model: {out}")
