"""The one decoder: same transcripts as a plain generate per clip, shared encoder passes, one cache."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from termadapt.decoding import DecodeOptions, HypothesisCache, TransformersBackend, decode, make_condition
from termadapt.decoding.cache import model_fingerprint, module_fingerprint
from termadapt.scoring.records import EvalClip

TEXTS = ["今日は晴れました。", "駅前で待ち合わせです。", "心電図を確認します。"]
OPTS = DecodeOptions(max_new_tokens=6)


@pytest.fixture(scope="module")
def clips(ja_speech):
    out = []
    for i, text in enumerate(TEXTS):
        audio = ja_speech(text, 1.0)
        out.append(EvalClip(set="general", index=i, audio_key=f"clip{i}", audio=audio, text=text, utterance_id=f"u{i}"))
    return out


def _reference(model, processor, clips, options):
    """One ``generate(input_features)`` per clip: the plain transformers call."""
    out = []
    for clip in clips:
        feats = processor.feature_extractor([clip.audio], sampling_rate=16000, return_tensors="pt").input_features
        with torch.inference_mode():
            ids = model.generate(
                input_features=feats,
                language=options.language,
                task=options.task,
                max_new_tokens=options.max_new_tokens,
                do_sample=False,
            )
        out.append(processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip())
    return out


def _adapted(model):
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.model.decoder.layers[0].parameters():
            p.add_(0.5)
    return other


def test_batched_shared_encoder_decode_equals_one_generate_per_clip(tiny_model, clips):
    model, processor = tiny_model
    adapted = _adapted(model)
    conds = [make_condition("base", model, processor, OPTS), make_condition("adapted", adapted, processor, OPTS)]
    assert conds[0].encoder_fingerprint == conds[1].encoder_fingerprint != ""
    result = decode(conds, clips, None, TransformersBackend(), batch_size=2)
    assert result.texts["base"] == _reference(model, processor, clips, OPTS)
    assert result.texts["adapted"] == _reference(adapted, processor, clips, OPTS)
    assert result.texts["base"] != result.texts["adapted"]
    # one encoder pass per clip serves both conditions
    assert result.stats["encoder_passes"] == len(clips) and result.stats["decoded"] == 2 * len(clips)
    unshared = decode(conds, clips, None, TransformersBackend(), batch_size=2, share_encoder=False)
    assert unshared.stats["encoder_passes"] == 2 * len(clips) and unshared.texts == result.texts


def test_same_model_clip_and_options_are_one_cached_row_whoever_asks(tiny_model, clips, tmp_path, monkeypatch):
    from transformers import WhisperForConditionalGeneration

    model, processor = tiny_model
    cache = HypothesisCache(tmp_path / "hypotheses")
    first = decode([make_condition("validation", model, processor, OPTS)], clips, cache, TransformersBackend())
    calls = []
    real = WhisperForConditionalGeneration.generate
    monkeypatch.setattr(
        WhisperForConditionalGeneration, "generate", lambda self, *a, **k: calls.append(1) or real(self, *a, **k)
    )
    # another stage, another condition name, a fresh cache object on the same folder: nothing is decoded
    again = decode(
        [make_condition("base", model, processor, OPTS)],
        clips,
        HypothesisCache(tmp_path / "hypotheses"),
        TransformersBackend(),
    )
    assert calls == [] and again.texts["base"] == first.texts["validation"] and again.stats["cached"] == len(clips)
    assert [p.name for p in (tmp_path / "hypotheses").iterdir()] == [f"{model_fingerprint(model)}.jsonl"]
    # other options are other rows
    longer = decode(
        [make_condition("base", model, processor, DecodeOptions(max_new_tokens=7))], clips, cache, TransformersBackend()
    )
    assert len(calls) > 0 and longer.stats["decoded"] == len(clips)


class _Stored:
    """Stored encoder outputs of some clips (what the training stage's cache offers)."""

    tag = "stored-float16"

    def __init__(self, model, processor, clips):
        self.encoder_fingerprint = module_fingerprint(model.get_encoder())
        backend = TransformersBackend()
        cond = make_condition("x", model, processor, OPTS)
        self.outputs = {c.audio_key: backend.encode(cond, [c.audio])[0].half() for c in clips}
        self.loads = 0

    def covers(self, keys):
        return all(k in self.outputs for k in keys)

    def load(self, keys):
        self.loads += 1
        return torch.stack([self.outputs[k] for k in keys]).float()


def test_stored_encoder_outputs_are_used_and_cached_apart(tiny_model, clips, tmp_path):
    model, processor = tiny_model
    stored = _Stored(model, processor, clips)
    cache = HypothesisCache(tmp_path)
    cond = make_condition("validation", model, processor, OPTS)
    fresh = decode([cond], clips, cache, TransformersBackend())
    from_store = decode([cond], clips, cache, TransformersBackend(), encoder_outputs=stored)
    assert stored.loads == 1 and from_store.stats["encoder_passes"] == 0 and from_store.stats["decoded"] == len(clips)
    assert fresh.stats["encoder_passes"] == len(clips)
    # a store that does not cover every clip, or holds another encoder, is not used
    partial = _Stored(model, processor, clips[:1])
    other = decode([cond], clips, HypothesisCache(None), TransformersBackend(), encoder_outputs=partial)
    assert partial.loads == 0 and other.stats["encoder_passes"] == len(clips)


def test_model_fingerprint_follows_weights_and_generation_settings(tiny_model):
    model, _ = tiny_model
    fp = model_fingerprint(model)
    twin = copy.deepcopy(model)
    twin.generation_config.language, twin.generation_config.task = "ja", "transcribe"  # passed explicitly anyway
    assert model_fingerprint(twin) == fp
    twin.generation_config.suppress_tokens = [1, 2, 3]
    assert model_fingerprint(twin) != fp
    changed = _adapted(model)
    assert model_fingerprint(changed) != fp
    assert module_fingerprint(changed.get_encoder()) == module_fingerprint(model.get_encoder())


def test_clips_are_decoded_only_when_needed(tiny_model, tmp_path):
    model, processor = tiny_model

    class Lazy:
        def __init__(self, i):
            self.audio_key, self.clip_id, self.read = f"lazy{i}", f"lazy/{i}", 0

        def samples(self):
            self.read += 1
            return np.zeros(16000, np.float32)

    lazy = [Lazy(i) for i in range(3)]
    cond = make_condition("c", model, processor, OPTS)
    decode([cond], lazy, HypothesisCache(tmp_path), TransformersBackend())
    decode([cond], lazy, HypothesisCache(tmp_path), TransformersBackend())
    assert [c.read for c in lazy] == [1, 1, 1]  # the second decode found every transcript cached


def test_bf16_decodes_with_a_bf16_copy_and_is_cached_apart_from_fp32(tiny_model, clips, tmp_path):
    model, processor = tiny_model
    cond = make_condition("base", model, processor, OPTS)
    fp32, bf16 = TransformersBackend(), TransformersBackend("bf16")
    assert fp32.tag(cond) == "transformers:cpu:float32"
    assert bf16.tag(cond) == "transformers:cpu:float32:as-bf16"
    seen = []
    hook = model.proj_out.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        cache = HypothesisCache(tmp_path / "hyp")
        exact = decode([cond], clips, cache, fp32, batch_size=2)
        assert set(seen) == {torch.float32}
        seen.clear()
        low = decode([cond], clips, cache, bf16, batch_size=2)
    finally:
        hook.remove()
    assert set(seen) == {torch.bfloat16}  # every decoder step ran in bf16 (the copy keeps the hook)
    assert next(model.parameters()).dtype == torch.float32  # the model itself is untouched
    assert low.stats["decoded"] == len(clips) and low.stats["cached"] == 0  # not fp32's transcripts
    assert len(low.texts["base"]) == len(exact.texts["base"]) == len(clips)
    assert all(isinstance(t, str) for t in low.texts["base"])
    # Weights already in a low precision run as they are: no copy, their own tag.
    half = make_condition("half", copy.deepcopy(model).to(torch.bfloat16), processor, OPTS)
    assert bf16.tag(half) == fp32.tag(half) == "transformers:cpu:bfloat16"
