"""The frozen encoder's stored outputs: built once, exact enough, keyed by weights and features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from termadapt.errors import TermadaptError
from termadapt.training.data import SpeechCollator
from termadapt.training.encoder_cache import EncoderCache, cache_name, precompute_applies


def test_precompute_applies_only_when_encoder_is_fixed(tiny_model):
    model = tiny_model[0]
    assert precompute_applies(model, "encoder")[0]
    assert precompute_applies(model, "lora")[0]
    ok, why = precompute_applies(model, "none")
    assert not ok and "encoder is trained" in why
    assert not precompute_applies(model, "encoder", augment_on_the_fly=True)[0]


@pytest.mark.parametrize("dtype,atol", [("float32", 0.0), ("float16", 2e-3)])
def test_encoder_cache_stores_encoder_outputs(tmp_path, tiny_model, dtype, atol):
    import copy

    model, proc = tiny_model
    rng = np.random.default_rng(0)
    clips = {f"k{i}": (0.1 * rng.standard_normal(16000 + 800 * i)).astype(np.float32) for i in range(3)}
    feats = SpeechCollator(proc.feature_extractor).features
    efp, fp = cache_name(model, proc.feature_extractor)
    cache = EncoderCache(tmp_path, efp, fp, dtype=dtype)
    assert cache.build(model, list(clips), clips.__getitem__, feats, progress=False) == 3
    assert cache.build(model, list(clips), clips.__getitem__, feats, progress=False) == 0  # nothing left to do
    again = EncoderCache(tmp_path, efp, fp, dtype=dtype)  # a new process finds the shards
    assert len(again) == 3
    with torch.no_grad():
        want = model.get_encoder()(feats([clips["k2"], clips["k0"]])).last_hidden_state
    got = again.load(["k2", "k0"])
    assert got.dtype == torch.float32 and torch.allclose(got, want, atol=atol, rtol=0)
    # Different encoder weights -> different fingerprint -> never reused.
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.model.encoder.layers[0].fc1.weight.add_(1e-3)
    assert cache_name(other, proc.feature_extractor)[1] != fp
    other_features = copy.deepcopy(proc.feature_extractor)
    other_features.n_fft = 512
    assert cache_name(model, other_features) == (efp, cache_name(model, other_features)[1]) != (efp, fp)
    assert again.covers(["k0", "k2"]) and not again.covers(["k0", "nope"]) and again.tag == f"stored-{dtype}"
    # A truncated shard (killed mid-write) is dropped and rebuilt.
    shard = next((tmp_path / f"{fp}-{dtype}").glob("shard-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:100])
    assert len(EncoderCache(tmp_path, efp, fp, dtype=dtype)) == 0
    with pytest.raises(TermadaptError, match="no stored output"):
        EncoderCache(tmp_path, efp, fp, dtype=dtype).load(["k0"])


def test_outputs_computed_in_bf16_are_stored_apart_and_close_to_fp32(tmp_path, tiny_model):
    model, proc = tiny_model
    rng = np.random.default_rng(1)
    clips = {f"k{i}": (0.1 * rng.standard_normal(12000 + 800 * i)).astype(np.float32) for i in range(2)}
    feats = SpeechCollator(proc.feature_extractor).features
    efp, fp = cache_name(model, proc.feature_extractor)
    exact = EncoderCache(tmp_path, efp, fp, dtype="float32")
    low = EncoderCache(tmp_path, efp, fp, dtype="float32", compute="bf16")
    assert low.dir != exact.dir and low.dir.name.endswith("-float32-bf16")
    assert (exact.tag, low.tag) == ("stored-float32", "stored-float32-bf16")  # transcripts cached apart
    for cache in (exact, low):
        assert cache.build(model, list(clips), clips.__getitem__, feats, progress=False) == 2
    a, b = exact.load(["k0", "k1"]), low.load(["k0", "k1"])
    assert not torch.equal(a, b)  # the encoder really ran in bf16
    assert ((a - b).norm() / a.norm()).item() < 0.05
