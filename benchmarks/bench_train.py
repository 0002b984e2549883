"""Training speed: the seeds' recipe vs termadapt's stored-encoder path, same data, same run.

The seeds' recipe (seed 001/002): a plain ``Seq2SeqTrainer`` on a model with
``freeze_encoder()``, log-mel features prepared beforehand, default arguments — every
step runs the frozen encoder again. termadapt's path (:mod:`termadapt.training.encoder_cache`): the
encoder runs once per clip, then steps train the decoder on the stored outputs; the
one-time encoder pass is timed separately and amortized over the epochs of a real run.

Usage::

    python benchmarks/bench_train.py                          # whisper-base, CPU, 10 steps each
    python benchmarks/bench_train.py --device cuda --precision bf16 --shape small
    python benchmarks/bench_train.py --json bench_train.json

Prints one JSON object: samples/s of both paths, their ratio, and on a GPU the
model-FLOPs utilisation (FLOPs counted with torch's FlopCounterMode on one step).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Dense bf16/fp16 tensor-core peak FLOP/s, for model-FLOPs utilisation (vendor data sheets).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}
# Epochs assumed when amortizing the one-time encoder pass (the baseline trained 5).
AMORTIZE_EPOCHS = 5
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


def _args(out: str, a: argparse.Namespace) -> Any:
    from transformers import Seq2SeqTrainingArguments

    return Seq2SeqTrainingArguments(
        output_dir=out,
        per_device_train_batch_size=a.batch_size,
        max_steps=a.steps,
        learning_rate=1e-5,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        logging_steps=10**6,
        bf16=a.precision == "bf16",
        fp16=a.precision == "fp16",
        use_cpu=a.device == "cpu",
        seed=0,
        dataloader_pin_memory=a.device != "cpu",
    )


def _timed_train(trainer: Any) -> float:
    """Seconds per step over all but the first step (warm-up excluded)."""
    from transformers import TrainerCallback

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()
            marks.append(time.perf_counter())

    trainer.add_callback(Clock())
    trainer.train()
    return (marks[-1] - marks[0]) / (len(marks) - 1)


def _flops_per_step(trainer: Any, batch: dict[str, Any]) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = trainer.model
    batch = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in batch.items()}
    with (
        FlopCounterMode(display=False) as counter,
        torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=trainer.args.bf16),
    ):
        loss = trainer.compute_loss(model, batch)
        loss.backward()
    model.zero_grad()
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="whisper-base", help="Model spec for resolve_model.")
    p.add_argument("--shape", default="base", choices=["base", "small"], help="small = random whisper-small dims.")
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--json", default="", help="Also write the result to this file.")
    a = p.parse_args(argv)

    import copy

    import torch
    from transformers import Seq2SeqTrainer

    from termadapt.training import trainer_class
    from termadapt.training.data import SpeechCollator
    from termadapt.training.encoder_cache import EncoderCache, cache_name
    from termadapt.training.labels import IGNORE_INDEX

    model, processor = _model(a.shape, a.model)
    clips = _clips(a.clips, processor.tokenizer)
    collate = SpeechCollator(processor.feature_extractor)
    result: dict[str, Any] = {
        "model": a.model if a.shape == "base" else "whisper-small-shaped (random)",
        "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "batch_size": a.batch_size,
        "steps": a.steps,
        "clips": len(clips),
        "precision": a.precision,
    }

    # Seeds' recipe: features prepared once (dataset.map in the seeds), encoder run every step.
    feats = [collate.features([c["audio"]])[0] for c in clips]
    seed_items = [{"input_features": f, "labels": c["labels"]} for f, c in zip(feats, clips)]

    def seed_collator(items: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(i["labels"]) for i in items)
        labels = torch.full((len(items), width), IGNORE_INDEX)
        for r, i in enumerate(items):
            labels[r, : len(i["labels"])] = torch.tensor(i["labels"])
        return {"input_features": torch.stack([i["input_features"] for i in items]), "labels": labels}

    with tempfile.TemporaryDirectory() as tmp:
        seed_model = copy.deepcopy(model)
        seed_model.freeze_encoder()
        seed_trainer = Seq2SeqTrainer(
            model=seed_model,
            args=_args(tmp + "/seed", a),
            train_dataset=_ListDataset(seed_items),
            data_collator=seed_collator,
        )
        seed_step = _timed_train(seed_trainer)
        del seed_trainer, seed_model

        # termadapt: encoder once per clip (timed), then decoder steps on stored outputs.
        ta_model = copy.deepcopy(model).to("cuda" if a.device == "cuda" else "cpu")
        ta_model.freeze_encoder()
        by_key = {c["key"]: c["audio"] for c in clips}
        cache = EncoderCache(tmp + "/cache", *cache_name(ta_model, processor.feature_extractor))
        t0 = time.perf_counter()
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            cache.build(ta_model, list(by_key), by_key.__getitem__, collate.features, ta_model.device, progress=False)
        encode_per_clip = (time.perf_counter() - t0) / len(clips)
        ta_trainer = trainer_class()(
            model=ta_model,
            args=_args(tmp + "/ta", a),
            train_dataset=_ListDataset([{k: c[k] for k in ("key", "labels", "replay")} for c in clips]),
            data_collator=SpeechCollator(processor.feature_extractor, cache),
        )
        ta_step = _timed_train(ta_trainer)
        flops = _flops_per_step(
            ta_trainer,
            SpeechCollator(processor.feature_extractor, cache)(
                [{k: c[k] for k in ("key", "labels", "replay")} for c in clips[: a.batch_size]]
            ),
        )

    bs = a.batch_size
    seed_sps, ta_sps = bs / seed_step, bs / ta_step
    # A real run of E epochs over N clips: N encoder passes once, then E·N samples of steps.
    amortized = AMORTIZE_EPOCHS / (AMORTIZE_EPOCHS / ta_sps + encode_per_clip)
    result.update(
        {
            "seeds_recipe_samples_per_s": round(seed_sps, 3),
            "seeds_recipe_s_per_step": round(seed_step, 3),
            "termadapt_samples_per_s": round(ta_sps, 3),
            "termadapt_s_per_step": round(ta_step, 3),
            "encoder_once_s_per_clip": round(encode_per_clip, 3),
            "speedup_steps": round(ta_sps / seed_sps, 2),
            f"speedup_{AMORTIZE_EPOCHS}_epochs_incl_encoder_pass": round(amortized / seed_sps, 2),
            "termadapt_model_tflops_per_step": round(flops / 1e12, 4),
        }
    )
    if a.device == "cuda":
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
        achieved = flops / ta_step
        result["termadapt_achieved_tflops"] = round(achieved / 1e12, 2)
        if peak and a.precision in ("bf16", "fp16"):
            result["termadapt_mfu"] = round(achieved / peak, 4)
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
