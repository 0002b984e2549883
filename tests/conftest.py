"""Shared pytest fixtures.

- ``ja_speech``: real Japanese speech synthesized with OpenJTalk (pyopenjtalk-plus), 16 kHz.
- ``tiny_model`` / ``tiny_model_dir``: a randomly initialized small Whisper with the real
  multilingual tokenizer (defined in termadapt.models.tiny), for fast tests.
- ``real_base``: real whisper-base (offline-base extra), for the slow tests.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

# Tests run on 2 shared cores: one thread per process keeps them predictable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def synthesize_ja(text: str, speed: float = 1.0, half_tone: float = 0.0) -> np.ndarray:
    """Speak ``text`` with OpenJTalk and return float32 mono audio at 16 kHz."""
    import pyopenjtalk
    from scipy.signal import resample_poly

    wav, sr = pyopenjtalk.tts(text, speed=speed, half_tone=half_tone)
    wav = np.asarray(wav, dtype=np.float64)
    peak = float(np.max(np.abs(wav))) or 1.0
    wav = (wav / peak * 0.8).astype(np.float32)  # normalize: the int16-scale output can exceed ±32767
    return resample_poly(wav, 16000, sr).astype(np.float32)


@pytest.fixture(scope="session")
def ja_speech():
    """Callable ``ja_speech(text, speed=1.0, half_tone=0.0) -> np.ndarray`` (16 kHz float32)."""
    cache: dict[tuple[str, float, float], np.ndarray] = {}

    def make(text: str, speed: float = 1.0, half_tone: float = 0.0) -> np.ndarray:
        key = (text, speed, half_tone)
        if key not in cache:
            cache[key] = synthesize_ja(text, speed, half_tone)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tiny_model():
    """Session ``(model, processor)``: random tiny Whisper with the real multilingual tokenizer.

    Shared by many tests: do not modify it in place (deep-copy the model to train it).
    """
    from termadapt.models.tiny import build_tiny_model

    return build_tiny_model(seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory):
    """Session path of the tiny model saved as a transformers directory (usable as a model spec)."""
    model, processor = tiny_model
    path = tmp_path_factory.mktemp("tiny-whisper")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def real_base():
    """Session ``(model, processor)``: real whisper-base, converted offline and cached (slow).

    The conversion is cached under ``$TERMADAPT_CACHE`` (CI may point it at a persistent
    directory), so only the first session pays for it.
    """
    from termadapt.models import resolve_model

    model, processor = resolve_model("whisper-base")
    model.eval()
    return model, processor
