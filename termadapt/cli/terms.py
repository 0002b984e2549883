"""CLI commands for term dictionaries: ``validate``, ``readings`` and the ``terms`` stage.

Thin wrappers over :mod:`termadapt.text`. A dictionary argument may be ``shipped:NAME``
(``shipped:demo-product.csv``, ``shipped:medical-ja.csv``): the files shipped with termadapt.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import typer

from ._app import EXIT_USER_ERROR, app, command  # noqa: F401

__all__ = ["validate", "readings", "terms"]


def _paths(values: list[str]) -> list[Path]:
    from ..config import resolve_path

    return [resolve_path(v) for v in values]


@command("validate")
def validate(
    dictionaries: list[str] = typer.Argument(
        ...,
        metavar="DICT",
        help="Term dictionaries to check (CSV or TSV; UTF-8, UTF-8 with BOM or Shift_JIS), or shipped:NAME.",
    ),
    encoding: str = typer.Option("auto", help="File encoding: auto, utf-8, utf-8-sig, cp932 or shift_jis."),
    strict: bool = typer.Option(False, "--strict", help="Exit non-zero on warnings too."),
) -> None:
    """Check term dictionaries and report every problem, one line each.

    Prints a summary line per file (entries, warnings) and exits 0 when every file is
    valid. Otherwise prints one line per problem, `FILE:LINE: what is wrong — how to fix
    it`, and exits 1. Warnings (duplicates, readings with Latin letters) are printed as
    `warning: ...` and fail only with --strict.

    Formats: headerless `reading , target` (or just `target`), or a header row naming
    columns target, reading, category, context (`|`-separated sentences containing the
    target) and weight.
    """
    from ..text.dictionary import check_dictionaries, check_dictionary

    failed = False
    warned = False
    paths = _paths(dictionaries)
    for path in paths:
        result = check_dictionary(path, encoding)
        for warning in result.warnings:
            typer.echo(f"warning: {warning}")
        for error in result.errors:
            typer.echo(f"error: {error}", err=True)
        warned |= bool(result.warnings)
        if result.errors:
            failed = True
            typer.echo(f"{path}: INVALID — {len(result.errors)} error(s), {len(result.warnings)} warning(s)")
        else:
            typer.echo(f"{path}: ok — {len(result.entries)} entries, {len(result.warnings)} warning(s)")
    if len(paths) > 1 and not failed:
        # conflicts between files (the same target read differently) only show up together
        combined = check_dictionaries(paths, encoding)
        cross = [e for e in combined.errors]
        for error in cross:
            typer.echo(f"error: {error}", err=True)
        failed = bool(cross)
    if failed or (strict and warned):
        raise typer.Exit(EXIT_USER_ERROR)


def _csv_text(entries) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["target", "reading", "category", "context", "weight"])
    for e in entries:
        weight = f"{e.weight:g}" if e.weight != 1.0 else ""
        writer.writerow([e.target, e.reading, e.category, "|".join(e.context), weight])
    return buf.getvalue()


@command("readings")
def readings(
    dictionary: list[str] = typer.Argument(
        ..., metavar="DICT", help="Term dictionaries (CSV or TSV), or shipped:NAME."
    ),
    write: Path = typer.Option(
        None,
        "--write",
        metavar="OUT.csv",
        help="Also write a copy with every reading filled in (header format, UTF-8) for review.",
    ),
    homophones: bool = typer.Option(
        True,
        "--homophones/--no-homophones",
        help="Look up general words that share each reading (the first run builds an index, ~10 s).",
    ),
    encoding: str = typer.Option("auto", help="File encoding: auto, utf-8, utf-8-sig, cp932 or shift_jis."),
) -> None:
    """Show every entry's target, reading, whether the reading was given or derived
    automatically (pyopenjtalk), and general words with the same reading.

    Review automatic readings: OpenJTalk misreads some terms (嚥下 → エンカ instead of
    エンゲ). Fix them by writing the reading into the dictionary; --write OUT.csv produces
    a filled-in copy to start from.
    """
    from rich.console import Console
    from rich.table import Table

    from ..config import Recipe
    from ..records import atomic_write_text
    from ..text.dictionary import load_dictionaries
    from ..text.homophones import find_homophones
    from ..text.readings import fill_readings
    from ..text.templates import load_general_sentences

    result = load_dictionaries(_paths(dictionary), encoding)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    entries = fill_readings(result.entries)
    if homophones:
        entries = find_homophones(entries, load_general_sentences(Recipe().general_sentences_path()))
    table = Table(show_lines=False)
    for name in ("target", "reading", "source", "homophones"):
        table.add_column(name)
    for e in entries:
        table.add_row(e.target, e.reading, e.reading_source, " ".join(e.homophones))
    Console(width=120).print(table)
    auto = sum(1 for e in entries if e.reading_source == "auto")
    typer.echo(f"{len(entries)} entries: {len(entries) - auto} readings given, {auto} derived automatically")
    if write is not None:
        atomic_write_text(write, _csv_text(entries))
        typer.echo(f"wrote {write}")


@command("terms")
def terms(
    recipe: Path = typer.Argument(..., help="Recipe (.toml), e.g. recipes/quickstart-ja.toml."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
) -> None:
    """The terms stage: the recipe's dictionaries → readings, homophones, user dictionary → terms.jsonl."""
    from ..config import load_recipe
    from ..pipeline import run_stage

    rec = load_recipe(recipe)
    out = run_stage(rec, rec.resolved_run_dir(run_dir), "terms")
    typer.echo(f"wrote {out}")
