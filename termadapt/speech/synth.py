"""Synthesis stage: utterances → speech clips in a shared, content-addressed audio cache.

Reads ``run_dir/utterances.jsonl`` (:class:`~termadapt.records.Utterance`) and, when present,
the OpenJTalk user dictionary in ``run_dir/userdict/``. Writes ``voices.json`` (the voice
plan), ``synth.jsonl`` (:class:`~termadapt.records.Clip`), ``synth_failures.jsonl`` (one row
per failed clip, with its text and error), ``synth_summary.json`` (counts and speed) and
``config.resolved.toml``.

Voices: train-split sentences (term sentences and the general replay pool) are spoken by
the training voices; validation and test sentences only by held-out voices. Every clip is
level-normalised, checked (silent or clipped clips fail), resampled to 16 kHz mono and
stored as a 16-bit wav named by the hash of everything that determines it (engine, engine
version, voice, settings, TTS text, sample rate). Finished clips are never redone: an
interrupted run, a re-run, or another run with the same voices reuses them.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE, read_file, resample, too_short_for, wav_duration, write_wav
from ..cache import cache_dir
from ..config import Recipe, save_resolved
from ..errors import TermadaptError
from ..records import (
    SYNTH_FILE,
    UTTERANCES_FILE,
    Clip,
    Utterance,
    atomic_write_text,
    read_jsonl,
    sha256_text,
    write_jsonl,
)
from ..tts import ENGINE_NAMES, VoiceSpec, engine_class, get_engine, parse_voice
from .augment import AugmentSpec, apply_augment, check_augment_available, draw_augment
from .voices import VoicePlan, plan_voices, write_voice_plan

__all__ = [
    "SynthSummary",
    "synthesize",
    "check_voices",
    "audio_cache",
    "clip_key",
    "normalize_audio",
    "check_length",
    "engine_options",
    "plan_clips",
]

# Bump when normalisation/resampling changes: old cached audio must not be reused.
AUDIO_FORMAT_VERSION = "v1"
TARGET_RMS_DBFS = -20.0  # speech level typical of ASR corpora
PEAK_LIMIT = 0.95  # headroom so later gain/noise rarely clips
SILENCE_PEAK = 1e-3  # a raw peak below -60 dBFS is no speech at all
MIN_DURATION_S = 0.1  # shorter output means the engine spoke nothing
# A clip is "clipped" when, at full scale, many neighbouring samples sit exactly at the peak
# (flat tops); a smooth waveform reaches its peak in isolated samples.
CLIP_LEVEL = 0.98
CLIP_TOLERANCE = 1e-6
CLIP_MIN_SAMPLES = 32
CLIP_MAX_SHARE = 1e-3
# Failed clips named on the console (all of them are in synth_failures.jsonl).
FAILURES_SHOWN = 3
# Jobs sent to a worker at once: amortises inter-process overhead of ~1 ms per task.
CHUNK_SIZE = 8

FAILURES_FILE = "synth_failures.jsonl"
SUMMARY_FILE = "synth_summary.json"


@dataclass
class SynthSummary:
    """Counts written to ``synth_summary.json`` (and printed as one line)."""

    clips: int = 0
    cached: int = 0
    synthesized: int = 0
    augmented: int = 0
    failed: int = 0
    seconds: float = 0.0
    audio_hours: float = 0.0

    def line(self) -> str:
        rate = (self.synthesized + self.augmented) / self.seconds if self.seconds else 0.0
        return (
            f"synth: {self.clips} clips ({self.cached} cached, {self.synthesized} synthesized, "
            f"{self.augmented} augmented, {self.failed} failed) in {self.seconds:.1f} s "
            f"({rate:.1f} new clips/s), {self.audio_hours:.2f} h of audio"
        )


def audio_cache(recipe: Recipe) -> Path:
    """The audio cache: ``synth.cache_dir``, else ``<cache root>/audio`` (:mod:`termadapt.cache`)."""
    return recipe.path(recipe.synth.cache_dir) if recipe.synth.cache_dir else cache_dir("audio")


def clip_key(
    engine: str, engine_version: str, voice: str, settings: str, tts_text: str, sample_rate: int = SAMPLE_RATE
) -> str:
    """Content address of a synthesized clip (hex SHA-256)."""
    return sha256_text(
        "termadapt-clip", AUDIO_FORMAT_VERSION, engine, engine_version, voice, settings, tts_text, str(sample_rate)
    )


def _key_path(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.wav"


def normalize_audio(wav: np.ndarray, sr: int) -> np.ndarray:
    """Check, level-normalise and resample one waveform to 16 kHz float32.

    Raises:
        ValueError: the waveform is empty, silent, not finite or clipped.
    """
    wav = np.asarray(wav, dtype=np.float64).reshape(-1)
    if wav.size < MIN_DURATION_S * sr:
        raise ValueError(f"engine returned {wav.size / max(sr, 1):.3f} s of audio (empty)")
    if not np.all(np.isfinite(wav)):
        raise ValueError("engine returned NaN/inf samples")
    peak = float(np.max(np.abs(wav)))
    if peak < SILENCE_PEAK:
        raise ValueError(f"silent clip (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS)")
    at_peak = np.abs(wav) >= peak * (1 - CLIP_TOLERANCE)
    near_peak = int(np.sum(at_peak[:-1] & at_peak[1:]))
    if peak >= CLIP_LEVEL and near_peak > max(CLIP_MIN_SAMPLES, CLIP_MAX_SHARE * wav.size):
        raise ValueError(f"clipped clip ({near_peak} samples at full scale)")
    wav = resample(wav, int(sr))
    rms = float(np.sqrt(np.mean(wav**2)))
    wav = wav * (10 ** (TARGET_RMS_DBFS / 20) / max(rms, 1e-9))
    peak = float(np.max(np.abs(wav)))
    if peak > PEAK_LIMIT:
        wav = wav * (PEAK_LIMIT / peak)
    return wav.astype(np.float32)


def failure_reason(exc: BaseException) -> str:
    """Why a clip failed, as a sentence: the message alone when it explains itself (our own
    ValueError/TermadaptError), else prefixed with the exception's name (an engine's crash)."""
    message = " ".join(str(exc).split())
    if message and isinstance(exc, (ValueError, TermadaptError)):
        return message[0].upper() + message[1:]
    return f"{type(exc).__name__}: {message}" if message else f"the engine raised {type(exc).__name__}"


def check_length(wav: np.ndarray, tts_text: str) -> None:
    """Refuse audio implausibly short for its text (:func:`termadapt.audio.too_short_for`).

    Raises:
        ValueError: the clip lasts less than the text's spoken characters allow.
    """
    problem = too_short_for(len(wav) / SAMPLE_RATE, tts_text)
    if problem:
        raise ValueError(f"{problem} (the TTS did not speak the text)")


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Job:
    """One cache entry to produce: a base clip (``augment`` None) or an augmented copy."""

    key: str
    voice: str
    tts_text: str
    augment: AugmentSpec | None = None
    base_key: str = ""


def engine_options(recipe: Recipe, run_dir: Path) -> dict[str, dict[str, Any]]:
    """Constructor options per engine for this run, as each engine reads them from the recipe."""
    return {name: engine_class(name).options_for(recipe, Path(run_dir)) for name in ENGINE_NAMES}


def check_voices(recipe: Recipe, run_dir: Path) -> VoicePlan:
    """The recipe's voice plan, or the ConfigError a misspelt or overlapping voice gives.

    Cheap (no audio is made); the orchestrator calls it before the first stage so a typo in
    ``[synth]`` is reported before minutes of other work.
    """
    return plan_voices(recipe.synth, engine_options(recipe, run_dir))


def _subset(voices: list[VoiceSpec], k: int, rng: random.Random) -> list[VoiceSpec]:
    if k <= 0 or k >= len(voices):
        return list(voices)
    return sorted(rng.sample(voices, k), key=voices.index)


# General replay sentences need variety of sentences more than of voices: they may be spoken
# by fewer voices than the term sentences. Homophone-guard sentences are few and balance the
# term's own sentences, so they keep every training voice, like the term sentences.
REPLAY_KINDS = frozenset({"general"})


def plan_clips(
    recipe: Recipe, utterances: list[Utterance], plan: VoicePlan, options: dict[str, dict[str, Any]], root: Path
) -> tuple[list[tuple[Clip, _Job]], dict[str, str]]:
    """Assign voices (and augmentation copies) to utterances.

    Returns:
        (clip, job) pairs in manifest order, and voice → engine cache version.
    """
    versions: dict[str, str] = {}
    for spec in plan.train + plan.never_trained:
        versions[str(spec)] = get_engine(spec.engine, **options.get(spec.engine, {})).cache_version(spec)
    heldout = {str(v) for v in plan.never_trained}
    cfg = recipe.synth
    pairs: list[tuple[Clip, _Job]] = []
    for utt in utterances:
        rng = random.Random(f"{recipe.seed}:{utt.id}")
        if utt.split == "train" and utt.kind in REPLAY_KINDS and cfg.replay_voices_per_utterance:
            voices = _subset(plan.train, cfg.replay_voices_per_utterance, rng)
        elif utt.split == "train":
            voices = _subset(plan.train, cfg.train_voices_per_utterance, rng)
        elif utt.split == "validation":
            voices = _subset(plan.validation_voices, cfg.heldout_voices_per_utterance, rng)
        elif utt.split == "test":
            voices = _subset(plan.heldout, cfg.heldout_voices_per_utterance, rng)
        else:
            raise TermadaptError(
                f"{UTTERANCES_FILE}: utterance {utt.id} has unknown split '{utt.split}' — "
                "expected train, validation or test; re-run `termadapt sentences`"
            )
        for spec in voices:
            settings = "&".join(f"{k}={v}" for k, v in spec.params)
            key = clip_key(spec.engine, versions[str(spec)], spec.voice, settings, utt.tts_text)
            base = Clip(
                utterance_id=utt.id,
                text=utt.text,
                kind=utt.kind,
                split=utt.split,
                voice=str(spec),
                held_out=str(spec) in heldout,
                audio_path=str(_key_path(root, key)),
                duration=0.0,
                terms=tuple(utt.terms),
                homophone_of=utt.homophone_of,
                decides=utt.decides,
            )
            pairs.append((base, _Job(key, str(spec), utt.tts_text)))
            if utt.split != "train":
                continue
            for copy in range(cfg.augment_copies):
                spec_a = draw_augment(cfg.augmentations, random.Random(f"{recipe.seed}:{key}:{copy}"))
                akey = sha256_text("termadapt-augment", key, spec_a.key())
                clip = Clip(**{**asdict(base), "audio_path": str(_key_path(root, akey)), "augment": spec_a.label})
                pairs.append((clip, _Job(akey, str(spec), utt.tts_text, spec_a, key)))
    return pairs, versions


# ----------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def _init_worker(options: dict[str, dict[str, Any]], root: str) -> None:
    _WORKER["options"] = options
    _WORKER["root"] = Path(root)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_jobs(jobs: list[_Job]) -> list[tuple[str, str]]:
    """Produce each job's wav in the cache; return (key, error) per job ("" = ok)."""
    out = []
    root: Path = _WORKER["root"]
    for job in jobs:
        try:
            path = _key_path(root, job.key)
            if not path.is_file():
                if job.augment is None:
                    spec = parse_voice(job.voice)
                    engine = get_engine(spec.engine, **_WORKER["options"].get(spec.engine, {}))
                    wav, sr = engine.synthesize(job.tts_text, spec)
                    wav = normalize_audio(wav, sr)
                    check_length(wav, job.tts_text)
                    write_wav(path, wav)
                else:
                    base = read_file(_key_path(root, job.base_key))
                    write_wav(path, apply_augment(base, SAMPLE_RATE, job.augment))
            out.append((job.key, ""))
        except Exception as exc:  # one failed clip must not stop the others: it is reported
            out.append((job.key, failure_reason(exc)))
    return out


def _execute(
    jobs: list[_Job], workers: int, options: dict[str, dict[str, Any]], root: Path, desc: str
) -> dict[str, str]:
    """Run jobs (in-process or in a pool) with a progress bar; return key → error for failures."""
    from tqdm.auto import tqdm

    errors: dict[str, str] = {}
    if not jobs:
        return errors
    chunks = [jobs[i : i + CHUNK_SIZE] for i in range(0, len(jobs), CHUNK_SIZE)]
    bar = tqdm(total=len(jobs), desc=desc, unit="clip", file=sys.stderr, disable=None, smoothing=0.1)
    try:
        if workers <= 1 or len(chunks) == 1:
            _init_worker(options, str(root))
            for chunk in chunks:
                for key, err in _run_jobs(chunk):
                    if err:
                        errors[key] = err
                bar.update(len(chunk))
            return errors
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(options, str(root))) as pool:
            pending: set[Future] = {pool.submit(_run_jobs, c) for c in chunks}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        results = fut.result()
                        for key, err in results:
                            if err:
                                errors[key] = err
                        bar.update(len(results))
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
        return errors
    finally:
        bar.close()


# ----------------------------------------------------------------------------- stage


def synthesize(recipe: Recipe, run_dir: str | Path, workers: int | None = None) -> Path:
    """Synthesize every utterance of a run (see the module docstring).

    Args:
        recipe: The recipe (``[synth]`` section and ``seed``).
        run_dir: Run directory holding ``utterances.jsonl``.
        workers: Worker processes (default ``synth.workers``; 0 = CPU cores).

    Returns:
        Path of ``synth.jsonl``.

    Raises:
        TermadaptError: missing input, unusable voices, or more failed clips than
            ``synth.max_failure_share`` (details in ``synth_failures.jsonl``).
    """
    run_dir = Path(run_dir)
    source = run_dir / UTTERANCES_FILE
    if not source.is_file():
        raise TermadaptError(f"{source}: not found — run `termadapt sentences RECIPE --run-dir {run_dir}` first")
    utterances = read_jsonl(source, Utterance)
    if not utterances:
        raise TermadaptError(f"{source}: no utterances — check the dictionary and templates, then re-run sentences")
    started = time.perf_counter()
    options = engine_options(recipe, run_dir)
    plan = check_voices(recipe, run_dir)
    write_voice_plan(plan, run_dir)
    for note in plan.notes:  # a fallback changes what the held-out test means: say so where it is seen
        print(f"warning: {note}", file=sys.stderr)
    save_resolved(recipe, run_dir)
    if recipe.synth.augment_copies > 0:
        check_augment_available(recipe.synth.augmentations)
    root = audio_cache(recipe)
    root.mkdir(parents=True, exist_ok=True)
    pairs, _ = plan_clips(recipe, utterances, plan, options, root)

    summary = SynthSummary(clips=len(pairs))
    todo_base: dict[str, _Job] = {}
    todo_aug: dict[str, _Job] = {}
    for _, job in pairs:
        if _key_path(root, job.key).is_file():
            continue
        (todo_aug if job.augment else todo_base)[job.key] = job
    summary.cached = len(pairs) - sum(1 for _, j in pairs if j.key in todo_base or j.key in todo_aug)
    n_workers = workers if workers is not None else recipe.synth.workers
    n_workers = n_workers or (os.cpu_count() or 1)
    for voice in sorted({j.voice for j in todo_base.values()}):  # one-time engine work, before any worker
        spec = parse_voice(voice)
        get_engine(spec.engine, **options.get(spec.engine, {})).prepare()
    errors = _execute(list(todo_base.values()), n_workers, options, root, "synth")
    aug_jobs = [j for j in todo_aug.values() if j.base_key not in errors]
    errors.update(_execute(aug_jobs, n_workers, options, root, "augment"))
    for j in todo_aug.values():
        if j.base_key in errors and j.key not in errors:
            errors[j.key] = f"base clip failed: {errors[j.base_key]}"
    summary.synthesized = sum(1 for k in todo_base if k not in errors)
    summary.augmented = sum(1 for k in todo_aug if k not in errors)

    clips: list[Clip] = []
    failures: list[dict[str, Any]] = []
    seen_fail: set[tuple[str, str]] = set()
    for clip, job in pairs:
        err = errors.get(job.key)
        if err:
            if (clip.utterance_id, job.key) not in seen_fail:
                seen_fail.add((clip.utterance_id, job.key))
                failures.append(
                    {
                        "utterance_id": clip.utterance_id,
                        "voice": clip.voice,
                        "augment": clip.augment,
                        "text": clip.text,
                        "tts_text": job.tts_text,
                        "error": err,
                    }
                )
            continue
        path = Path(clip.audio_path)
        clips.append(Clip(**{**asdict(clip), "duration": round(wav_duration(path), 3)}))
    summary.failed = len(failures)
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.audio_hours = round(sum(c.duration for c in clips) / 3600, 4)
    write_jsonl(run_dir / FAILURES_FILE, failures)
    atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(asdict(summary), indent=2) + "\n")
    print(summary.line(), file=sys.stderr)
    for row in failures[:FAILURES_SHOWN]:
        print(f"  failed: 「{row['text']}」 in voice {row['voice']} — {row['error']}", file=sys.stderr)
    if len(failures) > FAILURES_SHOWN:
        print(f"  … {len(failures) - FAILURES_SHOWN} more in {run_dir / FAILURES_FILE}", file=sys.stderr)
    share = summary.failed / max(summary.clips, 1)
    if share > recipe.synth.max_failure_share:
        raise TermadaptError(
            f"{summary.failed} of {summary.clips} clips failed ({share:.1%} > synth.max_failure_share "
            f"{recipe.synth.max_failure_share:.1%}); first: {failures[0]['error']} — see {run_dir / FAILURES_FILE}"
        )
    return _write_manifest(run_dir, clips)


def _write_manifest(run_dir: Path, clips: list[Clip]) -> Path:
    out = run_dir / SYNTH_FILE
    write_jsonl(out, clips)
    return out
