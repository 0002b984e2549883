"""CLI commands ``termadapt voices``, ``termadapt synth`` and ``termadapt dataset`` (alias ``build-dataset``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, command  # noqa: F401

__all__ = ["voices", "synth", "dataset"]


@command("voices")
def voices(
    recipe: Optional[Path] = typer.Argument(None, help="Recipe (.toml): also show its voice plan."),
) -> None:
    """List the TTS engines and voices usable on this machine, with install hints for the others."""
    from rich.console import Console
    from rich.table import Table

    from ..tts import ENGINE_NAMES, engine_class, get_engine

    options: dict = {}
    rec = None
    if recipe is not None:
        from ..config import load_recipe
        from ..speech.synth import engine_options

        rec = load_recipe(recipe)
        options = engine_options(rec, rec.resolved_run_dir())
    console = Console()
    table = Table(title="TTS voices on this machine")
    for name in ("engine", "voice", "description", "knobs"):
        table.add_column(name, overflow="fold")
    for name in ENGINE_NAMES:
        cls = engine_class(name)
        if not cls.available():
            table.add_row(name, "-", "not installed", cls.install_hint)
            continue
        infos = get_engine(name, **options.get(name, {})).voices()
        if not infos:
            table.add_row(name, "-", "no voices configured", cls.install_hint)
        for info in infos:
            knobs = "\n".join(k.describe() for k in info.knobs) or "-"
            table.add_row(name, info.voice, info.description, knobs)
    console.print(table)
    console.print("Voice spec: engine:voice?knob=value&knob=value, e.g. openjtalk:mei_normal?speed=0.9&half_tone=-2")
    if rec is not None:
        from ..speech.voices import plan_voices

        plan = plan_voices(rec.synth, options)
        console.print(f"training voices: {', '.join(map(str, plan.train))}")
        console.print(f"held-out voices: {', '.join(map(str, plan.heldout))}")
        if plan.validation:
            console.print(f"validation voices: {', '.join(map(str, plan.validation))}")
        for note in plan.notes:
            console.print(f"note: {note}")


@command("synth")
def synth(
    recipe: Path = typer.Argument(..., help="Recipe (.toml)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", min=1, help="Worker processes (default: synth.workers)."
    ),
) -> None:
    """Speak every sentence of utterances.jsonl with the recipe's voices → synth.jsonl.

    Finished clips live in a shared cache, so an interrupted run resumes where it stopped.
    """
    from ..config import load_recipe
    from ..pipeline import run_stage
    from ..speech.synth import synthesize

    rec = load_recipe(recipe)
    run = rec.resolved_run_dir(run_dir)
    out = run_stage(rec, run, "synth", lambda: synthesize(rec, run, workers=workers))
    typer.echo(f"wrote {out}")


def _dataset(recipe: Path, run_dir: Optional[Path]) -> None:
    from ..config import load_recipe
    from ..pipeline import run_stage

    rec = load_recipe(recipe)
    out = run_stage(rec, rec.resolved_run_dir(run_dir), "dataset")
    typer.echo(f"wrote {out}")


@command("dataset")
def dataset(
    recipe: Path = typer.Argument(..., help="Recipe (.toml)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
) -> None:
    """Turn synth.jsonl (+ imported real speech) into the run's DatasetDict in dataset/."""
    _dataset(recipe, run_dir)


@command("build-dataset", hidden=True)
def build_dataset_alias(
    recipe: Path = typer.Argument(..., help="Recipe (.toml)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
) -> None:
    """Alias of `termadapt dataset` (its earlier name)."""
    _dataset(recipe, run_dir)
