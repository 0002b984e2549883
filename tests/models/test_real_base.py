"""Real whisper-base (offline CTranslate2 packages) against faster-whisper; slow, run in CI."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from termadapt.decoding.transcribe import transcribe

pytestmark = pytest.mark.slow
ctranslate2 = pytest.importorskip("ctranslate2")

SENTENCE = "駅の近くに新しいレストランができたそうです。"
SECOND = "明日は朝から雨が降るでしょう。"
PROMPT = [50258, 50266, 50359, 50363]  # <|startoftranscript|><|ja|><|transcribe|><|notimestamps|>


def _norm(text: str) -> str:
    return re.sub(r"[\s、。，．,.!?！？]", "", text)


def _cer(ref: str, hyp: str) -> float:
    import jiwer

    return jiwer.cer(_norm(ref), _norm(hyp))


def test_converted_base_reproduces_faster_whisper_logits(real_base, ja_speech):
    from termadapt.models.resolve import offline_base_ct2_dir

    model, processor = real_base
    feats = processor.feature_extractor(
        ja_speech(SENTENCE), sampling_rate=16000, return_tensors="np"
    ).input_features.astype(np.float32)
    ct2 = ctranslate2.models.Whisper(str(offline_base_ct2_dir()), device="cpu", compute_type="float32", intra_threads=2)
    # Same mel features into both; no suppression so the logits are the raw decoder outputs.
    out = ct2.generate(
        ctranslate2.StorageView.from_array(feats),
        [PROMPT],
        beam_size=1,
        max_length=len(PROMPT) + 4,
        return_logits_vocab=True,
        suppress_blank=False,
        suppress_tokens=[],
    )[0]
    ct2_steps = [np.asarray(step).reshape(-1) for step in out.logits[0]]
    tokens = out.sequences_ids[0]
    with torch.no_grad():
        logits = model(
            input_features=torch.from_numpy(feats), decoder_input_ids=torch.tensor([PROMPT + tokens])
        ).logits[0]
    for step, ref in enumerate(ct2_steps):
        ours = logits[len(PROMPT) - 1 + step].numpy()
        assert np.abs(ours - ref).max() < 1e-3, step
        assert int(ours.argmax()) == int(ref.argmax())


def test_transcribes_general_sentence(real_base, ja_speech):
    model, processor = real_base
    result = transcribe(model, processor, ja_speech(SENTENCE), language="ja")
    assert _cer(SENTENCE, result.text) < 0.2, result.text


def test_timestamps_produce_segments(real_base, ja_speech):
    model, processor = real_base
    audio = np.concatenate([ja_speech(SENTENCE), np.zeros(16000, np.float32), ja_speech(SECOND)])
    result = transcribe(model, processor, audio, language="ja", timestamps=True)
    assert result.segments, result
    assert all(0 <= s.start < s.end <= result.duration + 1e-6 for s in result.segments)
    assert result.segments[-1].end > result.duration / 2
    assert _cer(SENTENCE + SECOND, result.text) < 0.2, result.text


def test_export_ct2_loads_in_faster_whisper_with_same_transcript(real_base, ja_speech, tmp_path):
    from faster_whisper import WhisperModel

    from termadapt.models.export import export_ct2
    from termadapt.models.resolve import offline_base_ct2_dir

    model, processor = real_base
    out = export_ct2(model, processor, tmp_path / "base-ct2")
    # float16 export of the converted float16 weights gives back the original bytes.
    assert (out / "model.bin").read_bytes() == (offline_base_ct2_dir() / "model.bin").read_bytes()
    fw = WhisperModel(str(out), device="cpu", compute_type="float32", cpu_threads=2)
    audio = ja_speech(SENTENCE)
    segments, info = fw.transcribe(
        audio, language="ja", beam_size=1, temperature=0.0, without_timestamps=True, condition_on_previous_text=False
    )
    theirs = "".join(s.text for s in segments)
    ours = transcribe(model, processor, audio, language="ja").text
    assert _norm(theirs) == _norm(ours), (theirs, ours)


def test_export_openai_tensors_match(real_base, tmp_path):
    from termadapt.models.export import export_openai
    from termadapt.models.openai import hf_to_openai_key

    model, processor = real_base
    path = export_openai(model, processor, tmp_path / "base.pt")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["dims"]["n_audio_state"] == 512 and ckpt["dims"]["n_text_layer"] == 6
    state = ckpt["model_state_dict"]
    hf = model.state_dict()
    assert len(state) == len(hf) - 1
    for key, tensor in hf.items():
        new = hf_to_openai_key(key)
        if new is not None:
            assert torch.equal(state[new], tensor), key
