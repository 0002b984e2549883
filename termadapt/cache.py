"""The one cache root: where termadapt keeps what can be rebuilt but is costly to rebuild.

``$TERMADAPT_CACHE`` if set, else ``$XDG_CACHE_HOME/termadapt``, else ``~/.cache/termadapt``.
Below it, one folder per kind of artifact (:data:`KINDS`): synthesized and imported audio,
converted models, CTranslate2 conversions, the homophone index and the assembled Kokoro
model. Everything in it is keyed by content, so it can be shared by runs and deleted at
any time (the next run rebuilds what it needs).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["KINDS", "cache_root", "cache_dir", "file_lock"]

# Sub-folders of the cache root, one per artifact kind (docs/design.md, "Caches").
KINDS = ("audio", "models", "ct2", "homophones", "kokoro")


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``override`` if given, else the environment default (module docstring)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("TERMADAPT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "termadapt"


def cache_dir(kind: str, override: str | os.PathLike[str] | None = None) -> Path:
    """``<cache root>/<kind>`` for one of :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}: one of {', '.join(KINDS)}")
    return cache_root(override) / kind


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) — across processes and runs.

    For one-time work on shared files (assembling a model, converting one): the first holder
    does it, the others wait and then find it done. The lock is released when the block
    ends, even on an error, or when the process dies.
    """
    import fcntl

    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
