"""``termadapt transcribe`` / ``termadapt export`` and transcribe() on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from termadapt.cli import app
from termadapt.decoding.transcribe import (
    Segment,
    TranscriptResult,
    format_srt,
    format_txt,
    load_audio,
    transcribe,
    transcribe_batch,
)
from termadapt.errors import TermadaptError

runner = CliRunner()


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_offline_hub_id_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    result = runner.invoke(app, ["transcribe", str(wav), "--model", "openai/whisper-small"])
    _one_line_error(result, "openai/whisper-small", "offline-base", "HF_HUB_OFFLINE=0")
    result = runner.invoke(app, ["export", "openai/whisper-medium", "--to", "ct2", "--out", str(tmp_path / "x")])
    _one_line_error(result, "openai/whisper-medium", "offline")


def test_bad_inputs_are_one_clear_line(tmp_path, tiny_model_dir):
    bad = tmp_path / "notaudio.wav"
    bad.write_text("hello")
    _one_line_error(
        runner.invoke(app, ["transcribe", str(bad), "--model", str(tiny_model_dir)]),
        "notaudio.wav",
        "cannot read audio",
    )
    _one_line_error(
        runner.invoke(app, ["transcribe", str(tmp_path / "missing.wav")]), "missing.wav", "no such audio file"
    )
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    _one_line_error(
        runner.invoke(app, ["transcribe", str(wav), "--model", str(tmp_path / "nodir")]), "no such file or directory"
    )
    _one_line_error(
        runner.invoke(app, ["transcribe", str(wav), "--model", str(tiny_model_dir), "--format", "doc"]), "--format"
    )
    _one_line_error(
        runner.invoke(app, ["export", str(tiny_model_dir), "--to", "onnx", "--out", str(tmp_path / "o")]), "--to onnx"
    )
    _one_line_error(
        runner.invoke(app, ["export", str(tiny_model_dir), "--to", "ct2", "--out", str(tmp_path / "o"), "-q", "int3"]),
        "int3",
    )


def test_load_audio_resamples_and_downmixes(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1).astype(np.float32) * 0.5
    path = tmp_path / "s.flac"
    sf.write(path, stereo, 44100)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == 16000
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1


def test_transcribe_short_long_and_batch_with_tiny(tiny_model):
    model, processor = tiny_model
    rng = np.random.default_rng(0)
    short = (rng.standard_normal(16000 * 2) * 0.05).astype(np.float32)
    # A random model never says <|endoftext|>: cap tokens per window to keep this fast.
    plain = transcribe(model, processor, short, max_new_tokens=6)
    assert isinstance(plain, TranscriptResult) and plain.duration == pytest.approx(2.0)
    assert [plain.text] == transcribe_batch(model, processor, [short], max_new_tokens=6)
    long_audio = (rng.standard_normal(16000 * 45) * 0.05).astype(np.float32)
    result = transcribe(model, processor, long_audio, timestamps=True, max_new_tokens=6)
    assert result.duration == pytest.approx(45.0)
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and all(0 <= s.start <= s.end <= 45.0 for s in result.segments)
    assert result.text == "".join(s.text for s in result.segments)
    with pytest.raises(TermadaptError, match="language 'xx'"):
        transcribe(model, processor, short, language="xx")


def test_formats():
    result = TranscriptResult(
        text="こんにちは世界", segments=[Segment(0.0, 1.5, "こんにちは"), Segment(1.5, 62.25, "世界")], duration=62.25
    )
    assert format_txt(result, timestamps=True) == "0.00\t1.50\tこんにちは\n1.50\t62.25\t世界\n"
    assert format_txt(result, timestamps=False) == "こんにちは世界\n"
    assert (
        format_srt(result) == "1\n00:00:00,000 --> 00:00:01,500\nこんにちは\n\n2\n00:00:01,500 --> 00:01:02,250\n世界\n"
    )


def test_cli_transcribe_and_export_with_tiny(tiny_model_dir, tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, (np.random.default_rng(1).standard_normal(16000 * 3) * 0.05).astype(np.float32), 16000)
    result = runner.invoke(
        app, ["transcribe", str(wav), "--model", str(tiny_model_dir), "--format", "json", "--max-tokens", "4"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data[0]["source"] == str(wav) and data[0]["duration"] == pytest.approx(3.0)
    result = runner.invoke(app, ["export", str(tiny_model_dir), "--to", "openai", "--out", str(tmp_path / "t.pt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.pt").is_file()
