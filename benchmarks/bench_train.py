"""Training speed as a user waits for it: the seeds' recipe vs termadapt, whole runs side by side.

Each way trains the same clips for the same epochs from the same weights, and its time
includes everything the run waits for:

- ``seeds``: the seeds' recipe (seed 001/002) — a plain ``Seq2SeqTrainer`` on a model with
  ``freeze_encoder()``, log-mel features prepared beforehand: every step runs the frozen
  encoder again; float32;
- ``termadapt-fp32``: the encoder once per clip (:mod:`termadapt.training.encoder_cache`),
  then decoder steps on the stored outputs — the one-time encoder pass is inside the time;
- ``termadapt-bf16``: the same with the encoder pass and the steps under bf16 autocast
  (what ``train.precision = "auto"`` picks on a CPU with AMX / AVX512-BF16, or a bf16 GPU).

The pipeline's threads (torch's default), one untimed warm-up run of each way, then
``--reps`` interleaved repetitions (the order rotates) reported as min and median seconds.

Usage::

    python benchmarks/bench_train.py                          # whisper-base, CPU: 32 clips, 2 epochs, batch 8
    python benchmarks/bench_train.py --clips 64 --epochs 1 --reps 3
    python benchmarks/bench_train.py --device cuda --shape small

Prints one JSON object; on a GPU also the model-FLOPs utilisation of a bf16 step (FLOPs
counted with torch's FlopCounterMode).
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

# Dense bf16/fp16 tensor-core peak FLOP/s, for model-FLOPs utilisation (vendor data sheets).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}
WAYS = ("seeds", "termadapt-fp32", "termadapt-bf16")
# Whisper-small dimensions for the --shape small model (random weights, base tokenizer).
SMALL_DIMS = dict(
    d_model=768,
    encoder_layers=12,
    decoder_layers=12,
    encoder_attention_heads=12,
    decoder_attention_heads=12,
    encoder_ffn_dim=3072,
    decoder_ffn_dim=3072,
)


def _model(shape: str, spec: str) -> tuple[Any, Any]:
    from termadapt.models import resolve_model

    model, processor = resolve_model(spec)
    if shape == "small":
        from transformers import WhisperConfig, WhisperForConditionalGeneration

        cfg = WhisperConfig(**{**model.config.to_dict(), **SMALL_DIMS})
        gc = model.generation_config
        model = WhisperForConditionalGeneration(cfg)
        model.generation_config = gc
    return model, processor


def _clips(n: int, tokenizer: Any) -> list[dict[str, Any]]:
    """n clips of real OpenJTalk speech of shipped general sentences, with labels."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import synthesize_ja

    from termadapt.config import Recipe
    from termadapt.text.templates import load_general_sentences
    from termadapt.training.labels import make_labels, prompt_tokens

    lines = load_general_sentences(Recipe().general_sentences_path())[:n]
    tokens = prompt_tokens(tokenizer)
    out = []
    for i, text in enumerate(lines):
        audio = synthesize_ja(text)
        out.append(
            {
                "key": f"clip{i}",
                "audio": audio,
                "replay": 0,
                "labels": make_labels(text, tokenizer, tokens, len(audio) / 16000, False),
            }
        )
    return out


class _ListDataset:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def _args(out: str, a: argparse.Namespace, precision: str) -> Any:
    from transformers import Seq2SeqTrainingArguments

    return Seq2SeqTrainingArguments(
        output_dir=out,
        per_device_train_batch_size=a.batch_size,
        num_train_epochs=a.epochs,
        learning_rate=1e-5,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        logging_steps=10**6,
        bf16=precision == "bf16",
        use_cpu=a.device == "cpu",
        seed=0,
        dataloader_pin_memory=a.device != "cpu",
    )


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _run_way(
    way: str, model: Any, processor: Any, clips: list[dict[str, Any]], a: argparse.Namespace
) -> tuple[float, float]:
    """One whole training run of ``way`` from fresh weights: its seconds (encoder pass included)
    and, for ``termadapt-bf16`` on a GPU, the FLOPs of one step (counted after the clock stops)."""
    import copy

    import torch
    from transformers import Seq2SeqTrainer

    from termadapt.compute import autocast
    from termadapt.training import trainer_class
    from termadapt.training.data import SpeechCollator
    from termadapt.training.encoder_cache import EncoderCache, cache_name
    from termadapt.training.labels import IGNORE_INDEX

    device = "cuda" if a.device == "cuda" else "cpu"
    m = copy.deepcopy(model).to(device)
    m.freeze_encoder()
    collate = SpeechCollator(processor.feature_extractor)
    with tempfile.TemporaryDirectory() as tmp:
        _sync()
        start = time.perf_counter()
        if way == "seeds":
            feats = [collate.features([c["audio"]])[0] for c in clips]  # dataset.map in the seeds

            def seed_collator(items: list[dict[str, Any]]) -> dict[str, Any]:
                width = max(len(i["labels"]) for i in items)
                labels = torch.full((len(items), width), IGNORE_INDEX)
                for r, i in enumerate(items):
                    labels[r, : len(i["labels"])] = torch.tensor(i["labels"])
                return {"input_features": torch.stack([i["input_features"] for i in items]), "labels": labels}

            items = [{"input_features": f, "labels": c["labels"]} for f, c in zip(feats, clips)]
            trainer = Seq2SeqTrainer(
                model=m, args=_args(tmp, a, "fp32"), train_dataset=_ListDataset(items), data_collator=seed_collator
            )
        else:
            precision = way.rsplit("-", 1)[1]
            by_key = {c["key"]: c["audio"] for c in clips}
            cache = EncoderCache(tmp + "/cache", *cache_name(m, processor.feature_extractor), compute=precision)
            cache.build(m, list(by_key), by_key.__getitem__, collate.features, m.device, progress=False)
            rows = [{k: c[k] for k in ("key", "labels", "replay")} for c in clips]
            trainer = trainer_class()(
                model=m,
                args=_args(tmp, a, precision),
                train_dataset=_ListDataset(rows),
                data_collator=SpeechCollator(processor.feature_extractor, cache),
            )
        trainer.train()
        _sync()
        seconds = time.perf_counter() - start
        flops = 0.0
        if a.device == "cuda" and way == "termadapt-bf16":
            batch = SpeechCollator(processor.feature_extractor, cache)(rows[: a.batch_size])
            flops = _flops_per_step(trainer, batch, autocast, device)
        return seconds, flops


def _flops_per_step(trainer: Any, batch: dict[str, Any], autocast: Any, device: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = trainer.model
    batch = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in batch.items()}
    with FlopCounterMode(display=False) as counter, autocast(device, "bf16"):
        loss = trainer.compute_loss(model, batch)
        loss.backward()
    model.zero_grad()
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="whisper-base", help="Model spec for resolve_model.")
    p.add_argument("--shape", default="base", choices=["base", "small"], help="small = random whisper-small dims.")
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2, help="The quickstart recipe trains 2.")
    p.add_argument("--batch-size", type=int, default=8, help="The quickstart recipe's batch size.")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--ways", nargs="+", default=list(WAYS), choices=WAYS)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", default="", help="Also write the result to this file.")
    a = p.parse_args(argv)

    import torch

    model, processor = _model(a.shape, a.model)
    clips = _clips(a.clips, processor.tokenizer)
    steps = a.epochs * -(-len(clips) // a.batch_size)
    for way in a.ways:  # warm-up, untimed
        _run_way(way, model, processor, clips[: a.batch_size], argparse.Namespace(**{**vars(a), "epochs": 1}))
    seconds: dict[str, list[float]] = {w: [] for w in a.ways}
    flops = 0.0
    for rep in range(a.reps):
        order = a.ways[rep % len(a.ways) :] + a.ways[: rep % len(a.ways)]
        for way in order:
            took, counted = _run_way(way, model, processor, clips, a)
            seconds[way].append(took)
            flops = counted or flops
    ref = statistics.median(seconds[a.ways[0]])
    result: dict[str, Any] = {
        "model": a.model if a.shape == "base" else "whisper-small-shaped (random)",
        "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "clips": len(clips),
        "epochs": a.epochs,
        "batch_size": a.batch_size,
        "steps": steps,
        "reps": a.reps,
        "what_is_timed": "a whole training run: features, the one-time encoder pass (termadapt), every step",
        "ways": {
            w: {
                "min_s": round(min(v), 2),
                "median_s": round(statistics.median(v), 2),
                "clips_per_s": round(a.epochs * len(clips) / statistics.median(v), 3),
                f"speedup_vs_{a.ways[0]}_median": round(ref / statistics.median(v), 2),
            }
            for w, v in seconds.items()
        },
    }
    if a.device == "cuda" and flops and "termadapt-bf16" in seconds:
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
        per_step = statistics.median(seconds["termadapt-bf16"]) / steps  # encoder pass included: a floor
        result["termadapt_bf16_tflops_per_step"] = round(flops / 1e12, 4)
        if peak:
            result["termadapt_bf16_mfu_lower_bound"] = round(flops / per_step / peak, 4)
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
