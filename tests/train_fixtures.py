"""Tiny run directories for the training tests: a DatasetDict of real OpenJTalk speech.

Used by tests/test_train.py, tests/test_train_data.py and the DDP worker script; the audio
comes from ``conftest.synthesize_ja`` (OpenJTalk, 16 kHz), stored as WAV bytes in a
``datasets.Audio`` column exactly as the dataset stage stores it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

__all__ = ["SENTENCES", "build_run_dir", "tiny_recipe"]

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


def _wav_bytes(samples: Any) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def build_run_dir(run_dir: Path, speak: Any, rows: list[tuple] | None = None) -> Path:
    """Write ``run_dir/dataset`` (splits train, general_train, validation) and return run_dir."""
    import datasets

    by_split: dict[str, dict[str, list]] = {}
    for i, (split, kind, text, terms, decides) in enumerate(rows or SENTENCES):
        audio = speak(text, 1.0 if split != "validation" else 1.2)
        cols = by_split.setdefault(
            split,
            {
                k: []
                for k in (
                    "audio",
                    "text",
                    "kind",
                    "voice",
                    "held_out",
                    "terms",
                    "utterance_id",
                    "homophone_of",
                    "decides",
                    "duration",
                )
            },
        )
        cols["audio"].append({"bytes": _wav_bytes(audio), "path": None})
        cols["text"].append(text)
        cols["kind"].append(kind)
        cols["voice"].append("openjtalk:mei_normal")
        cols["held_out"].append(split == "validation")
        cols["terms"].append(list(terms))
        cols["utterance_id"].append(f"u{i}")
        cols["homophone_of"].append("動悸" if kind == "homophone" else "")
        cols["decides"].append(decides)
        cols["duration"].append(len(audio) / 16000)
    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=16000),
            "text": datasets.Value("string"),
            "kind": datasets.Value("string"),
            "voice": datasets.Value("string"),
            "held_out": datasets.Value("bool"),
            "terms": datasets.List(datasets.Value("string")),
            "utterance_id": datasets.Value("string"),
            "homophone_of": datasets.Value("string"),
            "decides": datasets.Value("int8"),
            "duration": datasets.Value("float32"),
        }
    )
    # from_dict without features keeps audio as a plain {bytes, path} struct; the cast to
    # datasets.Audio then needs no audio encoder (torchcodec is not installed here).
    dd = datasets.DatasetDict(
        {name: datasets.Dataset.from_dict(cols).cast(features) for name, cols in by_split.items()}
    )
    dd.save_to_disk(str(run_dir / "dataset"))
    return run_dir


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
