"""Augmentation: every drawn copy is a real change of the clip, and draws are seeded."""

from __future__ import annotations

import random

import numpy as np
import pytest

from termadapt.speech.augment import AUGMENT_KINDS, apply_augment, draw_augment
from termadapt.speech.synth import PEAK_LIMIT, SAMPLE_RATE, normalize_audio

# A copy must differ from its source by at least this much (energy of the difference relative
# to the source): noise at the mildest drawn SNR (30 dB) is -30 dB. Closer is a wasted clip.
MIN_CHANGE_DB = -35.0
# A gain copy must be at least this much quieter than its source, and as much as drawn.
MIN_GAIN_STEP_DB = 1.0


def _speechlike() -> np.ndarray:
    """A 1 s harmonic tone with a syllable-rate envelope, level-normalised like synthesized speech."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    wav = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((180, 360, 540, 900, 2200), 1))
    wav = wav * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
    wav[SAMPLE_RATE // 2] = 8 * np.max(
        np.abs(wav)
    )  # a plosive-like spike: the clip ends peak-limited, like most TTS output
    out = normalize_audio(wav, SAMPLE_RATE)
    assert np.isclose(np.max(np.abs(out)), PEAK_LIMIT)
    return out


@pytest.mark.parametrize("kind", AUGMENT_KINDS)
def test_every_draw_changes_a_normalised_clip(kind):
    if kind != "reverb":
        pytest.importorskip("audiomentations", reason="augmentation needs the augment extra (audiomentations)")
    src = _speechlike()
    rng = random.Random(0)
    for _ in range(20):
        spec = draw_augment([kind], rng)
        out = apply_augment(src, SAMPLE_RATE, spec)
        assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 0.99 + 1e-6
        if kind == "gain":  # the level change is the drawn one, not undone by the peak ceiling
            realised = 20 * np.log10(np.sqrt(np.mean(out**2) / np.mean(src**2)))
            drawn = dict(spec.params)["db"]
            assert abs(realised - drawn) < 0.05 and realised <= -MIN_GAIN_STEP_DB, spec.label
        if out.shape != src.shape:
            continue  # tempo and reverb change the length: certainly a different clip
        change = 10 * np.log10(np.sum((out - src) ** 2) / np.sum(src**2))
        assert change > MIN_CHANGE_DB, f"{spec.label} left the clip unchanged ({change:.1f} dB)"


def test_draws_are_seeded():
    kinds = list(AUGMENT_KINDS)
    a = [draw_augment(kinds, random.Random(7)) for _ in range(3)]
    b = [draw_augment(kinds, random.Random(7)) for _ in range(3)]
    assert a == b
    assert len({draw_augment(kinds, random.Random(s)).key() for s in range(10)}) == 10
