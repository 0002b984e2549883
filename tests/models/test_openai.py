"""openai-whisper checkpoint export/import (tiny model)."""

from __future__ import annotations

import pytest
import torch

from termadapt.errors import TermadaptError
from termadapt.models import resolve_model
from termadapt.models.export import export_openai
from termadapt.models.openai import hf_to_openai_key, openai_to_hf_key

# Key names of openai-whisper's model.py (whisper/model.py: AudioEncoder, TextDecoder,
# ResidualAttentionBlock), for one encoder and one decoder block.
OPENAI_KEYS = {
    "encoder.conv1.weight",
    "encoder.conv1.bias",
    "encoder.conv2.weight",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "encoder.ln_post.weight",
    "encoder.ln_post.bias",
    "encoder.blocks.0.attn.query.weight",
    "encoder.blocks.0.attn.query.bias",
    "encoder.blocks.0.attn.key.weight",
    "encoder.blocks.0.attn.value.weight",
    "encoder.blocks.0.attn.value.bias",
    "encoder.blocks.0.attn.out.weight",
    "encoder.blocks.0.attn.out.bias",
    "encoder.blocks.0.attn_ln.weight",
    "encoder.blocks.0.attn_ln.bias",
    "encoder.blocks.0.mlp.0.weight",
    "encoder.blocks.0.mlp.0.bias",
    "encoder.blocks.0.mlp.2.weight",
    "encoder.blocks.0.mlp.2.bias",
    "encoder.blocks.0.mlp_ln.weight",
    "encoder.blocks.0.mlp_ln.bias",
    "decoder.token_embedding.weight",
    "decoder.positional_embedding",
    "decoder.ln.weight",
    "decoder.ln.bias",
    "decoder.blocks.0.cross_attn.query.weight",
    "decoder.blocks.0.cross_attn.query.bias",
    "decoder.blocks.0.cross_attn.key.weight",
    "decoder.blocks.0.cross_attn.value.weight",
    "decoder.blocks.0.cross_attn.value.bias",
    "decoder.blocks.0.cross_attn.out.weight",
    "decoder.blocks.0.cross_attn.out.bias",
    "decoder.blocks.0.cross_attn_ln.weight",
    "decoder.blocks.0.cross_attn_ln.bias",
    "decoder.blocks.0.attn.query.weight",
    "decoder.blocks.0.attn_ln.bias",
    "decoder.blocks.0.mlp.2.bias",
}


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    model, processor = tiny_model
    return export_openai(model, processor, tmp_path_factory.mktemp("oa") / "tiny.pt")


def test_checkpoint_layout_loads_weights_only(tiny_model, exported):
    model, _ = tiny_model
    ckpt = torch.load(exported, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"dims", "model_state_dict"}
    assert ckpt["dims"] == {
        "n_mels": 80,
        "n_vocab": 51865,
        "n_audio_ctx": 1500,
        "n_audio_state": 64,
        "n_audio_head": 4,
        "n_audio_layer": 2,
        "n_text_ctx": 448,
        "n_text_state": 64,
        "n_text_head": 4,
        "n_text_layer": 2,
    }
    keys = set(ckpt["model_state_dict"])
    assert OPENAI_KEYS <= keys
    assert not any(k.startswith("model.") or "proj_out" in k or "k_proj" in k for k in keys)
    assert len(keys) == len(model.state_dict()) - 1  # all but the tied proj_out
    assert exported.with_suffix(".tokenizer.json").is_file()


def test_hf_openai_hf_round_trip_equal(tiny_model, exported, tmp_path):
    model, _ = tiny_model
    back, processor = resolve_model(exported, cache_dir=tmp_path)
    want, got = model.state_dict(), back.state_dict()
    assert set(want) == set(got)
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert processor.tokenizer.convert_tokens_to_ids("<|ja|>") == 50266


def test_key_mapping_is_a_bijection(tiny_model):
    keys = [k for k in tiny_model[0].state_dict() if k != "proj_out.weight"]
    mapped = [hf_to_openai_key(k) for k in keys]
    assert len(set(mapped)) == len(keys)
    assert [openai_to_hf_key(k) for k in mapped] == keys


def test_loads_into_openai_whisper_strictly(exported):
    whisper_model = pytest.importorskip("whisper.model")
    ckpt = torch.load(exported, map_location="cpu", weights_only=True)
    net = whisper_model.Whisper(whisper_model.ModelDimensions(**ckpt["dims"]))
    net.load_state_dict(ckpt["model_state_dict"], strict=True)


def test_bad_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TermadaptError, match="not a loadable openai-whisper checkpoint") as info:
        resolve_model(bad, cache_dir=tmp_path / "cache")
    assert "\n" not in str(info.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(TermadaptError, match="expected a dict with 'dims'"):
        resolve_model(other, cache_dir=tmp_path / "cache")
