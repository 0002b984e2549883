"""termadapt.audio: the one reader of dataset cells and files, and the content key of a clip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from termadapt.audio import cell_key, decode_cell, read_file, resample, wav_bytes
from termadapt.errors import TermadaptError


def test_decode_audio_reads_bytes_arrays_and_resamples(tmp_path):
    wave = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, wave, 8000, format="WAV", subtype="FLOAT")
    out = decode_cell({"bytes": buf.getvalue(), "path": None})
    assert out.dtype == np.float32 and len(out) == 16000  # 1 s at 8 kHz -> 16 kHz
    path = tmp_path / "a.wav"
    sf.write(path, wave, 16000)
    assert np.allclose(decode_cell({"bytes": None, "path": str(path)}), wave, atol=1e-4)
    assert np.array_equal(decode_cell({"array": wave, "sampling_rate": 16000}), wave)
    assert cell_key({"bytes": buf.getvalue()}) == cell_key({"bytes": buf.getvalue(), "path": None})
    assert cell_key({"bytes": buf.getvalue()}) != cell_key({"bytes": None, "path": str(path)})
    with pytest.raises(TermadaptError, match="cannot read audio"):
        decode_cell({"bytes": b"not audio", "path": None})


def test_read_file_resamples_and_names_bad_inputs(tmp_path):
    wave = (0.3 * np.sin(np.arange(24000) / 7)).astype(np.float32)
    stereo = np.stack([wave, wave], axis=1)
    path = tmp_path / "s.wav"
    sf.write(path, stereo, 24000)
    out = read_file(path)
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == 16000
    assert np.allclose(out, resample(wave, 24000), atol=1e-4)
    with pytest.raises(TermadaptError, match="is a directory"):
        read_file(tmp_path)
    with pytest.raises(TermadaptError, match="no such audio file"):
        read_file(tmp_path / "missing.wav")
    (tmp_path / "bad.wav").write_bytes(b"nope")
    with pytest.raises(TermadaptError, match="cannot read audio"):
        read_file(tmp_path / "bad.wav")


def test_wav_bytes_round_trip_through_a_cell():
    wave = (0.5 * np.sin(np.arange(1600) / 3)).astype(np.float32)
    back = decode_cell({"bytes": wav_bytes(wave), "path": None})
    assert np.allclose(back, wave, atol=1 / 32768)
