"""Benchmark: evaluation clips/s, shared-encoder batched decoding vs per-clip ``generate``.

Both paths run in the same process on the same clips and conditions (base, base + term
prompt, a decoder-perturbed copy standing in for a frozen-encoder adaptation), without the
hypothesis cache. Prints one JSON line with clips/s of each path and their ratio.

    python benchmarks/bench_evaluate.py --clips 8            # real whisper-base (offline-base extra)
    python benchmarks/bench_evaluate.py --tiny --clips 16    # tiny random model, seconds
    python benchmarks/bench_evaluate.py --clips 8 --backend faster-whisper   # + CT2 backend row

``--backend faster-whisper`` adds the faster-whisper backend on the same clips and
conditions in the same run: its shared-encoder batched clips/s, per-clip
``WhisperModel.transcribe`` clips/s, and the CER between its hypotheses and the
transformers backend's (0 = identical transcripts). CT2 conversions are cached, so a
second run measures decoding only (``fw_load_s`` reports conversion + loading).
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
    "今日は三日ぶりに晴れました。",
    "駅前の店は六時に閉まります。",
    "週末は家族と公園へ行きました。",
    "明日の会議は十時から始まります。",
    "新しい本を図書館で借りました。",
    "朝ご飯にパンと卵を食べました。",
    "電車が遅れて少し待ちました。",
    "冬になると空気が乾燥します。",
]
TERMS = ["痙攣", "心電図", "動悸", "肺気腫", "嚥下", "褥瘡", "頻脈"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--tiny", action="store_true", help="use the tiny random model instead of whisper-base")
    ap.add_argument(
        "--backend",
        choices=["transformers", "faster-whisper"],
        default="transformers",
        help="faster-whisper: also measure the CTranslate2 backend and its agreement",
    )
    ap.add_argument("--compute-type", default="float32", help="CT2 compute type for --backend faster-whisper")
    args = ap.parse_args()

    import torch
    from conftest import synthesize_ja

    from termadapt.decoding import DecodeOptions, HypothesisCache, TransformersBackend, build_term_prompt, decode
    from termadapt.decoding import make_condition as condition
    from termadapt.scoring.records import EvalClip

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
    conds = [
        condition("base", model, processor, opts),
        condition("prompt", model, processor, DecodeOptions(max_new_tokens=args.max_new_tokens, prompt_ids=tuple(ids))),
        condition("adapted", adapted, processor, opts),
    ]
    clips = []
    for i in range(args.clips):
        audio = synthesize_ja(SENTENCES[i % len(SENTENCES)], speed=1.0 + 0.05 * (i // len(SENTENCES)))
        clips.append(
            EvalClip(
                set="general",
                index=i,
                audio_key=hashlib.sha256(audio.tobytes()).hexdigest(),
                audio=audio,
                text=SENTENCES[i % len(SENTENCES)],
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = decode(conds, clips, HypothesisCache(Path(tmp)), TransformersBackend(), batch_size=args.batch_size)
        stats, shared_hyps = result.stats, result.texts
    per_clip_hyps, per_clip_s = generate_per_clip(conds, clips)
    n = len(clips) * len(conds)  # clip-conditions decoded by each path
    same = sum(a == b for c in conds for a, b in zip(shared_hyps[c.name], per_clip_hyps[c.name]))
    row = {}
    if args.backend == "faster-whisper":
        row = _fw_row(conds, clips, shared_hyps, args, n, stats["seconds"])
    print(
        json.dumps(
            {
                "model": "tiny" if args.tiny else "whisper-base",
                "threads": torch.get_num_threads(),
                "clips": len(clips),
                "conditions": len(conds),
                "batch_size": args.batch_size,
                "shared_batched_clips_per_s": round(n / stats["seconds"], 3),
                "per_clip_generate_clips_per_s": round(n / per_clip_s, 3),
                "speedup": round(per_clip_s / stats["seconds"], 2),
                "encoder_passes": stats["encoder_passes"],
                "identical_hypotheses": f"{same}/{n}",
                "prompt_terms_fit": len(fitted),
                **row,
            },
            ensure_ascii=False,
        )
    )


def generate_per_clip(conds, clips) -> tuple[dict[str, list[str]], float]:
    """The reference path: one transformers ``generate(input_features)`` per clip and condition, no cache."""
    import time

    import torch

    from termadapt.decoding.hf import quiet_generation

    start = time.perf_counter()
    out: dict[str, list[str]] = {}
    for cond in conds:
        opts, texts = cond.options, []
        for clip in clips:
            feats = cond.processor.feature_extractor([clip.samples()], sampling_rate=16000, return_tensors="pt")
            kwargs = {
                "language": opts.language,
                "task": opts.task,
                "do_sample": False,
                "max_new_tokens": opts.token_budget(),
            }
            if opts.prompt_ids:
                kwargs["prompt_ids"] = torch.tensor(list(opts.prompt_ids))
            with torch.inference_mode(), quiet_generation():
                ids = cond.model.generate(input_features=feats.input_features, **kwargs)
            texts.append(cond.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip())
        out[cond.name] = texts
    return out, time.perf_counter() - start


def _fw_row(conds, clips, tf_hyps, args, n, tf_seconds) -> dict:
    """faster-whisper backend on the same conditions and clips: speed and agreement."""
    import time

    from termadapt.decoding import HypothesisCache, decode
    from termadapt.decoding.ct2 import FasterWhisperBackend, load_fw_models, transcribe_per_clip
    from termadapt.scoring.text import cer

    start = time.perf_counter()
    models = load_fw_models(conds, args.compute_type)
    load_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        result = decode(
            conds,
            clips,
            HypothesisCache(Path(tmp)),
            FasterWhisperBackend(args.compute_type, models=models),
            batch_size=args.batch_size,
        )
        stats, fw_hyps = result.stats, result.texts
    per_clip, per_clip_s = transcribe_per_clip(conds, clips, models)
    flat = lambda h: [t for c in conds for t in h[c.name]]  # noqa: E731
    same = sum(a == b for a, b in zip(flat(tf_hyps), flat(fw_hyps)))
    return {
        "fw_compute_type": args.compute_type,
        "fw_load_s": round(load_s, 2),
        "fw_batched_clips_per_s": round(n / stats["seconds"], 3),
        "fw_transcribe_per_clip_clips_per_s": round(n / per_clip_s, 3),
        "fw_vs_transformers_batched_speedup": round(tf_seconds / stats["seconds"], 2),
        "fw_vs_transformers_cer": round(cer(flat(tf_hyps), flat(fw_hyps)), 4),
        "fw_vs_transformers_identical": f"{same}/{n}",
        "fw_batched_equals_transcribe": f"{sum(a == b for a, b in zip(flat(fw_hyps), flat(per_clip)))}/{n}",
    }


if __name__ == "__main__":
    main()
