"""Training samples: rows of the run's dataset, their audio, and the batches the Trainer sees.

- :class:`TrainRow` is one sample (which split and row its audio is in, its labels, whether
  it is replay speech);
- :class:`RowDataset` serves them to the Trainer, decoding audio lazily (or not at all when
  the frozen encoder's outputs are stored);
- :class:`SpeechCollator` pads labels with -100 and adds either log-mel features or the
  stored encoder outputs (:mod:`.encoder_cache`).

Which rows there are, and how batches mix them, is the guards' business (:mod:`.guards`).

Reads: undecoded dataset splits. Writes: nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import decode_cell
from ..decoding.hf import log_mel
from .labels import IGNORE_INDEX

__all__ = ["TrainRow", "RowDataset", "SpeechCollator"]


@dataclass
class TrainRow:
    """One training sample: where its audio is, its labels and whether it is replay speech."""

    split: str
    index: int  # row in the split
    key: str  # content key of the audio (termadapt.audio.cell_key)
    labels: list[int]
    replay: bool
    text: str
    duration: float


class RowDataset:
    """Map-style dataset over :class:`TrainRow` s; audio is decoded lazily from the splits.

    Items are dicts with ``labels``, ``replay`` (0/1), ``key`` and, unless ``with_audio`` is
    off (stored encoder outputs are used instead), ``audio`` (float32 samples).
    """

    def __init__(self, rows: Sequence[TrainRow], splits: dict[str, Any], with_audio: bool = True) -> None:
        self.rows = list(rows)
        self.splits = splits  # split name -> datasets.Dataset with Audio(decode=False)
        self.with_audio = with_audio

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.rows[i]
        item: dict[str, Any] = {"labels": row.labels, "replay": int(row.replay), "key": row.key}
        if self.with_audio:
            cell = self.splits[row.split][row.index]["audio"]
            item["audio"] = decode_cell(cell, f"dataset/{row.split}[{row.index}]")
        return item

    @property
    def n_term(self) -> int:
        return sum(1 for r in self.rows if not r.replay)


class SpeechCollator:
    """Pad labels with -100 and add model inputs: log-mel features or stored encoder outputs.

    Args:
        feature_extractor: The processor's ``WhisperFeatureExtractor``.
        encoder_cache: An :class:`~.encoder_cache.EncoderCache`; when given, batches
            carry ``encoder_hidden`` (float32) instead of ``input_features``.
    """

    def __init__(self, feature_extractor: Any, encoder_cache: Any = None, pad_id: int = IGNORE_INDEX) -> None:
        self.feature_extractor = feature_extractor
        self.encoder_cache = encoder_cache
        self.pad_id = pad_id

    def features(self, audios: Sequence[np.ndarray]) -> Any:
        """Log-mel features ``[batch, mels, 3000]`` of 16 kHz clips (:func:`termadapt.decoding.hf.log_mel`)."""
        return log_mel(self.feature_extractor, audios)

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(it["labels"]) for it in items)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for i, it in enumerate(items):
            labels[i, : len(it["labels"])] = torch.tensor(it["labels"], dtype=torch.long)
        batch: dict[str, Any] = {
            "labels": labels,
            "replay_mask": torch.tensor([bool(it["replay"]) for it in items]),
        }
        if self.encoder_cache is not None:
            batch["encoder_hidden"] = self.encoder_cache.load([it["key"] for it in items])
        else:
            batch["input_features"] = self.features([it["audio"] for it in items])
        return batch
