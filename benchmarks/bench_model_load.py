"""Time the first whisper-base conversion (offline CTranslate2 → transformers) vs a cached load.

Usage: python benchmarks/bench_model_load.py [--spec whisper-base] [--repeat 2]

Uses a fresh temporary cache so the first load really converts; prints one line per load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="whisper-base", help="Model spec to resolve (default whisper-base).")
    parser.add_argument("--repeat", type=int, default=2, help="Cached loads to time after the first one.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from termadapt.models import resolve_model

    print(f"threads={torch.get_num_threads()} spec={args.spec}")
    with tempfile.TemporaryDirectory(prefix="termadapt-bench-") as cache:
        for i in range(1 + args.repeat):
            start = time.perf_counter()
            model, _ = resolve_model(args.spec, cache_dir=cache)
            elapsed = time.perf_counter() - start
            label = "first load (concatenate + convert + save)" if i == 0 else "cached load"
            print(f"{label}: {elapsed:.2f} s ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters)")
            del model


if __name__ == "__main__":
    main()
