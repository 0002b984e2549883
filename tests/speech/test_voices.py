"""The voice plan: held-out voices that are really held out, and typos that never fall back silently."""

from __future__ import annotations

import pytest

from termadapt.config import recipe_from_dict
from termadapt.errors import ConfigError
from termadapt.report.schema import SCHEMA_VERSION, Report
from termadapt.report.summary import console_lines, summary, voice_warning
from termadapt.speech.voices import plan_voices
from termadapt.tts import engine_class


def _synth(**synth):
    base = {
        "train_voices": ["openjtalk:mei_normal?speed=1.0"],
        "heldout_voices": ["openjtalk:mei_normal?speed=1.3"],
        "fallback_heldout_voices": ["openjtalk:mei_normal?speed=1.3&half_tone=-4"],
    }
    return recipe_from_dict({"synth": {**base, **synth}}).synth


def test_a_held_out_voice_that_sounds_like_a_training_voice_is_refused():
    # every knob at its default: the same voice as speed=1.0
    with pytest.raises(ConfigError, match="'openjtalk:mei_normal\\?half_tone=0' sounds exactly like training voice"):
        plan_voices(_synth(heldout_voices=["openjtalk:mei_normal?half_tone=0"]))
    with pytest.raises(ConfigError, match="sounds exactly like"):
        plan_voices(_synth(heldout_voices=["openjtalk:mei_normal?speed=1.00&half_tone=0.0"]))
    assert [str(v) for v in plan_voices(_synth()).heldout] == ["openjtalk:mei_normal?speed=1.3"]


@pytest.mark.skipif(not engine_class("kokoro").available(), reason="kokoro extra not installed")
@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ("kokoro:jf_alpah", "has no voice 'jf_alpah'"),
        ("kokor:jf_alpha", "unknown TTS engine 'kokor'"),
        ("kokoro:jf_alpha?sped=1.1", "unknown setting 'sped'"),
    ],
)
def test_a_misspelt_held_out_voice_is_an_error_not_a_fallback(voice, message):
    with pytest.raises(ConfigError) as err:
        plan_voices(_synth(heldout_voices=[voice]))
    assert message in str(err.value) and "synth.heldout_voices" in str(err.value) and "\n" not in str(err.value)


def test_only_an_engine_that_is_not_installed_falls_back_and_the_report_says_so(monkeypatch):
    monkeypatch.setattr(engine_class("kokoro"), "available", classmethod(lambda cls: False))
    plan = plan_voices(_synth(heldout_voices=["kokoro:jf_alpha"]))
    assert plan.fallback_used and [str(v) for v in plan.heldout] == ["openjtalk:mei_normal?half_tone=-4&speed=1.3"]
    assert "not installed" in plan.unavailable["kokoro:jf_alpha"]
    report = Report(schema_version=SCHEMA_VERSION, created="", run_dir="", recipe="r", voice_plan=plan.to_json())
    warning = voice_warning(report)
    assert "kokoro:jf_alpha are not installed here" in warning and "fallback" in warning
    assert summary(report)[0] == f"**{warning}**"  # the first thing the report says
    assert console_lines(report, "run")[0] == f"warning: {warning}"
    assert voice_warning(Report(schema_version=SCHEMA_VERSION, created="", run_dir="", recipe="r")) == ""
