"""Tiny run directories for the training tests: a DatasetDict of real OpenJTalk speech.

Used by the training, merging and evaluation tests; the audio
comes from ``conftest.synthesize_ja`` (OpenJTalk, 16 kHz), stored as WAV bytes in a
``datasets.Audio`` column exactly as the dataset stage stores it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["SENTENCES", "build_run_dir", "save_dataset", "tiny_recipe"]

# (split, kind, text, terms, decides): two terms, a homophone guard, replay and validation.
SENTENCES = [
    ("train", "term", "痙攣が起きました", ["痙攣"], 1),
    ("train", "term", "心電図を確認します", ["心電図"], 1),
    ("train", "term_alone", "痙攣", ["痙攣"], 1),
    ("train", "homophone", "志望動機を話します", [], -1),
    ("general_train", "general", "今日は天気がいい", [], -1),
    ("general_train", "general", "駅前で待ち合わせ", [], -1),
    ("general_train", "general", "お茶を飲みます", [], -1),
    ("validation", "term", "心電図の結果です", ["心電図"], 1),
    ("validation", "term", "痙攣があります", ["痙攣"], 1),
    ("validation", "general", "明日は雨です", [], -1),
    ("validation", "general", "本を読みます", [], -1),
]


def save_dataset(run_dir: Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    """Save ``run_dir/dataset`` with the dataset stage's features (``termadapt.dataset.features``).

    Each row gives ``audio`` (16 kHz samples) and any columns it wants; the other contract
    columns get neutral defaults. Audio is stored as wav bytes: a ``{bytes, path}`` struct cast
    to ``datasets.Audio`` needs no audio encoder (torchcodec is not installed here).
    """
    import datasets

    from termadapt.audio import SAMPLE_RATE, wav_bytes
    from termadapt.dataset import features

    defaults = {
        "text": "",
        "kind": "general",
        "voice": "openjtalk:mei_normal",
        "held_out": True,
        "terms": [],
        "utterance_id": "",
        "homophone_of": "",
        "decides": -1,
        "augment": "",
    }
    parts = {}
    for name, rows in splits.items():
        cols: dict[str, list] = {k: [] for k in features()}
        for row in rows:
            full = {
                **defaults,
                **row,
                "audio": {"bytes": wav_bytes(row["audio"]), "path": None},
                "duration": len(row["audio"]) / SAMPLE_RATE,
            }
            for k in cols:
                cols[k].append(full[k])
        parts[name] = datasets.Dataset.from_dict(cols, features=features(raw_audio=True)).cast(features())
    datasets.DatasetDict(parts).save_to_disk(str(run_dir / "dataset"))
    return run_dir


def build_run_dir(run_dir: Path, speak: Any, rows: list[tuple] | None = None) -> Path:
    """Write ``run_dir/dataset`` (splits train, general_train, validation) and return run_dir."""
    splits: dict[str, list[dict[str, Any]]] = {}
    for i, (split, kind, text, terms, decides) in enumerate(rows or SENTENCES):
        splits.setdefault(split, []).append(
            {
                "audio": speak(text, 1.0 if split != "validation" else 1.2),
                "text": text,
                "kind": kind,
                "held_out": split == "validation",
                "terms": list(terms),
                "utterance_id": f"u{i}",
                "homophone_of": "動悸" if kind == "homophone" else "",
                "decides": decides,
            }
        )
    return save_dataset(run_dir, splits)


def tiny_recipe(model_dir: Path, **train: Any) -> Any:
    """A recipe training ``model_dir`` briefly (small batches, fixed LR) with ``train`` overrides."""
    from termadapt.config import recipe_from_dict

    settings = {
        "batch_size": 4,
        "learning_rate": 1e-3,
        "max_steps": 4,
        "warmup_ratio": 0.0,
        "early_stopping": False,
        "timestamps": True,
        "timestamp_fraction": 0.5,
    }
    settings.update(train)
    # the random tiny model never ends a transcript: a short token cap keeps validation fast
    return recipe_from_dict(
        {
            "name": "tiny",
            "seed": 0,
            "model": {"base": str(model_dir)},
            "train": settings,
            "evaluate": {"max_new_tokens": 16},
        }
    )
