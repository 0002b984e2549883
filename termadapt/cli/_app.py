"""The typer application and the decorator that turns user errors into one line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from ..errors import TermadaptError

app = typer.Typer(
    name="termadapt",
    help="Teach Whisper new vocabulary from a term dictionary, and prove nothing else was forgotten.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

# Exit codes: 1 = user error (bad input, missing package), 3 = forgetting budget broken,
# 130 = interrupted (re-run the same command to resume).
EXIT_USER_ERROR = 1
EXIT_BUDGET_BROKEN = 3
EXIT_INTERRUPTED = 130


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a CLI command whose :class:`TermadaptError` becomes one line on stderr."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except TermadaptError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(EXIT_USER_ERROR) from None
            except KeyboardInterrupt:
                typer.echo("interrupted: finished work is kept; run the same command again to resume", err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"termadapt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Teach Whisper new vocabulary from a term dictionary, and prove nothing else was forgotten."""
