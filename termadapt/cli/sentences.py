"""CLI commands: sentences preview (see termadapt/cli/__init__.py)."""

from __future__ import annotations

from ._app import app, command  # noqa: F401
