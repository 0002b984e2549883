"""Audio in one place: Whisper's sample rate, reading, resampling, writing, dataset cells.

Every stage that touches samples goes through here: synthesis writes its clips with
:func:`write_wav`, imports convert files with :func:`read_file`, the dataset stores
:func:`wav_bytes`, and training, merging and evaluation decode dataset cells with
:func:`decode_cell`. :func:`cell_key` names a stored clip by its content, so the same
audio gets the same stored encoder output and the same cached transcript in every stage.

Reads: audio files (anything soundfile opens) and ``datasets.Audio`` cells. Writes: 16-bit
PCM wav files, atomically.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TermadaptError
from .records import atomic_write_bytes

__all__ = [
    "SAMPLE_RATE",
    "WINDOW_SECONDS",
    "WINDOW_SAMPLES",
    "to_mono",
    "resample",
    "read_file",
    "read_native",
    "decode_cell",
    "cell_key",
    "wav_bytes",
    "write_wav",
    "wav_duration",
    "declared_wav_seconds",
    "MIN_SECONDS_PER_CHAR",
    "too_short_for",
]

SAMPLE_RATE = 16000  # Whisper's feature extractor expects 16 kHz mono
WINDOW_SECONDS = 30.0  # Whisper's fixed input window; longer audio needs long-form decoding
WINDOW_SAMPLES = int(WINDOW_SECONDS * SAMPLE_RATE)
# Least duration per spoken character (kana, kanji, Latin letter, digit): half the time the
# fastest TTS setting takes (speed 2.0 speaks ~16 morae/s, 0.06 s each) and far below human
# speech, so only audio that cannot hold its text is refused: a TTS that skipped the words,
# a truncated recording.
MIN_SECONDS_PER_CHAR = 0.03


def to_mono(wav: Any) -> np.ndarray:
    """``[samples]`` or ``[samples, channels]`` → 1-D (channels averaged), dtype kept."""
    arr = np.asarray(wav)
    return arr.mean(axis=1) if arr.ndim == 2 else arr.reshape(-1)


def resample(wav: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling from ``rate`` to ``target`` Hz; the float dtype is kept."""
    if int(rate) == target:
        return wav
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), target)
    return resample_poly(wav, target // g, int(rate) // g).astype(wav.dtype, copy=False)


def read_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an audio file as float32 mono samples at 16 kHz.

    Raises:
        TermadaptError: the path is missing, a directory, empty or not decodable audio.
    """
    import soundfile as sf

    p = Path(path)
    if p.is_dir():
        raise TermadaptError(f"{path}: is a directory — pass audio files (WAV, FLAC, OGG)")
    if not p.is_file():
        raise TermadaptError(f"{path}: no such audio file")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TermadaptError(f"{path}: cannot read audio ({reason}); pass a WAV/FLAC/OGG file") from None
    if data.size == 0:
        raise TermadaptError(f"{path}: audio file has no samples")
    return np.ascontiguousarray(resample(to_mono(data), int(rate)), dtype=np.float32)


def read_native(source: str | os.PathLike[str] | io.BytesIO) -> tuple[np.ndarray, int]:
    """Float32 mono samples of an audio file (or bytes) at its own sample rate, and the rate.

    For what must be resampled or checked by the caller: a TTS engine's output, an import
    before its conversion. Raises what soundfile raises for unreadable audio.
    """
    import soundfile as sf

    data, rate = sf.read(source if isinstance(source, io.BytesIO) else str(source), dtype="float32", always_2d=True)
    return np.ascontiguousarray(to_mono(data), dtype=np.float32), int(rate)


def decode_cell(cell: Any, where: str = "audio") -> np.ndarray:
    """Float32 mono 16 kHz samples of one dataset ``audio`` cell.

    Accepts what ``datasets`` stores with ``Audio(decode=False)`` (``{"bytes", "path"}``),
    decoded ``{"array", "sampling_rate"}`` dicts and torchcodec ``AudioDecoder`` objects.

    Raises:
        TermadaptError: naming ``where``, when the cell holds no readable audio.
    """
    import soundfile as sf

    if isinstance(cell, dict) and cell.get("array") is not None:
        wav, sr = np.asarray(cell["array"], dtype=np.float32), int(cell.get("sampling_rate") or SAMPLE_RATE)
    elif isinstance(cell, dict) and (cell.get("bytes") is not None or cell.get("path")):
        try:
            source = io.BytesIO(cell["bytes"]) if cell.get("bytes") is not None else cell["path"]
            wav, sr = sf.read(source, dtype="float32", always_2d=True)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            raise TermadaptError(
                f"{where}: cannot read audio ({exc}) — rebuild the dataset with `termadapt dataset`"
            ) from None
    elif hasattr(cell, "get_all_samples"):  # torchcodec AudioDecoder
        samples = cell.get_all_samples()
        wav, sr = samples.data.numpy().T.astype(np.float32), int(samples.sample_rate)
    else:
        raise TermadaptError(
            f"{where}: no audio in the cell ({type(cell).__name__}) — rebuild the dataset with `termadapt dataset`"
        )
    return np.ascontiguousarray(resample(to_mono(wav), sr), dtype=np.float32)


def cell_key(cell: Any) -> str:
    """Content key of a stored clip (24 hex digits): equal audio, equal key, in every stage.

    Hashes the encoded bytes when the dataset embeds them, else the file path with its size
    and modification time (the audio cache is content-addressed), else the decoded samples.
    """
    h = hashlib.sha256()
    if isinstance(cell, dict) and cell.get("bytes") is not None:
        h.update(b"bytes:" + bytes(cell["bytes"]))
    elif isinstance(cell, dict) and cell.get("path"):
        p = Path(cell["path"])
        st = p.stat() if p.exists() else None
        h.update(f"path:{p.resolve()}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}".encode())
    else:
        h.update(b"samples:" + decode_cell(cell).tobytes())
    return h.hexdigest()[:24]


def wav_bytes(wav: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit PCM wav file of ``wav`` (float samples in [-1, 1]) as bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wav, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def write_wav(path: str | os.PathLike[str], wav: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write ``wav`` as a 16-bit PCM wav file, atomically."""
    atomic_write_bytes(path, wav_bytes(wav, rate))


def wav_duration(path: str | os.PathLike[str]) -> float:
    """Duration of an audio file in seconds, from its header."""
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def too_short_for(seconds: float, text: str) -> str:
    """Why audio of ``seconds`` cannot hold ``text`` (see :data:`MIN_SECONDS_PER_CHAR`), or ""."""
    import unicodedata

    chars = sum(1 for c in text if unicodedata.category(c)[0] in "LN")
    if seconds < MIN_SECONDS_PER_CHAR * chars:
        return f"audio of {seconds:.2f} s is implausibly short for {chars} spoken characters"
    return ""


def declared_wav_seconds(head: bytes) -> float | None:
    """The duration a RIFF/WAVE header declares (its data chunk's size), or None (not a WAV, unknown size).

    Compared with the samples actually there, it tells a truncated file: libsndfile reads
    what is left and reports that as the length.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, rate, align = 12, 0, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 24 <= len(head):
            rate = int.from_bytes(head[pos + 12 : pos + 16], "little")
            align = int.from_bytes(head[pos + 20 : pos + 22], "little")
        elif chunk == b"data":
            if not rate or not align or size in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                return None
            return size / align / rate
        pos += 8 + size + (size & 1)
    return None
