"""Loading whisper-base: the first load (offline CTranslate2 parts → transformers) and a cached load.

Usage: python benchmarks/bench_model_load.py [--spec whisper-base] [--reps 3]

Each repetition uses a fresh temporary cache, so its first load really joins the parts,
converts and saves; a cached load from the same cache follows. Min and median of each over
the repetitions are printed as one JSON object. The two are different work (a one-time cost
and the per-run cost), not two ways of doing the same work: no ratio is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="whisper-base", help="Model spec to resolve (default whisper-base).")
    parser.add_argument("--reps", type=int, default=3, help="Repetitions (each with a fresh cache).")
    parser.add_argument("--json", default="", help="Also write the result to this file.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from termadapt.models import resolve_model

    first, cached = [], []
    for _ in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="termadapt-bench-") as cache:
            for times in (first, cached):
                start = time.perf_counter()
                model, _ = resolve_model(args.spec, cache_dir=cache)
                times.append(time.perf_counter() - start)
                params = sum(p.numel() for p in model.parameters())
                del model
    result = {
        "spec": args.spec,
        "threads": torch.get_num_threads(),
        "parameters_m": round(params / 1e6, 1),
        "reps": args.reps,
        "first_load_s": {"min": round(min(first), 2), "median": round(statistics.median(first), 2)},
        "first_load_s_each": [round(t, 2) for t in first],
        "cached_load_s": {"min": round(min(cached), 2), "median": round(statistics.median(cached), 2)},
    }
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
