"""Converted models in the cache: ``<cache root>/models/<key>/`` (:mod:`termadapt.cache`).

Converted models are stored as transformers directories, where
``key`` hashes the source's content and the converter version, so a changed source or a
fixed converter never reuses a stale conversion. Entries are published by renaming a
finished temporary directory, so an interrupted conversion leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..cache import cache_dir as _cache_dir
from ..records import shareable

__all__ = ["CONVERTER_VERSION", "models_dir", "source_key", "cached_dir"]

# Bump when a conversion changes its output, so old cache entries are not reused.
CONVERTER_VERSION = "1"
# Hash chunk: 4 MiB keeps hashing a 145 MB model at disk speed with little memory.
_CHUNK = 4 << 20


def models_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<cache root>/models`` (``cache_dir`` overrides the root)."""
    return _cache_dir("models", cache_dir)


def source_key(files: Iterable[str | os.PathLike[str]], extra: str = "") -> str:
    """Hash the bytes of ``files`` (in order, each with its length) plus ``extra``.

    Returns:
        A 24-hex-digit key, stable across machines for identical sources.
    """
    h = hashlib.sha256(f"termadapt-convert-{CONVERTER_VERSION}|{extra}".encode())
    for name in files:
        path = Path(name)
        h.update(f"|{path.name}|{path.stat().st_size}|".encode())
        with open(path, "rb") as fh:
            while block := fh.read(_CHUNK):
                h.update(block)
    return h.hexdigest()[:24]


def cached_dir(key: str, build: Callable[[Path], None], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<cache>/models/<key>``, calling ``build(tmp_dir)`` first if it is missing.

    ``build`` writes a complete model directory into ``tmp_dir``; it is renamed into place
    only after it returns, and a ``.complete`` marker is written last.
    """
    final = models_dir(cache_dir) / key
    if (final / ".complete").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text(CONVERTER_VERSION + "\n", encoding="utf-8")
        shareable(tmp)  # mkdtemp makes it private; a shared cache must be readable
        if final.exists():  # an incomplete leftover, or a concurrent build that finished first
            if (final / ".complete").is_file():
                return final
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
