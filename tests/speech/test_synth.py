"""Synthesis stage: voice specs, cache keys, voice plan, resume, failures, augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from synth_helpers import UTTERANCES, calls, make_run

from termadapt.errors import ConfigError, TermadaptError
from termadapt.records import Clip, read_jsonl
from termadapt.speech.synth import clip_key, normalize_audio, synthesize
from termadapt.speech.voices import VoiceSpec, parse_voice, plan_voices, read_voice_plan


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("openjtalk:mei_normal", "openjtalk:mei_normal"),
        ("openjtalk:mei_normal?speed=0.90&half_tone=-2", "openjtalk:mei_normal?half_tone=-2&speed=0.9"),
        ("openjtalk:mei_normal?speed=1.0", "openjtalk:mei_normal?speed=1"),
        ("kokoro:jf_alpha?speed=1.1", "kokoro:jf_alpha?speed=1.1"),
        ("command:my voice", "command:my voice"),
    ],
)
def test_voice_spec_round_trip(text, canonical):
    spec = parse_voice(text)
    assert str(spec) == canonical
    assert parse_voice(str(spec)) == spec


def test_voice_spec_fields_and_errors():
    spec = parse_voice("openjtalk:mei_normal?speed=0.9&half_tone=-2")
    assert spec == VoiceSpec("openjtalk", "mei_normal", (("half_tone", "-2"), ("speed", "0.9")))
    assert spec.numeric("speed", 1.0) == 0.9 and spec.numeric("alpha", 0.55) == 0.55
    for bad in ("mei_normal", "openjtalk:", "openjtalk:mei?speed", "openjtalk:mei?speed=1&speed=2"):
        with pytest.raises(ConfigError):
            parse_voice(bad)


def test_cache_key_changes_with_each_field():
    base = ("openjtalk", "v1", "mei_normal", "speed=1", "シンデンズ", 16000)
    keys = {clip_key(*base)}
    for i, other in enumerate(["kokoro", "v2", "mei_happy", "speed=0.9", "シンデンズ。", 24000]):
        changed = list(base)
        changed[i] = other
        keys.add(clip_key(*changed))
    assert len(keys) == 7
    assert clip_key(*base) == clip_key(*base)


def test_normalize_rejects_silent_and_clipped_and_resamples():
    sr = 48000
    t = np.arange(sr) / sr
    speechy = 40000 * np.sin(2 * np.pi * 200 * t) / 32768  # over full scale but not flat-topped
    out = normalize_audio(speechy, sr)
    assert out.dtype == np.float32 and len(out) == 16000 and np.max(np.abs(out)) <= 0.95
    with pytest.raises(ValueError, match="silent"):
        normalize_audio(np.zeros(sr), sr)
    with pytest.raises(ValueError, match="clipped"):
        normalize_audio(np.clip(3 * np.sin(2 * np.pi * 200 * t), -1, 1), sr)


def test_unknown_knob_and_missing_engine_fall_back(tmp_path):
    recipe, run, _ = make_run(tmp_path, train_voices=["openjtalk:mei_normal?sped=1"])
    with pytest.raises(ConfigError, match="unknown setting 'sped'"):
        plan_voices(recipe.synth)
    recipe, run, _ = make_run(
        tmp_path, heldout_voices=["coqui:missing_checkpoint"], fallback_heldout_voices=["command:fallback"]
    )
    synthesize(recipe, run)
    plan = read_voice_plan(run)
    assert plan.fallback_used and [str(v) for v in plan.heldout] == ["command:fallback"]
    assert "coqui:missing_checkpoint" in plan.unavailable and "fallback" in plan.notes[0]
    clips = read_jsonl(run / "synth.jsonl", Clip)
    assert {c.voice for c in clips if c.split != "train"} == {"command:fallback"}


def test_heldout_voices_never_train(tmp_path):
    recipe, run, _ = make_run(tmp_path)
    clips = read_jsonl(synthesize(recipe, run), Clip)
    assert len(clips) == 4 * 2 + 4 * 1  # train utterances × 2 training voices, others × 1 held-out voice
    for c in clips:
        if c.split == "train":
            assert not c.held_out and c.voice in ("command:train_a", "command:train_b")
        else:
            assert c.held_out and c.voice == "command:held"
        info = sf.info(c.audio_path)
        assert info.samplerate == 16000 and info.channels == 1 and abs(info.duration - c.duration) < 0.01
    # A voice that is both training and held-out is refused.
    recipe, run, _ = make_run(tmp_path, heldout_voices=["command:train_a"])
    with pytest.raises(ConfigError, match="sounds exactly like training voice"):
        synthesize(recipe, run)


def test_voice_subset_per_utterance_is_seeded(tmp_path):
    recipe, run, _ = make_run(
        tmp_path, train_voices=["command:a", "command:b", "command:c"], train_voices_per_utterance=1
    )
    first = [(c.utterance_id, c.voice) for c in read_jsonl(synthesize(recipe, run), Clip)]
    assert sum(1 for u, _ in first if u in ("t1", "t2", "h1", "g1")) == 4
    assert first == [(c.utterance_id, c.voice) for c in read_jsonl(synthesize(recipe, run), Clip)]


def test_replay_sentences_can_use_fewer_voices_than_term_sentences(tmp_path):
    recipe, run, _ = make_run(
        tmp_path, train_voices=["command:a", "command:b", "command:c"], replay_voices_per_utterance=1
    )
    per_utt: dict[str, int] = {}
    for c in read_jsonl(synthesize(recipe, run), Clip):
        per_utt[c.utterance_id] = per_utt.get(c.utterance_id, 0) + 1
    assert per_utt["t1"] == per_utt["t2"] == 3  # term sentences: every training voice
    assert per_utt["h1"] == 3  # homophone guards balance term sentences: every voice too
    assert per_utt["g1"] == 1  # general replay sentences: one voice each


def test_resume_after_interruption_skips_finished_clips(tmp_path):
    # "Interrupted" run: only the first three utterances got synthesized.
    recipe, run, log = make_run(tmp_path, utterances=UTTERANCES[:3])
    synthesize(recipe, run)
    done = calls(log)
    assert done == 3 * 2
    recipe, run, log = make_run(tmp_path)  # same cache, all utterances
    (run / "synth.jsonl").unlink()
    synthesize(recipe, run)
    summary = json.loads((run / "synth_summary.json").read_text())
    assert summary["cached"] == done and summary["synthesized"] == 12 - done
    assert calls(log) == 12
    # Manifest deleted again: nothing is redone, nothing is lost.
    (run / "synth.jsonl").unlink()
    synthesize(recipe, run)
    summary = json.loads((run / "synth_summary.json").read_text())
    assert calls(log) == 12 and summary["synthesized"] == 0 and summary["cached"] == 12
    assert len(read_jsonl(run / "synth.jsonl")) == 12


def test_failed_clip_is_reported_not_dropped(tmp_path, capsys):
    from termadapt.records import Utterance

    bad = Utterance("bad", "FAIL word", "FAIL word", "general", "test")
    recipe, run, _ = make_run(tmp_path, utterances=UTTERANCES + [bad], max_failure_share=0.2)
    clips = read_jsonl(synthesize(recipe, run), Clip)
    assert len(clips) == 12 and "bad" not in {c.utterance_id for c in clips}
    failures = read_jsonl(run / "synth_failures.jsonl")
    assert failures == [
        {
            "utterance_id": "bad",
            "voice": "command:held",
            "augment": "",
            "text": "FAIL word",
            "tts_text": "FAIL word",
            "error": failures[0]["error"],
        }
    ]
    assert "cannot pronounce FAIL" in failures[0]["error"] and "exited with 3" in failures[0]["error"]
    err = capsys.readouterr().err
    assert "1 failed" in err and "FAIL word" in err
    recipe, run, _ = make_run(tmp_path, utterances=UTTERANCES + [bad], max_failure_share=0.0)
    with pytest.raises(TermadaptError, match="max_failure_share"):
        synthesize(recipe, run)


def test_audio_too_short_for_its_text_is_a_failed_clip(tmp_path, capsys):
    from termadapt.records import Utterance
    from termadapt.speech.synth import check_length

    check_length(np.zeros(16000), "今日は晴れです")  # 1 s for 7 characters: fine
    with pytest.raises(ValueError, match="implausibly short for 30 spoken characters"):
        check_length(np.zeros(1600), "ア" * 30)
    check_length(np.zeros(1600), "。、！？★")  # nothing spoken, nothing expected
    short = Utterance(
        "short", "心電図", "SHORTシンデンズヲカクニンシマシタトイウハナシデス", "term", "test", ("心電図",)
    )
    recipe, run, _ = make_run(tmp_path, utterances=UTTERANCES + [short], max_failure_share=0.2)
    clips = read_jsonl(synthesize(recipe, run), Clip)
    assert "short" not in {c.utterance_id for c in clips}  # its label would claim words the audio lacks
    (failure,) = read_jsonl(run / "synth_failures.jsonl")
    assert failure["utterance_id"] == "short" and "implausibly short" in failure["error"]
    # On the console a failure reads as a sentence: the text, the voice, why — no exception class.
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("  failed: ")]
    assert line.startswith("  failed: 「心電図」 in voice ") and " — Audio of " in line and "ValueError" not in line


def test_openjtalk_through_worker_pool(tmp_path):
    recipe, run, _ = make_run(
        tmp_path,
        utterances=UTTERANCES[:2] + UTTERANCES[5:7],
        workers=2,
        train_voices=["openjtalk:mei_normal?speed=1.1"],
        heldout_voices=["openjtalk:mei_normal?speed=1.3&half_tone=-4"],
    )
    clips = read_jsonl(synthesize(recipe, run, workers=2), Clip)
    assert len(clips) == 4
    for c in clips:
        wav, sr = sf.read(c.audio_path, dtype="float32")
        assert sr == 16000 and 0.3 < len(wav) / sr < 5
        rms = float(np.sqrt(np.mean(wav**2)))
        assert rms > 0.03 and np.max(np.abs(wav)) <= 0.951  # not silent, not clipped


def test_augmented_copies_are_seeded_and_cached(tmp_path):
    pytest.importorskip("audiomentations", reason="augmentation needs the augment extra (audiomentations)")
    recipe, run, log = make_run(
        tmp_path,
        utterances=UTTERANCES[:2] + UTTERANCES[5:6],
        augment_copies=2,
        augmentations=["noise", "reverb", "gain", "bandpass"],
    )
    clips = read_jsonl(synthesize(recipe, run), Clip)
    aug = [c for c in clips if c.augment]
    assert len(aug) == 2 * 2 * 2  # 2 train utterances × 2 voices × 2 copies; none for test clips
    assert all(c.split == "train" and not c.held_out for c in aug)
    assert len({c.audio_path for c in aug}) == len(aug)
    base = {(c.utterance_id, c.voice): c.audio_path for c in clips if not c.augment}
    for c in aug:
        a, _ = sf.read(c.audio_path, dtype="float32")
        b, _ = sf.read(base[(c.utterance_id, c.voice)], dtype="float32")
        assert a.shape != b.shape or not np.allclose(a, b, atol=1e-3)
    (run / "synth.jsonl").unlink()
    again = read_jsonl(synthesize(recipe, run), Clip)
    assert [c.augment for c in again] == [c.augment for c in clips]
    assert json.loads((run / "synth_summary.json").read_text())["augmented"] == 0
