"""The one hypothesis cache and the one weight fingerprint.

Every decode of termadapt (validation during training, the merge α sweep, evaluation,
``transcribe``) looks its transcripts up here first. A transcript is keyed by

- the model's :func:`model_fingerprint` (weights and generation settings),
- the clip's content key (:func:`termadapt.audio.cell_key`),
- the decode options (:meth:`~termadapt.decoding.core.DecodeOptions.key`), the backend and
  its numeric setting (device, dtype or compute type), and where the encoder output came
  from (computed now, or stored in float16 by training),

so the same model, clip and options give the same cached row whichever stage asked first:
the base model's validation transcripts written during training are the merge sweep's
α = 0, the best checkpoint's are its α = 1. A changed model decodes everything again.

Storage: ``<root>/<fingerprint>.jsonl``, one JSON object a line (``key``, ``clip``, ``hyp``),
appended and flushed after every batch, so an interrupted decode resumes where it stopped;
a torn last line is ignored when reading.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FINGERPRINT_CHARS", "HypothesisCache", "module_fingerprint", "model_fingerprint", "row_key"]

# Hex digits of a fingerprint: 64 bits, no collisions among the models a machine sees.
FINGERPRINT_CHARS = 16
# Generation-config fields that do not change a greedy transcript when language and task
# are passed explicitly (as every decode here does), or that only record versions.
_GENERATION_IGNORED = ("language", "task", "forced_decoder_ids", "transformers_version", "_from_model_config")


def module_fingerprint(module: Any) -> str:
    """SHA-256 (16 hex digits) of a torch module's state dict: names, dtypes, shapes, bytes."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:FINGERPRINT_CHARS]


def model_fingerprint(model: Any) -> str:
    """Fingerprint of what a Whisper model transcribes with: its weights and generation settings."""
    config = getattr(model, "generation_config", None)
    settings = {
        k: v for k, v in (config.to_dict() if config is not None else {}).items() if k not in _GENERATION_IGNORED
    }
    extra = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(f"{module_fingerprint(model)}|{extra}".encode()).hexdigest()[:FINGERPRINT_CHARS]


def row_key(audio_key: str, *parts: str) -> str:
    """The cache key of one transcript within a model's file."""
    return hashlib.sha256("|".join((audio_key, *parts)).encode()).hexdigest()[:32]


class HypothesisCache:
    """Cached transcripts, one file per model fingerprint (see the module docstring).

    Args:
        root: Folder of the files (a run's ``hypotheses/``); None keeps them in memory only.
    """

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root) if root is not None else None
        self._rows: dict[str, dict[str, str]] = {}

    def _path(self, fingerprint: str) -> Path | None:
        return self.root / f"{fingerprint}.jsonl" if self.root is not None else None

    def _model(self, fingerprint: str) -> dict[str, str]:
        rows = self._rows.get(fingerprint)
        if rows is None:
            rows = self._rows[fingerprint] = {}
            path = self._path(fingerprint)
            if path is not None and path.is_file():
                with open(path, encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            row = json.loads(line)
                            rows[row["key"]] = row["hyp"]
                        except (json.JSONDecodeError, KeyError, TypeError):
                            continue  # a line cut by an interruption
        return rows

    def get(self, fingerprint: str, key: str) -> str | None:
        """The cached transcript, or None."""
        return self._model(fingerprint).get(key)

    def put(self, fingerprint: str, rows: Sequence[tuple[str, str, str]]) -> None:
        """Store ``(key, clip_id, hyp)`` rows of one model and flush them to disk."""
        if not rows:
            return
        known = self._model(fingerprint)
        for key, _, hyp in rows:
            known[key] = hyp
        path = self._path(fingerprint)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            for key, clip_id, hyp in rows:
                fh.write(json.dumps({"key": key, "clip": clip_id, "hyp": hyp}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
