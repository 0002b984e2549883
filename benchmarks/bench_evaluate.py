"""Benchmark: evaluation clips/s, shared-encoder batched decoding vs per-clip ``generate``.

Both paths run in the same process on the same clips and conditions (base, base + term
prompt, a decoder-perturbed copy standing in for a frozen-encoder adaptation), without the
hypothesis cache. Prints one JSON line with clips/s of each path and their ratio.

    python benchmarks/bench_evaluate.py --clips 8            # real whisper-base (offline-base extra)
    python benchmarks/bench_evaluate.py --tiny --clips 16    # tiny random model, seconds
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SENTENCES = [
    "今日は三日ぶりに晴れました。", "駅前の店は六時に閉まります。", "週末は家族と公園へ行きました。",
    "明日の会議は十時から始まります。", "新しい本を図書館で借りました。", "朝ご飯にパンと卵を食べました。",
    "電車が遅れて少し待ちました。", "冬になると空気が乾燥します。",
]
TERMS = ["痙攣", "心電図", "動悸", "肺気腫", "嚥下", "褥瘡", "頻脈"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--tiny", action="store_true", help="use the tiny random model instead of whisper-base")
    args = ap.parse_args()

    import torch

    from conftest import synthesize_ja
    from termadapt.evaluate_decode import (Condition, DecodeOptions, EvalClip, HypCache, build_term_prompt,
                                           decode_conditions, decode_per_clip, state_fingerprint)

    if args.tiny:
        from termadapt.models.tiny import build_tiny_model

        model, processor = build_tiny_model()
    else:
        from termadapt.models import resolve_model

        model, processor = resolve_model("whisper-base")
    model.eval()
    adapted = copy.deepcopy(model)
    with torch.no_grad():
        for p in adapted.model.decoder.layers[-1].parameters():
            p.mul_(1.01)  # a small decoder change: same encoder, different weights
    opts = DecodeOptions(max_new_tokens=args.max_new_tokens)
    ids, fitted = build_term_prompt(processor, TERMS)
    efp = state_fingerprint(model.get_encoder())
    conds = [
        Condition("base", model, processor, opts, state_fingerprint(model), efp),
        Condition("prompt", model, processor, DecodeOptions(max_new_tokens=args.max_new_tokens, prompt_ids=tuple(ids)),
                  state_fingerprint(model), efp),
        Condition("adapted", adapted, processor, opts, state_fingerprint(adapted), efp),
    ]
    clips = []
    for i in range(args.clips):
        audio = synthesize_ja(SENTENCES[i % len(SENTENCES)], speed=1.0 + 0.05 * (i // len(SENTENCES)))
        clips.append(EvalClip(set="general", index=i, audio_key=hashlib.sha256(audio.tobytes()).hexdigest(),
                              audio=audio, text=SENTENCES[i % len(SENTENCES)]))
    with tempfile.TemporaryDirectory() as tmp:
        caches = {c.name: HypCache(Path(tmp) / f"{c.name}.jsonl") for c in conds}
        stats = decode_conditions(conds, clips, caches, batch_size=args.batch_size)
        shared_hyps = {c.name: [caches[c.name].get(c.cache_key(x)) for x in clips] for c in conds}
    per_clip_hyps, per_clip_s = decode_per_clip(conds, clips)
    n = len(clips) * len(conds)  # clip-conditions decoded by each path
    same = sum(a == b for c in conds for a, b in zip(shared_hyps[c.name], per_clip_hyps[c.name]))
    print(json.dumps({
        "model": "tiny" if args.tiny else "whisper-base", "threads": torch.get_num_threads(), "clips": len(clips),
        "conditions": len(conds), "batch_size": args.batch_size,
        "shared_batched_clips_per_s": round(n / stats["seconds"], 3), "per_clip_generate_clips_per_s": round(n / per_clip_s, 3),
        "speedup": round(per_clip_s / stats["seconds"], 2), "encoder_passes": stats["encoder_passes"],
        "identical_hypotheses": f"{same}/{n}", "prompt_terms_fit": len(fitted),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
