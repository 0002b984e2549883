"""Evaluation as the pipeline runs it: backends and precisions side by side on a run's clips.

Decodes a run directory's evaluation sets (``test_terms``, ``general``…) with the
conditions ``termadapt evaluate`` builds (base, base + term prompt, ``model/``, ``merged/``)
through :func:`termadapt.decoding.decode` — one shared encoder pass per batch, then every
condition's greedy decode — in each of these ways:

- ``transformers-fp32``: the transformers backend, float32 (the exact reference);
- ``transformers-bf16``: the same under bf16 autocast (``evaluate.precision = "bf16"``;
  what ``auto`` picks on a CPU with AMX / AVX512-BF16);
- ``faster-whisper-float32`` / ``faster-whisper-int8``: the CTranslate2 backend.

Fair by construction: the same clips and conditions, the pipeline's threads (torch's
default; CTranslate2 gets the same count), every way warm (one untimed pass over the first
batch, and the CTranslate2 conversions made before timing — their one-time cost is reported
apart as ``fw_convert_s``), no hypothesis cache, and ``--reps`` interleaved repetitions
(the order rotates each repetition) reported as min and median seconds. Each way's
transcripts are compared with ``transformers-fp32``'s (identical count and CER).

    python benchmarks/bench_decode.py runs/quickstart-ja --clips 48 --reps 3
    python benchmarks/bench_decode.py RUN_DIR --ways transformers-fp32 transformers-bf16

Prints one JSON object (and writes it with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WAYS = ("transformers-fp32", "transformers-bf16", "faster-whisper-float32", "faster-whisper-int8")


def _backend(way: str, models: dict[str, Any]) -> Any:
    from termadapt.decoding import TransformersBackend
    from termadapt.decoding.ct2 import FasterWhisperBackend

    kind, setting = way.rsplit("-", 1)
    if kind == "transformers":
        return TransformersBackend(setting)
    return FasterWhisperBackend(setting, models=models[setting])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", help="A run directory with dataset/ (and model/, merged/ when trained).")
    ap.add_argument("--clips", type=int, default=64, help="Clips taken from the evaluation sets (0 = all).")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ways", nargs="+", default=list(WAYS), choices=WAYS)
    ap.add_argument("--batch-size", type=int, default=0, help="Default: the recipe's evaluate.batch_size.")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)

    import torch

    from termadapt.config import load_recipe
    from termadapt.decoding import HypothesisCache, decode
    from termadapt.decoding.ct2 import load_fw_models
    from termadapt.evaluate import _terms, build_conditions, load_eval_sets
    from termadapt.scoring.text import cer

    run_dir = Path(a.run_dir)
    recipe = load_recipe(run_dir / "config.resolved.toml")
    sets = load_eval_sets(run_dir)
    clips = [c for cl in sets.values() for c in cl]
    clips = clips[: a.clips] if a.clips else clips
    conds, _ = build_conditions(recipe, run_dir, _terms(run_dir, sets), device="cpu")
    batch = a.batch_size or recipe.evaluate.batch_size
    threads = torch.get_num_threads()
    models: dict[str, Any] = {}
    convert_s: dict[str, float] = {}
    for way in a.ways:
        if way.startswith("faster-whisper"):
            ct = way.rsplit("-", 1)[1]
            t = time.perf_counter()
            models[ct] = load_fw_models(conds, ct, cpu_threads=threads)
            convert_s[ct] = round(time.perf_counter() - t, 2)
    seconds: dict[str, list[float]] = {w: [] for w in a.ways}
    texts: dict[str, list[str]] = {}
    for way in a.ways:  # warm-up: one batch each, untimed
        decode(conds, clips[:batch], None, _backend(way, models), batch_size=batch)
    for rep in range(a.reps):
        order = a.ways[rep % len(a.ways) :] + a.ways[: rep % len(a.ways)]
        for way in order:
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                out = decode(conds, clips, HypothesisCache(Path(tmp)), _backend(way, models), batch_size=batch)
                seconds[way].append(time.perf_counter() - t)
            texts[way] = [s for c in conds for s in out.texts[c.name]]
    ref = texts[a.ways[0]]
    n = len(clips) * len(conds)
    rows = {}
    for way in a.ways:
        lo, med = min(seconds[way]), statistics.median(seconds[way])
        rows[way] = {
            "min_s": round(lo, 2),
            "median_s": round(med, 2),
            "clip_conditions_per_s": round(n / med, 2),
            "identical_to_first": f"{sum(x == y for x, y in zip(ref, texts[way]))}/{n}",
            "cer_vs_first": round(cer(ref, texts[way]), 4),
        }
    first = statistics.median(seconds[a.ways[0]])
    for way in a.ways:
        rows[way]["speedup_vs_first_median"] = round(first / statistics.median(seconds[way]), 2)
    result = {
        "run_dir": str(run_dir),
        "clips": len(clips),
        "conditions": [c.name for c in conds],
        "batch_size": batch,
        "threads": threads,
        "reps": a.reps,
        "what_is_timed": "encoder pass + every condition's greedy decode of every clip (no hypothesis cache)",
        "fw_convert_s": convert_s,
        "ways": rows,
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
