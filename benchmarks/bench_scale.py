"""Scale benchmark: a 10,000-term dictionary through terms → sentences → synth → dataset on CPU.

The dictionary is built from a dictionary available offline: common nouns (普通名詞) of
3–6 kanji with their readings from Sudachi's system dictionary (sudachidict_core), sampled
with a fixed seed. Each size runs in its own run directory with a fresh audio cache, and
the script reports wall time per stage, clips/s of synthesis and the peak memory of the
process and its workers. Comparing sizes (default 1,000 and 10,000 terms) shows whether
any stage grows faster than linearly: the per-term time should stay flat.

Usage:
    python benchmarks/bench_scale.py [--sizes 1000 10000] [--out benchmarks/results/scale.json]
    python benchmarks/bench_scale.py --stop sentences --out benchmarks/results/scale_sentences.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import tempfile
import time
from pathlib import Path

# One training and one test sentence per term, one voice each: the benchmark measures how
# the stages scale with the number of terms, not how much audio a real recipe makes.
SCALE_RECIPE = {
    "name": "scale",
    "seed": 0,
    "sentences": {
        "domains": ["general"],
        "templates_per_term": 1,
        "validation_templates_per_term": 1,
        "test_templates_per_term": 1,
        "include_alone": False,
        "include_context": False,
        "max_general_replay": 50,
        "max_general_validation": 10,
        "max_general_test": 50,
    },
    "synth": {
        "train_voices": ["openjtalk:mei_normal?speed=1.0"],
        "heldout_voices": ["openjtalk:mei_normal?speed=1.3&half_tone=-4"],
        "fallback_heldout_voices": ["openjtalk:mei_normal?speed=1.3&half_tone=-4"],
    },
}
KANJI_NOUN = re.compile(r"^[\u4e00-\u9fff]{3,6}$")  # multi-kanji compounds: term-like, pronounceable


def build_dictionary(n_terms: int, out: Path, seed: int = 0) -> Path:
    """Write a headerless `reading , target` dictionary of ``n_terms`` Sudachi nouns."""
    from sudachipy import Dictionary

    seen: dict[str, str] = {}
    dictionary = Dictionary()
    try:
        for m in dictionary.entries():
            pos = m.part_of_speech()
            surface, reading = m.surface(), m.reading_form()
            if pos[0] == "名詞" and pos[1] == "普通名詞" and KANJI_NOUN.match(surface) and reading:
                seen.setdefault(surface, reading)
    finally:
        dictionary.close()
    items = sorted(seen.items())
    random.Random(seed).shuffle(items)
    if len(items) < n_terms:
        raise SystemExit(f"only {len(items)} suitable nouns in Sudachi's dictionary, asked for {n_terms}")
    lines = [f"{reading} , {surface}" for surface, reading in sorted(items[:n_terms])]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # Linux reports KiB


def run_size(n_terms: int, workdir: Path, stop: str = "dataset") -> dict:
    from termadapt.config import recipe_from_dict
    from termadapt.pipeline import run_pipeline
    from termadapt.records import read_jsonl

    dic = build_dictionary(n_terms, workdir / f"terms-{n_terms}.csv")
    data = json.loads(json.dumps(SCALE_RECIPE))
    data["dictionary"] = {"paths": [str(dic)]}
    data["synth"]["cache_dir"] = str(workdir / f"audio-{n_terms}")
    recipe = recipe_from_dict(data)
    run_dir = workdir / f"run-{n_terms}"
    started = time.perf_counter()
    result = run_pipeline(recipe, run_dir, stop=stop, log=lambda m: None)
    total = time.perf_counter() - started
    stages = {s["name"]: round(s["seconds"], 2) for s in result["stages"]}
    manifest = run_dir / ("synth.jsonl" if (run_dir / "synth.jsonl").is_file() else "utterances.jsonl")
    clips = len(read_jsonl(manifest))  # utterances when stopped before synth
    return {
        "terms": n_terms,
        "clips": clips,
        "stage_seconds": stages,
        "total_seconds": round(total, 1),
        "synth_clips_per_s": round(clips / stages["synth"], 2) if stages.get("synth") else None,
        "ms_per_term": {k: round(v / n_terms * 1000, 3) for k, v in stages.items()},
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument(
        "--stop",
        default="dataset",
        choices=["terms", "sentences", "synth", "dataset"],
        help="last stage to run (terms/sentences alone take seconds even at 10,000 terms)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="termadapt-scale-"))
    rows = []
    try:
        for n in args.sizes:
            row = run_size(n, workdir, args.stop)
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "stop": args.stop, "rows": rows}
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        meta["per_term_ratio_large_vs_small"] = {
            k: round(large["ms_per_term"][k] / small["ms_per_term"][k], 2)
            for k in large["ms_per_term"]
            if small["ms_per_term"].get(k)
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
