"""The CTranslate2 (faster-whisper) decoding backend: tiny model end to end (fast), real whisper-base (slow)."""

from __future__ import annotations

import hashlib

import pytest
from test_evaluate import ROWS, build_adapted_run, make_recipe

pytest.importorskip("faster_whisper")

SENTENCES = [
    "今日は三日ぶりに晴れました。",
    "駅前の店は六時に閉まります。",
    "新しい本を図書館で借りました。",
    "昨日から痙攣が続いています。",
]
TERMS = ["痙攣", "心電図", "動悸"]


@pytest.fixture(scope="module")
def fw_run(tmp_path_factory, ja_speech, tiny_model):
    """Run dir whose adapted model is the tiny base with a perturbed decoder (encoder shared)."""
    return build_adapted_run(tmp_path_factory.mktemp("fwrun"), ja_speech, tiny_model)


def _conditions(model, processor, max_new_tokens: int):
    from termadapt.decoding import DecodeOptions, build_term_prompt, make_condition

    ids, _ = build_term_prompt(processor, TERMS)
    base = DecodeOptions(max_new_tokens=max_new_tokens)
    prompt = DecodeOptions(max_new_tokens=max_new_tokens, prompt_ids=tuple(ids))
    return [make_condition("base", model, processor, base), make_condition("prompt", model, processor, prompt)]


def _clips(ja_speech, texts):
    from termadapt.scoring.records import EvalClip

    out = []
    for i, text in enumerate(texts):
        audio = ja_speech(text, 1.0)
        out.append(
            EvalClip(
                set="general",
                index=i,
                audio_key=hashlib.sha256(audio.tobytes()).hexdigest(),
                audio=audio,
                text=text,
                utterance_id=f"s{i}",
            )
        )
    return out


def test_backend_end_to_end_caches_and_never_mixes(fw_run, tiny_model, tiny_model_dir, tmp_path, monkeypatch) -> None:
    import faster_whisper
    from transformers import WhisperForConditionalGeneration

    from termadapt.evaluate import evaluate
    from termadapt.report.schema import load_report

    monkeypatch.setenv("TERMADAPT_CACHE", str(tmp_path / "cache"))
    loads = {"n": 0}
    real_init = faster_whisper.WhisperModel.__init__

    def counting_init(self, *a, **k):
        loads["n"] += 1
        real_init(self, *a, **k)

    def no_generate(self, *a, **k):
        raise AssertionError("the faster-whisper backend must not call transformers generate")

    monkeypatch.setattr(faster_whisper.WhisperModel, "__init__", counting_init)
    monkeypatch.setattr(WhisperForConditionalGeneration, "generate", no_generate)
    budget = dict(min_term_recall=0.0, max_general_cer_increase=1e6, max_invented_terms=100, max_homophone_swaps=100)
    recipe = make_recipe(tiny_model_dir, backend="faster-whisper", **budget)
    rep = load_report(evaluate(recipe, fw_run, progress=False))
    assert rep.condition_names()[:3] == ["base", "prompt", "adapted"]
    assert rep.timing["decoded"] == 3 * len(ROWS) and rep.timing["encoder_passes"] == len(ROWS)  # shared encoder
    assert loads["n"] == 2  # base (also serving prompt) and adapted: one CT2 model each
    assert rep.settings["backend"] == "faster-whisper" and rep.settings["ct2_compute_type"] == "float32"
    converted = sorted(p for p in (tmp_path / "cache" / "ct2").iterdir() if p.is_dir())  # not the locks
    assert len(converted) == 2 and all((d / "model.bin").is_file() and (d / ".complete").is_file() for d in converted)
    hyps = [u.hyps for u in rep.utterances]
    assert all(set(h) >= {"base", "prompt", "adapted"} for h in hyps)
    assert any(h["base"] != h["adapted"] for h in hyps)  # the perturbed decoder decodes differently

    # Second run: nothing decoded, no model converted or even loaded.
    loads["n"] = 0
    rep2 = load_report(evaluate(recipe, fw_run, progress=False))
    assert rep2.timing["decoded"] == 0 and rep2.timing["cached"] == 3 * len(ROWS) and loads["n"] == 0
    assert [u.hyps for u in rep2.utterances] == hyps

    # The transformers backend on the same run finds none of these hypotheses in the cache.
    monkeypatch.undo()
    recipe_tf = make_recipe(tiny_model_dir, **budget)
    rep3 = load_report(evaluate(recipe_tf, fw_run, progress=False))
    assert rep3.timing["decoded"] == 3 * len(ROWS) and rep3.timing["cached"] == 0
    # …and int8 is a different decoder again: its cache tag differs from float32's.
    from termadapt.decoding.ct2 import FasterWhisperBackend
    from termadapt.decoding.hf import TransformersBackend

    cond = _conditions(*tiny_model, 4)[0]
    tags = {b.tag(cond) for b in (TransformersBackend(), FasterWhisperBackend("float32"), FasterWhisperBackend("int8"))}
    assert len(tags) == 3


def test_batched_equals_transcribe(tiny_model, ja_speech, tmp_path) -> None:
    """Batched, encoder-shared decoding gives exactly WhisperModel.transcribe()'s text (with and without prompt)."""
    from termadapt.decoding import HypothesisCache, decode
    from termadapt.decoding.ct2 import FasterWhisperBackend, load_fw_models, transcribe_per_clip

    model, processor = tiny_model
    conds = _conditions(model, processor, max_new_tokens=10)
    clips = _clips(ja_speech, SENTENCES[:3])
    models = load_fw_models(conds, cache_dir=tmp_path)
    assert len(models) == 1
    result = decode(conds, clips, HypothesisCache(tmp_path / "hyps"), FasterWhisperBackend(models=models), batch_size=2)
    assert result.stats["decoded"] == 6 and result.stats["encoder_passes"] == 3
    reference, _ = transcribe_per_clip(conds, clips, models)
    assert result.texts == reference
    assert result.texts["base"] != result.texts["prompt"]  # the prompt reaches the decoder
    # faster-whisper's own front end (log-mel padded with zeros) is reproduced too.
    native = decode(
        conds,
        clips,
        HypothesisCache(tmp_path / "hyps"),
        FasterWhisperBackend(models=models, native_features=True),
        batch_size=3,
    )
    assert native.stats["decoded"] == 6  # cached apart from the padded front end's
    reference, _ = transcribe_per_clip(conds, clips, models, native_features=True)
    assert native.texts == reference


def test_bad_compute_type_is_config_error(fw_run, tiny_model_dir) -> None:
    from termadapt.errors import ConfigError
    from termadapt.evaluate import evaluate

    recipe = make_recipe(tiny_model_dir, backend="faster-whisper", ct2_compute_type="float16")
    with pytest.raises(ConfigError, match="evaluate.ct2_compute_type"):
        evaluate(recipe, fw_run, progress=False, device="cpu")


@pytest.mark.slow
def test_real_base_backends_agree(real_base, ja_speech, tmp_path) -> None:
    """Real whisper-base: faster-whisper hypotheses within CER 0.1 of transformers', with and without the prompt."""
    from termadapt.decoding import HypothesisCache, TransformersBackend, decode
    from termadapt.decoding.ct2 import FasterWhisperBackend
    from termadapt.scoring.text import cer

    model, processor = real_base
    clips = _clips(ja_speech, SENTENCES)
    conds = _conditions(model, processor, max_new_tokens=40)
    cache = HypothesisCache(tmp_path / "hyps")  # one cache: the backends' rows never mix
    tf = decode(conds, clips, cache, TransformersBackend(), batch_size=4)
    fw = decode(conds, clips, cache, FasterWhisperBackend(cache_dir=tmp_path / "cache"), batch_size=4)
    assert fw.stats["decoded"] == 2 * len(clips) and fw.stats["encoder_passes"] == len(clips)
    for cond in conds:
        assert cer(tf.texts[cond.name], fw.texts[cond.name]) < 0.1, (tf.texts, fw.texts)
        assert cer([c.text for c in clips], fw.texts[cond.name]) < 0.3, fw.texts  # real speech recognized
