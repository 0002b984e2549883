"""CLI command: merge (see termadapt/cli/__init__.py).

``termadapt merge RECIPE|MODEL [--base SPEC] [--alpha A|auto] [--run-dir DIR] [--out DIR]``
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer

from ..errors import TermadaptError
from ._app import app, command  # noqa: F401

__all__ = ["merge_command"]


@command("merge")
def merge_command(
    source: str = typer.Argument(..., metavar="RECIPE|MODEL", help="A recipe (.toml), or an adapted model directory."),
    base: Optional[str] = typer.Option(
        None, "--base", help="Base model spec (default: the recipe's model.base; required with MODEL)."
    ),
    alpha: Optional[str] = typer.Option(
        None, "--alpha", help='Weight of the adapted model in [0, 1], or "auto" (default: the recipe\'s merge.alpha).'
    ),
    run_dir: Optional[Path] = typer.Option(
        None, "--run-dir", help="Run directory (its dataset/ validation split is used by --alpha auto)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default: RUN/merged, or MODEL-merged)."),
) -> None:
    """Interpolate adapted and base weights: θ = (1−α)·θ_base + α·θ_adapted.

    With --alpha auto, decodes the run's validation split at every α of merge.alpha_grid and
    picks the best term recall within the forgetting budget; the curve is written to
    merged/merge_curve.json. Rerunning reuses the cached transcripts.
    """
    from ..config import Recipe, load_recipe
    from ..merging import merge

    src = Path(source)
    adapted_dir: Path | None = None
    if src.is_dir():
        if not base:
            raise TermadaptError(
                f"{src}: pass --base SPEC, the model this one was fine-tuned from (e.g. --base whisper-base)"
            )
        if alpha is None and run_dir is None:
            raise TermadaptError(
                "pass --alpha A (a number in [0, 1]), or --run-dir RUN with a dataset/ for --alpha auto"
            )
        recipe = Recipe()
        adapted_dir = src
        run = Path(run_dir) if run_dir else src.parent
        out = out or (run / "merged" if run_dir else src.with_name(src.name + "-merged"))
    elif src.is_file() or src.suffix == ".toml":
        recipe = load_recipe(src)
        run = recipe.resolved_run_dir(run_dir)
    else:
        raise TermadaptError(f"{src}: not found — pass a recipe .toml or an adapted model directory")
    if base:
        recipe = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, base=base))

    def call():
        return merge(
            recipe, run, alpha, adapted_dir=adapted_dir, out_dir=out, progress=lambda m: typer.echo(m, err=True)
        )

    if adapted_dir is None and alpha is None and base is None and out is None:  # the recipe's own merge stage
        from ..pipeline import run_stage

        result = run_stage(recipe, run, "merge", call)
    else:
        result = call()
    import json

    info = json.loads((result / "merge.json").read_text(encoding="utf-8"))
    if info.get("mode") == "auto" and info.get("traded"):
        typer.echo(
            "note: α chosen for term recall the validation clips resolve, at a CER change they cannot "
            "(evaluate.evidence_trade; see merge_curve.json)",
            err=True,
        )
    elif info.get("mode") == "auto" and not info.get("within_budget", True):
        typer.echo("warning: no α met the forgetting budget (see merge_curve.json)", err=True)
    typer.echo(f"merged α={info['alpha']:g} → {result}")
