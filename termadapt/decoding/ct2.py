"""The CTranslate2 (faster-whisper) backend of the decoder.

Selected with ``[evaluate] backend = "faster-whisper"``. Every condition's model (the base
spec, ``run_dir/model``, ``run_dir/merged``) is converted once to a float32 CTranslate2
directory under ``<cache root>/ct2/<model fingerprint>/`` and loaded with
``[evaluate] ct2_compute_type`` (``float32``, or ``int8`` quantized when loading).

Decoding reproduces ``WhisperModel.transcribe(audio_padded_to_30s, language=..., task=..., beam_size=1,
temperature=0, without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
initial_prompt=<term prompt ids>)`` for clips of at most 30 s (one segment), but on batches
of clips, with the encoder pass shared by every condition whose encoder weights are
identical (``ctranslate2.models.Whisper.generate`` accepts encoder outputs), as
:func:`~.core.decode` arranges for every backend. :func:`transcribe_per_clip` is the plain
``transcribe`` call, kept as the reference the tests and the benchmark compare against.

Reads: conditions and audio. Writes: the CT2 conversions (cache).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import WINDOW_SAMPLES
from ..cache import cache_dir as _cache_dir
from ..cache import file_lock
from ..errors import ConfigError, MissingDependencyError
from .core import Clip, Condition

__all__ = [
    "BACKEND",
    "CT2_COMPUTE_TYPES",
    "FasterWhisperBackend",
    "check_compute_type",
    "ct2_dir",
    "load_fw_models",
    "transcribe_per_clip",
]

BACKEND = "faster-whisper"
# Compute types that run on a plain CPU build of CTranslate2 (float16 needs a GPU).
CT2_COMPUTE_TYPES = ("float32", "int8", "int8_float32")
# Compute types a GPU adds (float16 needs CUDA).
CT2_GPU_COMPUTE_TYPES = ("float16", "int8_float16", "bfloat16")
# Conversions are stored in float32 so one copy serves every compute type (CT2 quantizes
# when loading); bump the suffix when the conversion changes its output.
CT2_STORAGE = "float32"
CT2_LAYOUT_VERSION = "1"
# Clips are zero-padded to Whisper's 30-s window before faster-whisper's log-mel, as openai-whisper and transformers do; faster-whisper alone pads the log-mel with
# zeros instead, which changed hypotheses of whisper-base on short clips (4 OpenJTalk
# sentences: CER between the backends 0.057 without / 0.13 with the term prompt when
# native, 0.0 both when padded). Padding makes the backends differ only in the decoder
# implementation; ``native_features=True`` keeps faster-whisper's own front end.
# faster-whisper's default max_initial_timestamp (1 s) in 0.02 s timestamp steps; only
# matters with timestamps, passed so the batched call equals transcribe()'s.
MAX_INITIAL_TIMESTAMP_INDEX = 50


def check_compute_type(compute_type: str, device: str = "cpu") -> None:
    """Raise :class:`ConfigError` for a compute type the device cannot run."""
    allowed = CT2_COMPUTE_TYPES + (CT2_GPU_COMPUTE_TYPES if device == "cuda" else ())
    if compute_type not in allowed:
        raise ConfigError(f"evaluate.ct2_compute_type = {compute_type!r} — use one of {', '.join(allowed)} on {device}")


def _cpu_threads() -> int:
    """Threads for CTranslate2: OMP_NUM_THREADS when set (shared machines), else every core."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def ct2_dir(cond: Condition, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """CTranslate2 directory of a condition's model, converted once and cached.

    The directory is ``<cache root>/ct2/<fingerprint>-<storage>-v<layout>/``; a ``.complete``
    marker is written after the conversion, so an interrupted one is redone.
    """
    from ..models.export import export_ct2

    out = _cache_dir("ct2", cache_dir) / f"{cond.fingerprint}-{CT2_STORAGE}-v{CT2_LAYOUT_VERSION}"
    with file_lock(out.with_name(f".{out.name}.lock")):  # two evaluations converting the same model wait
        if (out / ".complete").is_file() and (out / "model.bin").is_file():
            return out
        export_ct2(cond.model, cond.processor, out, quantization=CT2_STORAGE, force=True)
        (out / ".complete").write_text(f"{cond.source}\n", encoding="utf-8")
    return out


def load_fw_models(
    conditions: Sequence[Condition],
    compute_type: str = "float32",
    cache_dir: Any = None,
    cpu_threads: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """One ``faster_whisper.WhisperModel`` per distinct model fingerprint among ``conditions``."""
    check_compute_type(compute_type, device)
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise MissingDependencyError(
            "evaluate.backend = 'faster-whisper' needs faster-whisper: "
            "pip install 'termadapt[offline-base]' faster-whisper"
        ) from None
    threads = cpu_threads or _cpu_threads()
    models: dict[str, Any] = {}
    for cond in conditions:
        if cond.fingerprint not in models:
            models[cond.fingerprint] = WhisperModel(
                str(ct2_dir(cond, cache_dir)),
                device=device,
                compute_type=compute_type,
                cpu_threads=threads,
                num_workers=1,
            )
    return models


def _tokenizer(fw: Any, cond: Condition) -> Any:
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(fw.hf_tokenizer, fw.model.is_multilingual, task=cond.options.task, language=cond.options.language)


def _prompt_tokens(cond: Condition) -> list[int]:
    """Term prompt as faster-whisper's ``initial_prompt`` ids (without ``<|startofprev|>``)."""
    return [int(i) for i in cond.options.prompt_ids[1:]]


def _window_audio(audio: np.ndarray, native_features: bool) -> np.ndarray:
    """Audio zero-padded to the 30-s window (see :data:`WINDOW_SAMPLES`), unless native."""
    if native_features or len(audio) >= WINDOW_SAMPLES:
        return audio
    return np.pad(audio, (0, WINDOW_SAMPLES - len(audio)))


def _segment_features(fw: Any, audio: np.ndarray, native_features: bool = False) -> np.ndarray:
    """The first 30-s window's log-mel, exactly as ``transcribe`` cuts and pads it."""
    from faster_whisper.audio import pad_or_trim

    features = fw.feature_extractor(_window_audio(audio, native_features))
    content_frames = features.shape[-1] - 1
    return pad_or_trim(features[:, : min(fw.feature_extractor.nb_max_frames, content_frames)])


def _generate(fw: Any, cond: Condition, encoder_output: Any, n: int) -> list[str]:
    """Greedy decode ``n`` encoded clips with ``cond``'s prompt; texts stripped."""
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizer = _tokenizer(fw, cond)
    prompt = fw.get_prompt(tokenizer, _prompt_tokens(cond), without_timestamps=True)
    max_new = cond.options.token_budget()  # len(prompt) == len(prompt_ids) + START_TOKENS
    results = fw.model.generate(
        encoder_output,
        [list(prompt) for _ in range(n)],
        beam_size=cond.options.num_beams,
        patience=1,
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        max_length=len(prompt) + max_new,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        max_initial_timestamp_index=MAX_INITIAL_TIMESTAMP_INDEX,
    )
    return [tokenizer.decode(r.sequences_ids[0]).strip() for r in results]


def _subset(encoder_output: Any, rows: list[int], total: int) -> Any:
    """Rows of an encoder output (a copy only when not all rows are wanted), on its device."""
    import ctranslate2

    if len(rows) == total:
        return encoder_output
    if getattr(encoder_output, "device", "cpu") == "cuda":  # no numpy view of GPU memory: select with torch
        import torch

        return ctranslate2.StorageView.from_array(torch.as_tensor(encoder_output, device="cuda")[rows].contiguous())
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoder_output)[rows]))


class FasterWhisperBackend:
    """Decode with CTranslate2 through faster-whisper (see the module docstring).

    Args:
        compute_type: CTranslate2 compute type (:data:`CT2_COMPUTE_TYPES`).
        cache_dir: Cache root for the conversions (default :func:`termadapt.cache.cache_root`).
        models: Already loaded ``fingerprint -> WhisperModel`` (benchmarks reuse them).
        native_features: Use faster-whisper's own log-mel padding (see the constants above).
        device: ``cpu`` (default) or ``cuda``.
    """

    name = BACKEND
    takes_stored = False

    def __init__(
        self,
        compute_type: str = "float32",
        cache_dir: Any = None,
        models: dict[str, Any] | None = None,
        native_features: bool = False,
        device: str = "cpu",
    ) -> None:
        check_compute_type(compute_type, device)
        self.compute_type, self.cache_dir, self.native_features, self.device = (
            compute_type,
            cache_dir,
            native_features,
            device,
        )
        self.models: dict[str, Any] = dict(models or {})

    def tag(self, cond: Condition) -> str:
        return f"{self.name}:{self.device}:{self.compute_type}" + (":native" if self.native_features else "")

    def prepare(self, conditions: Sequence[Condition]) -> None:
        todo = [c for c in conditions if c.fingerprint not in self.models]
        if todo:
            self.models.update(load_fw_models(todo, self.compute_type, self.cache_dir, device=self.device))

    def encode(self, cond: Condition, audios: Sequence[np.ndarray]) -> Any:
        fw = self.models[cond.fingerprint]
        return fw.encode(np.stack([_segment_features(fw, a, self.native_features) for a in audios]))

    def stored(self, cond: Condition, hidden: Any) -> Any:
        raise TypeError("the CTranslate2 backend runs its own encoder (takes_stored is False)")

    def take(self, encoded: Any, rows: Sequence[int], total: int) -> Any:
        return _subset(encoded, list(rows), total)

    def generate(self, cond: Condition, encoded: Any, n: int) -> list[str]:
        return _generate(self.models[cond.fingerprint], cond, encoded, n)


def transcribe_per_clip(
    conditions: Sequence[Condition], clips: Sequence[Clip], models: dict[str, Any], native_features: bool = False
) -> tuple[dict[str, list[str]], float]:
    """Reference path: one ``WhisperModel.transcribe`` call per clip and condition, no cache.

    Returns:
        ``(hypotheses per condition, seconds)``; segment texts are joined.
    """
    start = time.perf_counter()
    out: dict[str, list[str]] = {}
    for cond in conditions:
        fw = models[cond.fingerprint]
        prompt = _prompt_tokens(cond) or None
        hyps = []
        for clip in clips:
            segments, _ = fw.transcribe(
                _window_audio(clip.samples(), native_features),
                language=cond.options.language,
                task=cond.options.task,
                beam_size=1,
                best_of=1,
                temperature=0.0,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
                initial_prompt=prompt,
                max_new_tokens=cond.options.max_new_tokens,
                compression_ratio_threshold=None,
                log_prob_threshold=None,
                no_speech_threshold=None,
            )
            hyps.append("".join(s.text for s in segments).strip())
        out[cond.name] = hyps
    return out, time.perf_counter() - start
