"""Seeded audio augmentation (extra ``augment``: audiomentations).

Each training clip gets ``synth.augment_copies`` augmented copies. A copy's augmentation
and its parameters are drawn from a seed derived from the clip's cache key and the copy
index, so the same recipe always produces the same copies, and each copy is cached under
a key that includes the augmentation, its parameters and the seed.

Kinds: ``noise`` (Gaussian noise at an SNR), ``bandpass`` (telephone-like band), ``reverb``
(convolution with a synthetic exponentially decaying impulse response: no room simulator
dependency), ``pitch`` (semitones), ``tempo`` (rate, length changes), ``gain`` (dB).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, MissingDependencyError

__all__ = ["AUGMENT_KINDS", "AugmentSpec", "draw_augment", "apply_augment", "check_augment_available"]

AUGMENT_KINDS = ("noise", "bandpass", "reverb", "pitch", "tempo", "gain")

# Parameter ranges. Mild on purpose: the copies must still be clearly intelligible speech.
NOISE_SNR_DB = (10.0, 30.0)  # 10 dB is a noisy room; below that terms become unintelligible
BANDPASS_CENTER_HZ = (900.0, 1500.0)  # telephone band 300–3400 Hz centres near 1 kHz
BANDPASS_WIDTH_FRACTION = (1.2, 1.99)  # 1.99 is audiomentations' maximum
REVERB_RT60_S = (0.15, 0.6)  # small office to living room
REVERB_WET = (0.2, 0.5)
PITCH_SEMITONES = (-2.0, 2.0)  # small: larger shifts change the perceived speaker a lot
TEMPO_RATE = (0.85, 1.15)
# Attenuation only: every synthesized clip is already level-normalised (-20 dBFS RMS, peak
# 0.95), so a positive gain was mostly undone by PEAK_CEILING and left a copy identical to
# its source (seen in CI: a +dB "copy" differed by 0.04%). -3 dB is the smallest step worth a copy.
GAIN_DB = (-12.0, -3.0)
# Peak ceiling after augmentation, so noise or gain never clips the wav.
PEAK_CEILING = 0.99


@dataclass(frozen=True)
class AugmentSpec:
    """One drawn augmentation: kind, parameters (sorted name/value pairs) and noise seed."""

    kind: str
    params: tuple[tuple[str, float], ...]
    seed: int

    @property
    def label(self) -> str:
        """Human-readable name stored in ``Clip.augment`` (``noise(snr_db=12.3)``)."""
        inner = ",".join(f"{k}={v:.3g}" for k, v in self.params)
        return f"{self.kind}({inner})"

    def key(self) -> str:
        """Canonical JSON used in the cache key."""
        return json.dumps([self.kind, [[k, round(v, 6)] for k, v in self.params], self.seed])


def check_augment_available(kinds: list[str]) -> None:
    """Raise when augmentation is asked for but cannot run here."""
    bad = [k for k in kinds if k not in AUGMENT_KINDS]
    if bad:
        raise ConfigError(f"synth.augmentations: unknown '{bad[0]}' — choose from {', '.join(AUGMENT_KINDS)}")
    if not kinds:
        raise ConfigError("synth.augmentations is empty but synth.augment_copies > 0 — list some or set copies to 0")
    if set(kinds) - {"reverb"}:
        try:
            import audiomentations  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "synth.augment_copies > 0 needs audiomentations — pip install 'termadapt[augment]' "
                "(or keep only reverb in synth.augmentations)"
            ) from None


def draw_augment(kinds: list[str], rng: random.Random) -> AugmentSpec:
    """Draw one augmentation kind and its parameters from ``rng``."""
    kind = rng.choice(list(kinds))
    u = rng.uniform
    params: dict[str, float] = {
        "noise": lambda: {"snr_db": u(*NOISE_SNR_DB)},
        "bandpass": lambda: {"center_hz": u(*BANDPASS_CENTER_HZ), "width": u(*BANDPASS_WIDTH_FRACTION)},
        "reverb": lambda: {"rt60_s": u(*REVERB_RT60_S), "wet": u(*REVERB_WET)},
        "pitch": lambda: {"semitones": u(*PITCH_SEMITONES)},
        "tempo": lambda: {"rate": u(*TEMPO_RATE)},
        "gain": lambda: {"db": u(*GAIN_DB)},
    }[kind]()
    return AugmentSpec(kind, tuple(sorted(params.items())), rng.randrange(2**31))


def _reverb(wav: np.ndarray, sr: int, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import fftconvolve

    n = int(rt60 * sr)
    t = np.arange(n) / sr
    # Exponential decay reaching -60 dB (factor 1e-3 ≈ e^-6.9) at rt60: the definition of RT60.
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    tail = fftconvolve(wav, ir)[: len(wav) + n // 2]
    dry = np.pad(wav, (0, len(tail) - len(wav)))
    return (1.0 - wet) * dry + wet * tail


def apply_augment(wav: np.ndarray, sr: int, spec: AugmentSpec) -> np.ndarray:
    """Apply ``spec`` to a float32 mono waveform; deterministic for a given spec."""
    p = dict(spec.params)
    rng = np.random.default_rng(spec.seed)
    wav = np.asarray(wav, dtype=np.float32)
    if spec.kind == "reverb":
        out = _reverb(wav, sr, p["rt60_s"], p["wet"], rng)
    else:
        import audiomentations as am

        transform = {
            "noise": lambda: am.AddGaussianSNR(min_snr_db=p.get("snr_db", 0), max_snr_db=p.get("snr_db", 0), p=1.0),
            "bandpass": lambda: am.BandPassFilter(
                min_center_freq=p["center_hz"],
                max_center_freq=p["center_hz"],
                min_bandwidth_fraction=p["width"],
                max_bandwidth_fraction=p["width"],
                min_rolloff=24,
                max_rolloff=24,
                zero_phase=True,
                p=1.0,
            ),
            "pitch": lambda: am.PitchShift(min_semitones=p["semitones"], max_semitones=p["semitones"], p=1.0),
            "tempo": lambda: am.TimeStretch(
                min_rate=p["rate"], max_rate=p["rate"], leave_length_unchanged=False, p=1.0
            ),
            "gain": lambda: am.Gain(min_gain_db=p["db"], max_gain_db=p["db"], p=1.0),
        }[spec.kind]()
        # audiomentations draws its noise from the global generators: seed them per copy.
        random.seed(spec.seed)
        np.random.seed(spec.seed % 2**32)
        out = transform(samples=wav, sample_rate=sr)
    out = np.asarray(out, dtype=np.float32)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > PEAK_CEILING:
        out *= PEAK_CEILING / peak
    return out
