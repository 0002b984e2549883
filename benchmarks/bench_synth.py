"""Speech synthesis side by side: engines on the same sentences, and the synth stage as the pipeline runs it.

Usage::

    python benchmarks/bench_synth.py [--sentences 12] [--reps 3] [--workers 2] [--json out.json]

Part 1 (``engines``) speaks the same first N shipped general sentences with each engine
available here, in this process with one thread (what one synth worker runs): every engine
warm (loaded, one untimed clip), ``--reps`` interleaved repetitions with the order rotated,
min and median seconds; clips/s and the real-time factor (synthesis s / audio s) from the
median. Part 2 (``stage``) runs the whole synth stage (normalisation, resampling, cache
writes, the worker pool) on the same sentences spoken by the quickstart's voices — its
OpenJTalk training voices for a train split, its Kokoro held-out voices for a test split —
into a fresh audio cache at each repetition (cold), and reports its clips/s; the time of a
re-run that finds every clip cached is reported as a time, not as a speed-up (it does no
synthesis to compare with).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from termadapt.config import Recipe, load_recipe, recipe_from_dict  # noqa: E402
from termadapt.records import Utterance, write_jsonl  # noqa: E402
from termadapt.speech.synth import synthesize  # noqa: E402
from termadapt.text.templates import load_general_sentences  # noqa: E402
from termadapt.tts import engine_class, get_engine, parse_voice  # noqa: E402
from termadapt.tts.openjtalk import cli_available  # noqa: E402

VOICES = {
    "openjtalk (pyopenjtalk)": "openjtalk:mei_normal?speed=1",
    "openjtalk (open_jtalk CLI, all-pass)": "openjtalk:mei_normal?alpha=0.5",
    "kokoro": "kokoro:jf_alpha",
}


def _engines(texts: list[str], reps: int) -> list[dict]:
    ready = {}
    for label, voice in VOICES.items():
        spec = parse_voice(voice)
        if not engine_class(spec.engine).available() or ("CLI" in label and not cli_available()):
            print(f"{label:40s} not available here", flush=True)
            continue
        engine = get_engine(spec.engine, threads=1) if spec.engine == "kokoro" else get_engine(spec.engine)
        engine.synthesize(texts[0], spec)  # warm-up: loading is not a per-clip cost
        ready[label] = (engine, spec)
    seconds: dict[str, list[float]] = {k: [] for k in ready}
    audio: dict[str, float] = {}
    labels = list(ready)
    for rep in range(reps):
        for label in labels[rep % len(labels) :] + labels[: rep % len(labels)]:
            engine, spec = ready[label]
            total = 0.0
            start = time.perf_counter()
            for text in texts:
                wav, sr = engine.synthesize(text, spec)
                total += len(wav) / sr
            seconds[label].append(time.perf_counter() - start)
            audio[label] = total
    rows = []
    for label in labels:
        med = statistics.median(seconds[label])
        rows.append(
            {
                "engine": label,
                "clips": len(texts),
                "min_s": round(min(seconds[label]), 2),
                "median_s": round(med, 2),
                "clips_per_s": round(len(texts) / med, 2),
                "rtf": round(med / audio[label], 3),
                "audio_s": round(audio[label], 1),
            }
        )
        print(f"{label:40s} {rows[-1]['clips_per_s']:6.2f} clips/s  RTF {rows[-1]['rtf']:.3f}", flush=True)
    return rows


def _stage(texts: list[str], workers: int, reps: int) -> dict:
    quick = load_recipe(ROOT / "recipes" / "quickstart-ja.toml")
    half = len(texts) // 2
    utterances = [Utterance(f"g{i}", t, t, "general", "train") for i, t in enumerate(texts[:half])] + [
        Utterance(f"t{i}", t, t, "general", "test") for i, t in enumerate(texts[half:])
    ]
    cold, cached, clips = [], [], 0
    for _ in range(reps):
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
            run = Path(tmp) / "run"
            run.mkdir()
            write_jsonl(run / "utterances.jsonl", utterances)
            # the quickstart's voices and voices per sentence, into a fresh cache
            synth = {**dataclasses.asdict(quick.synth), "cache_dir": str(Path(tmp) / "cache"), "workers": workers}
            recipe = recipe_from_dict({"synth": synth})
            for times in (cold, cached):
                (run / "synth.jsonl").unlink(missing_ok=True)
                start = time.perf_counter()
                synthesize(recipe, run)
                times.append(time.perf_counter() - start)
            clips = sum(1 for _ in (run / "synth.jsonl").open(encoding="utf-8"))
    med = statistics.median(cold)
    row = {
        "clips": clips,
        "workers": workers,
        "cold_min_s": round(min(cold), 2),
        "cold_median_s": round(med, 2),
        "cold_clips_per_s": round(clips / med, 2),
        "cached_rerun_median_s": round(statistics.median(cached), 2),
    }
    print(
        f"synth stage, {clips} clips, {workers} workers: cold {med:.1f} s ({row['cold_clips_per_s']} clips/s)",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    texts = load_general_sentences(Recipe().general_sentences_path())[: args.sentences]
    print(f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}", flush=True)
    result = {
        "sentences": len(texts),
        "reps": args.reps,
        "engines": _engines(texts, args.reps),
        "stage": _stage(texts, args.workers, args.reps),
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
