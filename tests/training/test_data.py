"""Training samples: the collator's labels and features."""

from __future__ import annotations

import numpy as np

from termadapt.training.data import SpeechCollator
from termadapt.training.labels import IGNORE_INDEX


def test_collator_pads_labels_and_computes_features(tiny_model):
    proc = tiny_model[1]
    c = SpeechCollator(proc.feature_extractor)
    items = [
        {"labels": [1, 2, 3], "replay": 0, "key": "a", "audio": np.zeros(8000, np.float32)},
        {"labels": [4], "replay": 1, "key": "b", "audio": np.zeros(16000, np.float32)},
    ]
    b = c(items)
    assert b["labels"].tolist() == [[1, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    assert b["replay_mask"].tolist() == [False, True]
    assert tuple(b["input_features"].shape) == (2, 80, 3000)
