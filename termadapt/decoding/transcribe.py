"""Transcribe audio with a transformers Whisper model: any length, optional timestamps.

Reads audio files (anything soundfile opens, through :func:`termadapt.audio.read_file`) or
arrays, and returns :class:`TranscriptResult` records. Clips up to 30 s without timestamps
go through the batched decoder (:func:`~.core.decode`, as every other stage); timestamps and
longer audio go through transformers' sequential long-form decoding, which moves the 30-s
window by the predicted timestamps.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE, WINDOW_SECONDS, read_file
from ..errors import TermadaptError
from .core import MAX_TARGET_POSITIONS, Condition, DecodeOptions, decode
from .hf import TransformersBackend, quiet_generation

__all__ = [
    "Segment",
    "TranscriptResult",
    "load_audio",
    "transcribe",
    "transcribe_batch",
    "format_txt",
    "format_srt",
    "format_json",
]

WINDOW_FRAMES = 3000  # mel frames in one 30 s window (10 ms hop)


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with its text; times in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class TranscriptResult:
    """The transcript of one audio input.

    Attributes:
        text: The whole transcript.
        segments: Timed segments (one segment spanning the clip when timestamps are off).
        duration: Audio length in seconds.
        source: The file path, or ``""`` for arrays.
    """

    text: str
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0
    source: str = ""


def load_audio(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an audio file as float32 mono at 16 kHz (:func:`termadapt.audio.read_file`)."""
    return read_file(path)


def _as_audio(audio: Any) -> tuple[np.ndarray, str]:
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio), str(audio)
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim != 1 or arr.size == 0:
        raise TermadaptError(f"audio array must be non-empty 1-D 16 kHz samples, got shape {arr.shape}")
    return arr, ""


def _generate_kwargs(
    model: Any, language: str | None, task: str, num_beams: int, max_new_tokens: int | None = None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"task": task, "num_beams": num_beams}
    if max_new_tokens:
        kwargs["max_new_tokens"] = int(max_new_tokens)
    if language:
        lang_to_id = getattr(model.generation_config, "lang_to_id", None) or {}
        if f"<|{language}|>" not in lang_to_id:
            raise TermadaptError(f"language {language!r} is not one of the model's languages (e.g. ja, en, zh)")
        kwargs["language"] = language
    return kwargs


def _features(processor: Any, model: Any, audios: list[np.ndarray], long_form: bool) -> dict[str, Any]:
    if long_form:
        inputs = processor.feature_extractor(
            audios,
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
            truncation=False,
            padding="longest",
            return_attention_mask=True,
        )
        if inputs.input_features.shape[-1] < WINDOW_FRAMES:  # short clips batched with long ones
            inputs = processor.feature_extractor(
                audios, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True
            )
    else:
        inputs = processor.feature_extractor(
            audios, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True
        )
    return {
        "input_features": inputs.input_features.to(model.device, model.dtype),
        "attention_mask": inputs.attention_mask.to(model.device),
    }


def transcribe(
    model: Any,
    processor: Any,
    audio: Any,
    language: str | None = "ja",
    timestamps: bool = False,
    task: str = "transcribe",
    num_beams: int = 1,
    max_new_tokens: int | None = None,
) -> TranscriptResult:
    """Transcribe one audio input of any length.

    Args:
        model: ``WhisperForConditionalGeneration``.
        processor: Its ``WhisperProcessor``.
        audio: 16 kHz mono float array, or a path to an audio file.
        language: Whisper language code (``None``: detect).
        timestamps: Predict segment timestamps (always on for audio over 30 s).
        task: ``transcribe`` or ``translate``.
        num_beams: Beam size (1 = greedy).
        max_new_tokens: Cap on tokens per 30 s window (default: the model's 448 limit).
    """
    import torch

    samples, source = _as_audio(audio)
    duration = len(samples) / SAMPLE_RATE
    long_form = duration > WINDOW_SECONDS
    kwargs = _generate_kwargs(model, language, task, num_beams, max_new_tokens)
    if not (timestamps or long_form or not language):  # one window, no timestamps: the batched decoder
        text = transcribe_batch(
            model, processor, [samples], language, 1, task, num_beams, max_new_tokens=max_new_tokens
        )[0]
        return TranscriptResult(
            text=text,
            segments=[Segment(0.0, round(duration, 2), text)] if text else [],
            duration=duration,
            source=source,
        )
    inputs = _features(processor, model, [samples], long_form)
    tok = processor.tokenizer
    with torch.inference_mode(), quiet_generation():
        if not (timestamps or long_form):  # language detection on one window
            ids = model.generate(**inputs, **kwargs, return_timestamps=False)
            text = tok.decode(ids[0], skip_special_tokens=True).strip()
            return TranscriptResult(
                text=text,
                segments=[Segment(0.0, round(duration, 2), text)] if text else [],
                duration=duration,
                source=source,
            )
        out = model.generate(**inputs, **kwargs, return_timestamps=True, return_segments=True)
    segments = []
    for seg in out["segments"][0]:
        text = tok.decode(seg["tokens"], skip_special_tokens=True).strip()
        if text:
            start, end = min(float(seg["start"]), duration), min(float(seg["end"]), duration)
            segments.append(Segment(round(start, 2), round(max(end, start), 2), text))
    full = "".join(s.text for s in segments) if language in ("ja", "zh") else " ".join(s.text for s in segments)
    return TranscriptResult(text=full, segments=segments, duration=duration, source=source)


@dataclass(frozen=True)
class _ArrayClip:
    samples_: np.ndarray
    audio_key: str
    clip_id: str

    def samples(self) -> np.ndarray:
        return self.samples_


def transcribe_batch(
    model: Any,
    processor: Any,
    audios: list[Any],
    language: str | None = "ja",
    batch_size: int = 8,
    task: str = "transcribe",
    num_beams: int = 1,
    progress: bool = False,
    max_new_tokens: int | None = None,
) -> list[str]:
    """Transcribe many clips, batching those up to 30 s; returns one text per clip.

    Short clips go through :func:`~.core.decode` (one encoder pass per batch, greedy or
    beam search); clips over 30 s, and a ``language`` of None (detection), are decoded one by
    one with :func:`transcribe`.
    """
    import hashlib

    samples = [_as_audio(a)[0] for a in audios]
    texts: list[str | None] = [None] * len(samples)
    short = [i for i, s in enumerate(samples) if len(s) / SAMPLE_RATE <= WINDOW_SECONDS] if language else []
    if short:
        _generate_kwargs(model, language, task, num_beams)  # a clear error for an unknown language
        options = DecodeOptions(
            language=language, task=task, num_beams=num_beams, max_new_tokens=max_new_tokens or MAX_TARGET_POSITIONS
        )
        clips = [_ArrayClip(samples[i], hashlib.sha256(samples[i].tobytes()).hexdigest()[:24], str(i)) for i in short]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(clips), desc="transcribing", unit="clip")
        result = decode(
            # an in-memory cache for this call only: no fingerprint of the weights is needed
            [Condition("transcribe", model, processor, options, "transcribe", "transcribe")],
            clips,
            None,
            TransformersBackend(),
            batch_size=batch_size,
            progress=bar.update if bar is not None else None,
        )
        if bar is not None:
            bar.close()
        for i, text in zip(short, result.texts["transcribe"], strict=True):
            texts[i] = text
    for i, text in enumerate(texts):
        if text is None:
            texts[i] = transcribe(
                model,
                processor,
                samples[i],
                language=language,
                task=task,
                num_beams=num_beams,
                max_new_tokens=max_new_tokens,
            ).text
    return [t or "" for t in texts]


def format_txt(result: TranscriptResult, timestamps: bool) -> str:
    """Plain text, or ``start<TAB>end<TAB>text`` lines (seconds) when ``timestamps``."""
    if not timestamps:
        return result.text + "\n"
    return "".join(f"{s.start:.2f}\t{s.end:.2f}\t{s.text}\n" for s in result.segments)


def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def format_srt(result: TranscriptResult) -> str:
    """SubRip subtitles, one cue per segment."""
    cues = [f"{i}\n{_srt_time(s.start)} --> {_srt_time(s.end)}\n{s.text}\n" for i, s in enumerate(result.segments, 1)]
    return "\n".join(cues)


def format_json(results: list[TranscriptResult]) -> str:
    """A JSON list with one object per input (``source``, ``text``, ``duration``, ``segments``)."""
    return json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1) + "\n"


def default_output_name(source: str, fmt: str) -> Path:
    """``talk.wav`` → ``talk.srt`` (used when writing next to the input)."""
    return Path(source).with_suffix("." + fmt)
