"""Benchmark speech synthesis: clips/s and real-time factor per engine, and cached re-runs.

Usage::

    python benchmarks/bench_synth.py [--sentences 12] [--workers 2] [--json out.json]

Part 1 speaks the first N general sentences of the shipped general-ja.txt with each
engine available here, in this process (one thread), and reports clips/s and the
real-time factor (synthesis seconds / audio seconds; below 1 is faster than real time).
Part 2 runs the whole synth stage (normalisation, resampling, cache writes, worker pool)
on N sentences × 3 OpenJTalk training voices into a fresh cache, then deletes the manifest
and runs it again: the second run only finds cached clips, and the ratio is the speedup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from termadapt.config import recipe_from_dict  # noqa: E402
from termadapt.records import Utterance, write_jsonl  # noqa: E402
from termadapt.speech.synth import synthesize  # noqa: E402
from termadapt.tts import engine_class, get_engine, parse_voice  # noqa: E402
from termadapt.tts.openjtalk import cli_available  # noqa: E402

VOICES = {
    "openjtalk (pyopenjtalk)": "openjtalk:mei_normal?speed=1",
    "openjtalk (open_jtalk CLI, all-pass)": "openjtalk:mei_normal?alpha=0.5",
    "kokoro": "kokoro:jf_alpha",
}


def sentences(n: int) -> list[str]:
    lines = (ROOT / "dictionaries" / "general-ja.txt").read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.startswith("#")][:n]


def bench_engine(label: str, voice: str, texts: list[str]) -> dict | None:
    spec = parse_voice(voice)
    if not engine_class(spec.engine).available() or ("CLI" in label and not cli_available()):
        print(f"{label:40s} not available here", flush=True)
        return None
    engine = get_engine(spec.engine, threads=1) if spec.engine == "kokoro" else get_engine(spec.engine)
    engine.synthesize(texts[0], spec)  # warm-up: model loading is not per-clip cost
    audio = 0.0
    start = time.perf_counter()
    for text in texts:
        wav, sr = engine.synthesize(text, spec)
        audio += len(wav) / sr
    took = time.perf_counter() - start
    row = {
        "engine": label,
        "clips": len(texts),
        "seconds": round(took, 2),
        "clips_per_s": round(len(texts) / took, 2),
        "rtf": round(took / audio, 3),
        "audio_s": round(audio, 1),
    }
    print(
        f"{label:40s} {row['clips_per_s']:6.2f} clips/s  RTF {row['rtf']:.3f}  ({len(texts)} clips, "
        f"{audio:.0f} s audio)",
        flush=True,
    )
    return row


def bench_cache(texts: list[str], workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        write_jsonl(
            run / "utterances.jsonl", [Utterance(f"g{i}", t, t, "general", "train") for i, t in enumerate(texts)]
        )
        recipe = recipe_from_dict(
            {
                "synth": {
                    "cache_dir": str(Path(tmp) / "cache"),
                    "workers": workers,
                    "heldout_voices": ["openjtalk:mei_normal?speed=1.3&half_tone=-4"],
                }
            }
        )
        times = []
        for _ in range(2):
            (run / "synth.jsonl").unlink(missing_ok=True)
            start = time.perf_counter()
            synthesize(recipe, run)
            times.append(time.perf_counter() - start)
    clips = 3 * len(texts)
    row = {
        "clips": clips,
        "workers": workers,
        "cold_s": round(times[0], 2),
        "cached_s": round(times[1], 2),
        "cold_clips_per_s": round(clips / times[0], 2),
        "speedup": round(times[0] / times[1], 1),
    }
    print(
        f"synth stage, {clips} clips, {workers} workers: cold {times[0]:.1f} s ({row['cold_clips_per_s']} clips/s), "
        f"fully cached re-run {times[1]:.2f} s → {row['speedup']}× faster",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    texts = sentences(args.sentences)
    print(f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}", flush=True)
    rows = [r for label, voice in VOICES.items() if (r := bench_engine(label, voice, texts))]
    result = {"engines": rows, "cache": bench_cache(texts, args.workers)}
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
