"""User-facing errors.

Every error a user can cause (bad input file, missing package, unreachable model) is a
:class:`TermadaptError`. The CLI prints ``str(error)`` as one line and exits non-zero; it
never shows a traceback for these.
"""

from __future__ import annotations

__all__ = ["TermadaptError", "DictionaryError", "ConfigError", "MissingDependencyError"]


class TermadaptError(Exception):
    """Base class for errors caused by input or environment, shown as one line."""


class DictionaryError(TermadaptError):
    """A problem in a term dictionary, located to a file and line.

    Attributes:
        path: The dictionary file.
        line: 1-based line number (0 when the problem concerns the whole file).
        message: What is wrong.
        fix: How to fix it.
    """

    def __init__(self, path: str, line: int, message: str, fix: str = "") -> None:
        self.path, self.line, self.message, self.fix = str(path), int(line), message, fix
        super().__init__(self.format())

    def format(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


class ConfigError(TermadaptError):
    """A problem in a recipe (TOML) file: unknown key, wrong type, bad value."""


class MissingDependencyError(TermadaptError):
    """An optional package or resource is missing; the message says what to install."""
