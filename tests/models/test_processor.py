"""Offline processor building, tokenizer checks and the tiny test model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from termadapt.errors import TermadaptError
from termadapt.models.processor import build_processor, build_tokenizer, offline_base_files


def test_control_token_ids_and_specials(tiny_model):
    _, processor = tiny_model
    tok = processor.tokenizer
    ids = tok.convert_tokens_to_ids(["<|startoftranscript|>", "<|ja|>", "<|transcribe|>", "<|notimestamps|>"])
    assert ids == [50258, 50266, 50359, 50363]
    assert len(tok.all_special_ids) == 107 and tok.all_special_ids[-1] == 50363
    assert tok.encode(" the", add_special_tokens=False) == [264]
    labels = tok("東京タワー").input_ids
    assert labels[:4] == [50258, 50266, 50359, 50363] and labels[-1] == 50257
    assert tok.decode(labels, skip_special_tokens=True) == "東京タワー"
    # Special tokens must not be read as timestamps when decoding with offsets.
    decoded = tok.decode(
        [50258, 50266, 50364, *tok.encode("東京", add_special_tokens=False), 50414], output_offsets=True
    )
    assert decoded["offsets"] == [{"text": "東京", "timestamp": (0.0, 1.0)}]


def _doctored(tmp_path, edit):
    data = json.loads(offline_base_files()["tokenizer"].read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_broken_merge_tokenizer_is_rejected(tmp_path):
    def drop_merge(data):
        data["model"]["merges"] = [m for m in data["model"]["merges"] if m not in (["Ġ", "t"], "Ġ t")]

    path = _doctored(tmp_path, drop_merge)
    with pytest.raises(TermadaptError, match=r"' the' encodes to \[220, 3322\].*merges are broken"):
        build_processor(path)
    # Unchecked it still loads, and shows the defect the check exists for.
    tok = build_tokenizer(path, check=False)
    assert tok.encode(" the", add_special_tokens=False) == [220, 3322]


def test_tokenizer_without_control_tokens_is_rejected(tmp_path):
    def drop_specials(data):
        data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "<|notimestamps|>"]

    with pytest.raises(TermadaptError, match="not a multilingual Whisper tokenizer"):
        build_processor(_doctored(tmp_path, drop_specials))
    with pytest.raises(TermadaptError, match="tokenizer.json not found"):
        build_processor(tmp_path / "missing.json")


def test_tiny_model_is_deterministic_and_generates_japanese_prompt(tiny_model):
    from termadapt.models.tiny import build_tiny_model

    model, processor = tiny_model
    other, _ = build_tiny_model(seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    different, _ = build_tiny_model(seed=1)
    assert not torch.equal(model.proj_out.weight, different.proj_out.weight)
    assert model.config.d_model == 64 and model.config.vocab_size == 51865
    feats = processor.feature_extractor(
        np.zeros(16000, np.float32), sampling_rate=16000, return_tensors="pt"
    ).input_features
    assert feats.shape == (1, 80, 3000)
    with torch.no_grad():
        out = model.generate(
            feats, language="ja", task="transcribe", max_new_tokens=3, return_dict_in_generate=True, output_scores=True
        )
    # The forced prompt <|startoftranscript|><|ja|><|transcribe|><|notimestamps|> + 3 tokens.
    assert out.sequences[0, :4].tolist() == [50258, 50266, 50359, 50363]
    assert out.sequences.shape[-1] == 7 and len(out.scores) == 3
    assert processor.get_decoder_prompt_ids(language="ja", task="transcribe") == [(1, 50266), (2, 50359), (3, 50363)]


def test_tiny_model_dir_saves_and_loads(tiny_model, tiny_model_dir):
    from termadapt.models import resolve_model

    model, processor = resolve_model(str(tiny_model_dir))
    assert model.generation_config.lang_to_id["<|ja|>"] == 50266
    assert model.generation_config.no_timestamps_token_id == 50363
    assert len(processor.tokenizer.all_special_ids) == 107
    assert torch.equal(model.model.decoder.embed_tokens.weight, tiny_model[0].model.decoder.embed_tokens.weight)
