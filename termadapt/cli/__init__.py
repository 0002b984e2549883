"""Command-line interface: thin wrappers that parse flags and call stage functions.

Each submodule registers the commands of one part of the pipeline on the shared ``app``;
heavy libraries (torch, transformers) are imported inside the commands so that
``termadapt --help`` stays fast.
"""

from __future__ import annotations

from . import evaluate, merge, models, pipeline, sentences, synth, terms, train  # noqa: F401,E402  (register commands)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
