"""CLI command ``termadapt sentences``: the sentences stage, with label text and TTS text side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, command  # noqa: F401

__all__ = ["sentences"]

_SPLITS = ("train", "validation", "test", "all")
_KINDS = ("term", "term_alone", "term_context", "homophone", "general")


@command("sentences")
def sentences(
    recipe: Path = typer.Argument(..., help="Recipe (.toml), e.g. recipes/quickstart-ja.toml."),
    split: str = typer.Option("all", "--split", "-s", help="Show one split: train, validation, test or all."),
    kind: Optional[list[str]] = typer.Option(
        None,
        "--kind",
        "-k",
        help="Show only these kinds (repeatable): term, term_alone, term_context, homophone, general.",
    ),
    limit: int = typer.Option(40, "--limit", "-n", min=0, help="Rows to show (0 = all)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default: the recipe's run_dir)."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Write nothing: plan in memory (terms from the run when current, else from the dictionaries).",
    ),
) -> None:
    """The sentences stage: terms.jsonl → utterances.jsonl, shown as label text and TTS text side by side.

    Counts per split and kind, and warnings (general sentences that contain a term, terms
    whose homophones have no guard sentence), follow the table. Needs the terms stage
    first (`termadapt terms RECIPE`), unless --dry-run.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..config import load_recipe
    from ..errors import TermadaptError
    from ..pipeline import run_stage, stage_is_current
    from ..records import TERMS_FILE, UTTERANCES_FILE, TermEntry, Utterance, read_jsonl
    from ..text.sentences import SentencePlan, count_table, preview

    if split not in _SPLITS:
        raise TermadaptError(f"--split {split!r}: choose one of {', '.join(_SPLITS)}")
    bad = [k for k in kind or [] if k not in _KINDS]
    if bad:
        raise TermadaptError(f"--kind {bad[0]!r}: choose from {', '.join(_KINDS)}")
    rec = load_recipe(recipe)
    run = rec.resolved_run_dir(run_dir)
    current = (run / TERMS_FILE).is_file() and stage_is_current(rec, run, "terms")
    if dry_run:
        plan = preview(rec, read_jsonl(run / TERMS_FILE, TermEntry) if current else None)
    else:
        if not current:
            raise TermadaptError(
                f"{run / TERMS_FILE}: missing or older than the recipe's dictionaries — run "
                "`termadapt terms RECIPE` first (or preview with --dry-run)"
            )
        run_stage(rec, run, "sentences")
        plan = SentencePlan(read_jsonl(run / UTTERANCES_FILE, Utterance))
    rows = [u for u in plan.utterances if (split == "all" or u.split == split) and (not kind or u.kind in kind)]
    shown = rows if limit <= 0 else rows[:limit]

    console = Console()
    table = Table(title=f"{rec.name}: {len(shown)} of {len(rows)} sentences", show_lines=False)
    for name in ("split", "kind", "label text", "TTS text"):
        table.add_column(name, overflow="fold")
    for u in shown:
        label = u.kind if not u.homophone_of else f"{u.kind} ({u.homophone_of})"
        table.add_row(u.split, label, Text(u.text), Text(u.tts_text))  # Text: no markup in user sentences
    console.print(table)

    counts = Table(title="utterances per split and kind")
    kinds = sorted({k for c in count_table(plan.utterances).values() for k in c})
    for name in ("split", *kinds, "total"):
        counts.add_column(name, justify="right" if name != "split" else "left")
    for name, c in count_table(plan.utterances).items():
        counts.add_row(name, *(str(c.get(k, 0)) for k in kinds), str(sum(c.values())))
    console.print(counts)
    for w in plan.warnings:
        console.print(f"warning: {w}", markup=False, highlight=False, soft_wrap=True)
