"""Dataset stage: splits and columns per the contract, held-out voice guarantees, stats."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from synth_helpers import make_run

from termadapt.audio import decode_cell
from termadapt.dataset import SPLITS, build_dataset, open_dataset, split_rows, undecoded
from termadapt.errors import TermadaptError
from termadapt.records import Clip, read_jsonl, write_jsonl
from termadapt.speech.synth import synthesize

CONTRACT_COLUMNS = {
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
}


def test_dataset_splits_columns_and_voices(tmp_path):
    recipe, run, _ = make_run(tmp_path)
    synthesize(recipe, run)
    out = build_dataset(recipe, run)
    assert out == run / "dataset" and not list(run.glob(".dataset-*"))
    raw = datasets.load_from_disk(str(out))
    assert tuple(raw) == SPLITS
    assert raw["train"].features["audio"] == datasets.Audio(sampling_rate=16000)
    dd = {name: undecoded(open_dataset(run, "a test"), name) for name in SPLITS}
    for split in SPLITS:
        assert CONTRACT_COLUMNS <= set(dd[split].column_names)
    kinds = {s: sorted(set(dd[s]["kind"])) for s in SPLITS}
    assert kinds == {
        "train": ["homophone", "term", "term_alone"],
        "validation": ["term"],
        "test_terms": ["term"],
        "test_context": [],  # no context sentences held out in these utterances
        "general": ["general", "homophone"],
        "general_train": ["general"],
    }
    for split in ("train", "general_train"):
        assert not any(dd[split]["held_out"]) and set(dd[split]["voice"]) == {"command:train_a", "command:train_b"}
    for split in ("validation", "test_terms", "general"):
        assert all(dd[split]["held_out"]) and set(dd[split]["voice"]) == {"command:held"}
    row = dd["train"].filter(lambda r: r["utterance_id"] == "h1")[0]
    assert row["homophone_of"] == "動悸" and row["decides"] == 1 and row["terms"] == []
    assert dd["general"].filter(lambda r: r["utterance_id"] == "x2")[0]["decides"] == -1
    wav = decode_cell(dd["test_terms"][0]["audio"])
    assert wav.dtype == np.float32 and abs(len(wav) / 16000 - dd["test_terms"][0]["duration"]) < 0.01
    # the rows every later stage reads: contract columns, defaults filled, each clip keyed by content
    rows = split_rows(dd["train"])
    assert len(rows) == 6 and all(len(r["key"]) == 24 and isinstance(r["decides"], int) for r in rows)
    assert len({r["key"] for r in rows}) == 6
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"]["train"]["clips"] == 6 and stats["clips_per_term"]["痙攣"] == {"train": 2, "test_terms": 1}
    assert stats["hours"] > 0 and stats["voice_plan"]["fallback_used"] is False


def test_heldout_clip_in_training_split_is_refused(tmp_path):
    recipe, run, _ = make_run(tmp_path)
    synthesize(recipe, run)
    clips = read_jsonl(run / "synth.jsonl", Clip)
    leaked = [
        Clip(**{**c.__dict__, "held_out": True}) if c.split == "train" and i == 0 else c for i, c in enumerate(clips)
    ]
    write_jsonl(run / "synth.jsonl", leaked)
    with pytest.raises(TermadaptError, match="held-out voice .* train split"):
        build_dataset(recipe, run)
    assert not (run / "dataset").exists()


def test_missing_manifest_is_one_clear_error(tmp_path):
    recipe, run, _ = make_run(tmp_path)
    with pytest.raises(TermadaptError, match="run `termadapt synth"):
        build_dataset(recipe, run)
    with pytest.raises(TermadaptError, match="no dataset for training — run `termadapt dataset RECIPE`"):
        open_dataset(run, "training")


def test_held_out_context_sentences_make_the_generalization_split():
    from termadapt.dataset import split_of
    from termadapt.records import Clip

    def clip(kind, split):
        return Clip("u", "痙攣が続く", kind, split, "kokoro:jf_alpha", True, "a.wav", 1.0, ("痙攣",))

    assert split_of(clip("term_context", "test")) == "test_context"
    assert split_of(clip("term", "test")) == "test_terms"
    assert split_of(clip("term_context", "train")) == "train"
