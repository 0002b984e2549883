"""The typer application and the decorator that turns user errors into one line."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click
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

# Exit codes (README, "Errors and exit codes"): 1 = user error (bad input, missing package,
# unwritable or full disk), 2 = command-line usage error (click's own), 3 = forgetting budget
# broken, 4 = internal error (a bug: the one line says how to get the traceback),
# 130 = interrupted (re-run the same command to resume).
EXIT_USER_ERROR = 1
EXIT_BUDGET_BROKEN = 3
EXIT_INTERNAL_ERROR = 4
EXIT_INTERRUPTED = 130
# Set to 1 to see the Python traceback of an internal error instead of its one line.
DEBUG_ENV = "TERMADAPT_DEBUG"


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a CLI command whose errors become one line on stderr and an exit code.

    A :class:`TermadaptError` or ``OSError`` is the user's to fix (exit 1); any other
    exception is a bug in termadapt (exit 4, traceback with ``TERMADAPT_DEBUG=1``).
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
                raise  # typer's own exits and usage errors keep their codes
            except TermadaptError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(EXIT_USER_ERROR) from None
            except KeyboardInterrupt:
                typer.echo("interrupted: finished work is kept; run the same command again to resume", err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except OSError as exc:  # the machine refused: permissions, a full disk, a vanished file
                where = f"{exc.filename}: " if exc.filename else ""
                typer.echo(
                    f"error: {where}{exc.strerror or exc} — check the path, its permissions and free space", err=True
                )
                raise typer.Exit(EXIT_USER_ERROR) from None
            except Exception as exc:
                if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                    raise
                reason = " ".join(str(exc).split())[:300]
                typer.echo(
                    f"internal error: {type(exc).__name__}: {reason} — this is a bug in termadapt; "
                    f"re-run with {DEBUG_ENV}=1 for the traceback and report it",
                    err=True,
                )
                raise typer.Exit(EXIT_INTERNAL_ERROR) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"termadapt {__version__}")
        raise typer.Exit()


# Set before the libraries are imported (they read them once): their own progress bars and
# advisory warnings off, so each stage shows termadapt's one bar and one summary line.
QUIET_LIBRARIES = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # "Generating/Casting/Saving the dataset" per split
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' "Loading weights" / "Writing model shards"
    "TRANSFORMERS_VERBOSITY": "error",  # generation-config and tied-weight notices
}


def quiet_libraries(verbose: bool) -> None:
    """Silence third-party progress bars and notices unless ``verbose`` (a user's own setting wins)."""
    if verbose:
        return
    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also show the progress bars and notices of datasets and transformers."
    ),
) -> None:
    """Teach Whisper new vocabulary from a term dictionary, and prove nothing else was forgotten."""
    quiet_libraries(verbose)
