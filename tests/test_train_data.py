"""Labels, replay sampler, collator, audio decoding and the encoder cache (no training)."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import torch

from termadapt.encoder_cache import EncoderCache, encoder_fingerprint, precompute_applies
from termadapt.errors import TermadaptError
from termadapt.train import default_learning_rate
from termadapt.train_data import (
    IGNORE_INDEX,
    ReplayMixSampler,
    SpeechCollator,
    choose_timestamped,
    clip_key,
    decode_audio,
    make_labels,
    prompt_tokens,
    timestamp_token,
)


@pytest.fixture(scope="module")
def tok(tiny_model):
    return tiny_model[1].tokenizer


def test_labels_have_prefix_without_start_token(tok, tiny_model):
    from transformers.models.whisper.modeling_whisper import shift_tokens_right

    model = tiny_model[0]
    t = prompt_tokens(tok)
    assert (t.start, t.language, t.task, t.no_timestamps, t.end) == (50258, 50266, 50359, 50363, 50257)
    labels = make_labels("痙攣が起きました", tok, t)
    assert labels[:3] == [50266, 50359, 50363] and labels[-1] == 50257
    assert 50258 not in labels
    assert tok.decode(labels[3:-1]) == "痙攣が起きました"
    # The model shifts right and inserts <|startoftranscript|>: the decoder sees the full prompt.
    dec = shift_tokens_right(torch.tensor([labels]), model.config.pad_token_id, model.config.decoder_start_token_id)
    assert dec[0, :4].tolist() == [50258, 50266, 50359, 50363]
    # The tokenizer's own prompt agrees with ours.
    full = tok("痙攣が起きました").input_ids
    assert full == [50258, *labels]


def test_timestamp_labels_use_clip_duration(tok):
    t = prompt_tokens(tok)
    labels = make_labels("心電図", tok, t, duration=1.234, timestamps=True)
    assert labels[:3] == [50266, 50359, t.timestamp_begin]
    assert t.timestamp_begin == tok.convert_tokens_to_ids("<|0.00|>")
    assert labels[-2] == t.timestamp_begin + 62 == tok.convert_tokens_to_ids("<|1.24|>")
    assert 50363 not in labels and labels[-1] == 50257
    assert timestamp_token(45.0, t) == tok.convert_tokens_to_ids("<|30.00|>")
    with pytest.raises(TermadaptError, match="duration"):
        make_labels("心電図", tok, t, timestamps=True)


def test_too_long_labels_are_one_line_errors(tok):
    with pytest.raises(TermadaptError, match="too long"):
        make_labels("痙攣、心電図。" * 120, tok, prompt_tokens(tok))


def test_choose_timestamped_is_seeded_share():
    keys = [f"k{i}" for i in range(100)]
    a = choose_timestamped(keys, 0.3, seed=1)
    assert sum(a) == 30 and a == choose_timestamped(keys, 0.3, seed=1)
    assert a != choose_timestamped(keys, 0.3, seed=2)
    assert not any(choose_timestamped(keys, 0.0, seed=1))


def test_replay_sampler_mixes_every_batch_and_repeats_per_epoch():
    s = ReplayMixSampler(n_term=10, n_replay=7, batch_size=4, replay_ratio=0.5, seed=3)
    assert (s.n_term_per_batch, s.n_replay_per_batch, s.n_batches) == (2, 2, 5)
    s.set_epoch(0)
    e0 = list(s)
    assert len(e0) == len(s) == 20
    batches = [e0[i:i + 4] for i in range(0, 20, 4)]
    assert all(sum(i >= 10 for i in b) == 2 for b in batches)  # exactly half replay in every batch
    assert sorted(i for i in e0 if i < 10) == list(range(10))  # one pass over the term data
    assert list(s) == e0  # same epoch, same order (resume)
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0
    # Replay is drawn by cycling through the pool: 20 draws over 7 clips use all of them ~evenly.
    counts = Counter(i for i in e0 + e1 if i >= 10)
    assert set(counts) == set(range(10, 17)) and max(counts.values()) - min(counts.values()) <= 1
    # No replay pool: plain shuffled term batches.
    plain = ReplayMixSampler(5, 0, 2, 0.5)
    assert sorted(plain) == list(range(5))
    with pytest.raises(TermadaptError):
        ReplayMixSampler(0, 5, 4, 0.5)


def test_collator_pads_labels_and_computes_features(tiny_model):
    proc = tiny_model[1]
    c = SpeechCollator(proc.feature_extractor)
    items = [{"labels": [1, 2, 3], "replay": 0, "key": "a", "audio": np.zeros(8000, np.float32)},
             {"labels": [4], "replay": 1, "key": "b", "audio": np.zeros(16000, np.float32)}]
    b = c(items)
    assert b["labels"].tolist() == [[1, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    assert b["replay_mask"].tolist() == [False, True]
    assert tuple(b["input_features"].shape) == (2, 80, 3000)


def test_decode_audio_reads_bytes_arrays_and_resamples(tmp_path):
    wave = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, wave, 8000, format="WAV", subtype="FLOAT")
    out = decode_audio({"bytes": buf.getvalue(), "path": None})
    assert out.dtype == np.float32 and len(out) == 16000  # 1 s at 8 kHz -> 16 kHz
    path = tmp_path / "a.wav"
    sf.write(path, wave, 16000)
    assert np.allclose(decode_audio({"bytes": None, "path": str(path)}), wave, atol=1e-4)
    assert np.array_equal(decode_audio({"array": wave, "sampling_rate": 16000}), wave)
    assert clip_key({"bytes": buf.getvalue()}) == clip_key({"bytes": buf.getvalue(), "path": None})
    assert clip_key({"bytes": buf.getvalue()}) != clip_key({"bytes": None, "path": str(path)})
    with pytest.raises(TermadaptError, match="cannot read audio"):
        decode_audio({"bytes": b"not audio", "path": None})


def test_default_learning_rate_is_one_fortieth_of_pretraining():
    cfg = lambda d: type("C", (), {"d_model": d})()  # noqa: E731
    assert default_learning_rate(cfg(512)) == pytest.approx(2.5e-5)  # base (DESIGN.md §9)
    assert default_learning_rate(cfg(384)) == pytest.approx(1.5e-3 / 40)
    assert default_learning_rate(cfg(1024)) == pytest.approx(2.5e-4 / 40)
    assert default_learning_rate(cfg(1280)) == pytest.approx(1.75e-4 / 40)


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
    fp = encoder_fingerprint(model)
    cache = EncoderCache(tmp_path, fp, dtype=dtype)
    assert cache.build(model, list(clips), clips.__getitem__, feats, progress=False) == 3
    assert cache.build(model, list(clips), clips.__getitem__, feats, progress=False) == 0  # nothing left to do
    again = EncoderCache(tmp_path, fp, dtype=dtype)  # a new process finds the shards
    assert len(again) == 3
    with torch.no_grad():
        want = model.get_encoder()(feats([clips["k2"], clips["k0"]])).last_hidden_state
    got = again.load(["k2", "k0"])
    assert got.dtype == torch.float32 and torch.allclose(got, want, atol=atol, rtol=0)
    # Different encoder weights -> different fingerprint -> never reused.
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.model.encoder.layers[0].fc1.weight.add_(1e-3)
    assert encoder_fingerprint(other) != fp
    assert encoder_fingerprint(model, extra="x") != fp
    # A truncated shard (killed mid-write) is dropped and rebuilt.
    shard = next((tmp_path / f"{fp}-{dtype}").glob("shard-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:100])
    assert len(EncoderCache(tmp_path, fp, dtype=dtype)) == 0
    with pytest.raises(TermadaptError, match="no stored output"):
        EncoderCache(tmp_path, fp, dtype=dtype).load(["k0"])


def test_homophone_guard_rows_are_repeated_to_balance_their_term():
    from termadapt.train import homophone_repeats

    rows = [{"kind": "term", "terms": ["蒸留"], "homophone_of": ""} for _ in range(12)]
    rows += [{"kind": "term_alone", "terms": ["汎化"], "homophone_of": ""}]
    rows += [{"kind": "homophone", "terms": [], "homophone_of": "蒸留"} for _ in range(3)]
    rows += [{"kind": "general", "terms": [], "homophone_of": ""}]
    reps = homophone_repeats(rows, balance=1.0)
    assert reps[:13] == [1] * 13 and reps[-1] == 1
    assert reps[13:16] == [4, 4, 4]  # 3 guard rows × 4 ≈ the 12 rows of 蒸留 itself
    assert homophone_repeats(rows, balance=0.5)[13:16] == [2, 2, 2]
    assert homophone_repeats(rows, balance=0.0) == [1] * len(rows)


def test_validation_score_penalizes_cer_rise_and_over_triggering():
    from termadapt.train import Validator

    v = Validator([], {}, None, "ja", "transcribe", 8, cer_weight=10.0)
    v.base = {"general_cer": 0.10}
    clean = {"term_recall": 1.0, "term_total": 10.0, "general_cer": 0.09, "over_triggers": 0.0}
    assert v.score(clean) == 1.0  # CER below base costs nothing
    assert abs(v.score({**clean, "general_cer": 0.12}) - 0.8) < 1e-9  # +2 points × 10
    assert abs(v.score({**clean, "over_triggers": 2.0}) - 0.8) < 1e-9  # 2 invented terms = 2 missed terms of 10
