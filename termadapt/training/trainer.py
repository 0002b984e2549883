"""Stage ``train``: fine-tune Whisper on the term data with guards against forgetting.

Reads ``run_dir/dataset`` (splits ``train``, ``general_train``, ``validation``) and the
recipe's ``[model]`` and ``[train]`` tables (and ``[evaluate]``: early stopping ranks
checkpoints by its budget); writes ``run_dir/model/`` (safetensors weights, processor,
generation config for language/task, ``training_log.json``, ``training_args.json``,
``config.resolved.toml``) and keeps resumable checkpoints in ``run_dir/checkpoints/``.

Built on transformers' ``Seq2SeqTrainer`` (:func:`trainer_class` overrides the loss, the
sampler and the evaluation):

1. labels with the language/task prefix, timestamps on a share of samples (:mod:`.labels`);
2. the guards (:mod:`.guards`): the frozen encoder (``freeze_encoder()``, or LoRA merged
   into plain weights before saving so every exporter works), replay at ``replay_ratio``
   of every batch, homophone sentences balanced against their term's, distillation on
   replay (``labels``: the base model's transcripts; ``kl``: KL(base‖adapted)), early
   stopping on held-out-voice validation (:mod:`.validation`) ranked by the budget;
3. the frozen encoder runs once per clip (:mod:`.encoder_cache`) when that gives the same
   training, and validation decodes from the stored outputs;
4. resume from the last checkpoint; seeded, repeatable runs; bf16/fp16, SDPA, gradient
   checkpointing, multi-GPU through ``torchrun``/``accelerate launch``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..compute import default_device, resolve_precision
from ..config import Recipe, save_resolved, to_toml
from ..dataset import check_columns, open_dataset, split_rows, undecoded
from ..decoding import HypothesisCache
from ..errors import ConfigError, MissingDependencyError, TermadaptError
from ..models.resolve import quiet_transformers
from ..records import (
    CHECKPOINTS_DIR,
    DATASET_DIR,
    HYPOTHESES_DIR,
    MODEL_DIR,
    RESOLVED_RECIPE,
    atomic_write_text,
    sha256_file,
    sha256_text,
)
from ..scoring.validation import ValidationScore
from .data import RowDataset, SpeechCollator, TrainRow
from .guards import (
    ReplayMixSampler,
    distillation_labels,
    early_stopping_callbacks,
    freeze,
    homophone_repeats,
    keeps_row,
    kl_to_base,
    replay_rows,
)
from .labels import IGNORE_INDEX, choose_timestamped, make_labels, prompt_tokens
from .validation import Validator, decode_options

__all__ = ["train", "default_learning_rate", "trainer_class", "lora_wrap", "adapted_run_key"]

logger = logging.getLogger(__name__)

# Pre-training peak learning rates of the Whisper sizes (Radford et al. 2022, table as in
# seed 002), keyed by d_model; fine-tuning uses 1/40 of them (seed 002's rule, which gave
# 2.5e-5 for base: docs/design.md, "A measured baseline").
PRETRAIN_LR_BY_WIDTH = {384: 1.5e-3, 512: 1e-3, 768: 5e-4, 1024: 2.5e-4, 1280: 1.75e-4}
FINETUNE_LR_DIVISOR = 40
# LoRA targets: the decoder's attention projections and feed-forward layers (the encoder
# stays frozen under LoRA).
LORA_TARGETS = r".*decoder\.layers\.\d+\.((self_attn|encoder_attn)\.(q_proj|v_proj|out_proj)|fc1|fc2)"
# Early stopping: a checkpoint tied with an earlier one on the budget's score (same recall,
# both within the limits) wins by this much times its share of the steps — far below any
# recall step (1/term occurrences) — so ties go to the model that learned more, as in the α choice.
LATER_TIE_WEIGHT = 1e-6
# Early stopping compares each checkpoint with the best so far (Validator.prefers) and sets its
# logged score this far above or below the best's, so transformers keeps the one preferred.
PREFER_MARGIN = 1e-5
BEST_VALIDATION_FILE = "best_validation.json"  # in checkpoints/: the kept checkpoint's score, for resuming
LOG_NAME = "training_log.json"
DONE_MARKER = ".completed"
RUN_KEY_FILE = "run_key"  # settings + dataset hash of the run the checkpoints belong to
# Timestamp labels need the whole clip inside Whisper's window.
MAX_TIMESTAMPED_SECONDS = 30.0
# Splits training reads, and the columns each needs.
TRAIN_SPLITS = ("train", "general_train", "validation")
TRAIN_COLUMNS = ("audio", "text", "kind", "terms", "duration")


def default_learning_rate(config: Any) -> float:
    """1/40 of the pre-training learning rate of the Whisper size closest to ``config.d_model``."""
    width = min(PRETRAIN_LR_BY_WIDTH, key=lambda w: abs(w - int(config.d_model)))
    return PRETRAIN_LR_BY_WIDTH[width] / FINETUNE_LR_DIVISOR


@contextlib.contextmanager
def float32_head(model: Any) -> Iterator[None]:
    """Compute the output projection (the logits) in float32 inside a bf16/fp16 autocast.

    Under autocast the logits would be bfloat16: about 3 significant digits, steps of 0.125
    at the logit sizes of Whisper's 51,865-token softmax. The loss, and the KL to the base
    model, are taken from float32 logits instead, as mixed-precision recipes do for the final
    layer. Outside autocast this changes nothing; the patch lasts for one forward call.
    """
    import torch
    import torch.nn.functional as F

    inner = model
    while hasattr(inner, "module"):  # DDP / accelerate wrappers
        inner = inner.module
    if hasattr(inner, "get_base_model"):  # peft
        inner = inner.get_base_model()
    head = inner.get_output_embeddings()

    def forward(x: Any) -> Any:
        with torch.autocast(device_type=x.device.type, enabled=False):
            bias = head.bias.float() if head.bias is not None else None
            return F.linear(x.float(), head.weight.float(), bias)

    head.forward = forward
    try:
        yield
    finally:
        del head.forward  # the class's forward again


def trainer_class() -> type:
    """The :class:`Seq2SeqTrainer` subclass used by :func:`train` (built lazily: transformers is heavy)."""
    import torch
    import torch.nn.functional as F
    from transformers import Seq2SeqTrainer
    from transformers.modeling_outputs import BaseModelOutput
    from transformers.models.whisper.modeling_whisper import shift_tokens_right

    class _TermTrainer(Seq2SeqTrainer):
        """Seq2SeqTrainer with replay batches, stored encoder outputs, KL distillation and
        generation-based validation ranked by the forgetting budget.

        Extra args: ``sampler`` (:class:`~.guards.ReplayMixSampler`), ``validator``
        (:class:`~.validation.Validator` or None), ``base_model`` (frozen copy for
        ``distill = kl``), ``distill_weight``.
        """

        # compute_loss returns a per-batch mean: the Trainer divides it by the accumulation steps.
        loss_is_scaled_for_ga = False

        def __init__(
            self,
            *args: Any,
            sampler: Any = None,
            validator: Any = None,
            base_model: Any = None,
            distill_weight: float = 0.0,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.mix_sampler, self.validator = sampler, validator
            self.base_model, self.distill_weight = base_model, distill_weight

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            return self.mix_sampler

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels = inputs["labels"]
            config = self.accelerator.unwrap_model(model).config
            decoder_input_ids = shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
            if "encoder_hidden" in inputs:
                enc = {"encoder_outputs": BaseModelOutput(last_hidden_state=inputs["encoder_hidden"])}
            else:
                enc = {"input_features": inputs["input_features"]}
            with float32_head(model):
                outputs = model(decoder_input_ids=decoder_input_ids, **enc)
            logits = outputs.logits.float()
            mask = labels != IGNORE_INDEX
            loss = F.cross_entropy(logits[mask], labels[mask])
            replay = inputs.get("replay_mask")
            if self.base_model is not None and replay is not None and bool(replay.any()):
                sel = mask & replay.to(mask.device)[:, None]
                with torch.no_grad(), float32_head(self.base_model):
                    base_logits = self.base_model(decoder_input_ids=decoder_input_ids, **enc).logits
                loss = loss + kl_to_base(logits[sel], base_logits[sel], self.distill_weight)
            return (loss, outputs) if return_outputs else loss

        def evaluate(
            self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval", **gen_kwargs: Any
        ) -> dict[str, float]:
            if self.validator is None:
                return {}
            model = self.accelerator.unwrap_model(self.model)
            if hasattr(model, "get_base_model"):  # peft: adapters are injected in the base model
                model = model.get_base_model()
            score = self.validator.measure(model)
            values = self.validator.log_values(score)
            values["score"] += LATER_TIE_WEIGHT * self.state.global_step / max(1, self.state.max_steps)
            best, best_metric = self._best_validation(), self.state.best_metric
            if best is not None and best_metric is not None:
                if self.validator.prefers(score, best):
                    values["traded"] = float(self.validator.rank(score) < self.validator.rank(best))
                    values["score"] = max(values["score"], best_metric + PREFER_MARGIN)
                else:
                    values["score"] = min(values["score"], best_metric - PREFER_MARGIN)
            if best_metric is None or values["score"] > best_metric:  # transformers will keep this one
                self._keep_best(score)
            metrics = {f"{metric_key_prefix}_{k}": v for k, v in values.items()}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def _best_validation(self) -> Any:
            """The validation score of the checkpoint kept so far (from disk after a resume), or None."""
            if getattr(self, "_best", None) is None:
                path = Path(self.args.output_dir) / BEST_VALIDATION_FILE
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    if data.get("step") == self.state.best_global_step:
                        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data["score"].items()}
                        self._best = ValidationScore(**fields)
                except (OSError, ValueError, KeyError, TypeError):
                    return None
            return getattr(self, "_best", None)

        def _keep_best(self, score: Any) -> None:
            self._best = score
            if self.is_world_process_zero():
                data = {"step": self.state.global_step, "score": dataclasses.asdict(score)}
                Path(self.args.output_dir).mkdir(parents=True, exist_ok=True)
                atomic_write_text(Path(self.args.output_dir) / BEST_VALIDATION_FILE, json.dumps(data) + "\n")

    return _TermTrainer


def lora_wrap(model: Any, r: int, alpha: int) -> Any:
    """Wrap ``model`` with LoRA adapters on the decoder's attention and feed-forward layers."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingDependencyError("train.freeze = lora needs peft: pip install 'termadapt[lora]'") from None
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=LORA_TARGETS))


def _run_key(recipe: Recipe, dataset_dir: Path | None = None) -> str:
    """Hash of what defines a training run: its settings, its data and how checkpoints are ranked.

    A finished model with this key is reused and checkpoints with another are discarded, so
    a rebuilt dataset (new sentences, voices…) trains afresh instead of returning the old model.
    """
    data: dict[str, Any] = {
        "seed": recipe.seed,
        "model": dataclasses.asdict(recipe.model),
        "train": dataclasses.asdict(recipe.train),
    }
    if recipe.train.early_stopping:  # the budget and the decode settings choose the checkpoint
        ev = recipe.evaluate
        data["decisions"] = [
            ev.max_general_cer_increase,
            ev.max_invented_terms,
            ev.max_homophone_swaps,
            ev.max_new_tokens,
            ev.batch_size,
            ev.evidence_trade,
            ev.precision,
        ]
    files = sorted(p for p in dataset_dir.rglob("*") if p.is_file()) if dataset_dir and dataset_dir.is_dir() else []
    data["dataset"] = [f"{p.relative_to(dataset_dir)}:{sha256_file(p)}" for p in files]
    return sha256_text(json.dumps(data, sort_keys=True))[:16]


def adapted_run_key(model_dir: str | Path) -> str:
    """The run key a finished ``model/`` was trained with ("" when it has none: not trained here)."""
    marker = Path(model_dir) / DONE_MARKER
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""


def _precision_flags(precision: str) -> dict[str, bool]:
    """TrainingArguments flags of a resolved precision (:func:`~termadapt.compute.resolve_precision`)."""
    import torch

    flags = {"bf16": precision == "bf16", "fp16": precision == "fp16"}
    if precision == "bf16" and not torch.cuda.is_available():
        flags["use_cpu"] = True  # transformers runs bf16 autocast on a CPU only when told it is meant
    return flags


def _load_splits(run_dir: Path, recipe: Recipe) -> dict[str, Any]:
    """The undecoded splits training reads, checked for the columns it needs."""
    dd = open_dataset(run_dir, "training")
    if "train" not in dd:
        raise TermadaptError(f"{run_dir / DATASET_DIR}: no 'train' split — rebuild it with `termadapt dataset RECIPE`")
    if recipe.train.early_stopping and ("validation" not in dd or len(dd["validation"]) == 0):
        raise TermadaptError(
            f"{run_dir / DATASET_DIR}: no 'validation' split for early stopping — rebuild the dataset "
            "or set train.early_stopping = false"
        )
    splits = {}
    for name in TRAIN_SPLITS:
        if name in dd:
            check_columns(dd[name], name, TRAIN_COLUMNS)
            splits[name] = undecoded(dd, name)
    return splits


def _build_rows(
    recipe: Recipe,
    meta: dict[str, list[dict[str, Any]]],
    tokenizer: Any,
    tokens: Any,
    replay_text: dict[str, str] | None,
) -> tuple[list[TrainRow], list[TrainRow]]:
    """Term rows (homophone sentences kept, repeated or dropped) and replay rows, with their labels."""
    cfg = recipe.train
    repeats = homophone_repeats(meta["train"], cfg.homophone_balance if cfg.homophone_guard else 0.0)
    term_rows = [
        TrainRow("train", i, m["key"], [], False, m["text"], float(m["duration"]))
        for i, m in enumerate(meta["train"])
        if keeps_row(m, cfg.homophone_guard)
        for _ in range(repeats[i])
    ]
    replay = replay_rows(meta, cfg.replay_ratio)
    rows = term_rows + replay
    stamped = choose_timestamped([r.key for r in rows], cfg.timestamp_fraction if cfg.timestamps else 0.0, recipe.seed)
    for row, ts in zip(rows, stamped):
        text = replay_text.get(row.key, row.text) if (row.replay and replay_text) else row.text
        row.labels = make_labels(
            text, tokenizer, tokens, row.duration, timestamps=ts and row.duration <= MAX_TIMESTAMPED_SECONDS
        )
    return term_rows, replay


def _audio_getter(splits: dict[str, Any], rows: list[Any]) -> Any:
    from ..audio import decode_cell

    where = {r.key: (r.split, r.index) for r in rows}

    def get(key: str) -> Any:
        split, index = where[key]
        return decode_cell(splits[split][index]["audio"], f"dataset/{split}[{index}]")

    return get


def _training_args(recipe: Recipe, out_dir: Path, progress: bool, steps_per_epoch: int, precision: str) -> Any:
    from transformers import Seq2SeqTrainingArguments

    cfg = recipe.train
    every = cfg.eval_every_steps
    strategy = "steps" if every > 0 else "epoch"
    multi = int(os.environ.get("WORLD_SIZE", "1")) > 1
    import torch

    kwargs: dict[str, Any] = dict(
        output_dir=str(out_dir),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of total steps
        lr_scheduler_type="linear",
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        logging_steps=max(1, min(10, steps_per_epoch // 4)),
        save_strategy=strategy,
        save_steps=every if every > 0 else 500,
        save_total_limit=max(1, cfg.save_total_limit),
        eval_strategy=strategy if cfg.early_stopping else "no",
        eval_steps=every if every > 0 else None,
        load_best_model_at_end=cfg.early_stopping,
        metric_for_best_model="score" if cfg.early_stopping else None,
        greater_is_better=True,
        seed=recipe.seed,
        data_seed=recipe.seed,
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=not progress,
        ddp_find_unused_parameters=False,
        predict_with_generate=False,
        **_precision_flags(precision),
    )
    if multi and not torch.cuda.is_available():
        kwargs["ddp_backend"] = "gloo"
    return Seq2SeqTrainingArguments(**kwargs)


def train(recipe: Recipe, run_dir: str | Path, resume: bool = True, progress: bool = True) -> Path:
    """Fine-tune the recipe's base model on ``run_dir/dataset``; write ``run_dir/model``.

    Args:
        recipe: The recipe (``[model]``, ``[train]``, ``[evaluate]``, ``seed``).
        run_dir: Run directory holding ``dataset/``.
        resume: Continue from the last checkpoint in ``run_dir/checkpoints`` (False: start over).
        progress: Show progress bars.

    Returns:
        The model directory ``run_dir/model``.

    Raises:
        TermadaptError: missing/broken dataset, bad settings, missing optional packages.
    """
    import torch
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from ..models import resolve_model
    from .encoder_cache import EncoderCache, precompute_applies

    cfg = recipe.train
    run_dir = Path(run_dir)
    model_dir, ckpt_dir = run_dir / MODEL_DIR, run_dir / CHECKPOINTS_DIR
    key = _run_key(recipe, run_dir / DATASET_DIR)
    if resume and adapted_run_key(model_dir) == key:
        return model_dir
    # Checkpoints of a run with other settings would continue the wrong run: start over.
    stale = (
        ckpt_dir.is_dir()
        and (ckpt_dir / RUN_KEY_FILE).is_file()
        and (ckpt_dir / RUN_KEY_FILE).read_text().strip() != key
    )
    if (not resume or stale) and ckpt_dir.exists() and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        if stale:
            print("training settings or dataset changed since the last checkpoint: starting over")
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        atomic_write_text(ckpt_dir / RUN_KEY_FILE, key)
    splits = _load_splits(run_dir, recipe)

    # 1. Model, tokens, settings.
    set_seed(recipe.seed)
    model, processor = resolve_model(recipe.model.base)
    tokenizer = processor.tokenizer
    tokens = prompt_tokens(tokenizer, recipe.model.language, recipe.model.task)
    lr = cfg.learning_rate or default_learning_rate(model.config)
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(cfg, learning_rate=lr))
    cfg = recipe.train
    try:
        model.set_attn_implementation("sdpa")
    except Exception:  # noqa: BLE001 - eager attention is a correct fallback
        pass
    use_cache, reason = precompute_applies(model, cfg.freeze)
    if cfg.precompute_encoder == "on" and not use_cache:
        raise ConfigError(f'train.precompute_encoder = "on" but {reason} — use "auto" or "off"')
    use_cache = use_cache and cfg.precompute_encoder != "off"

    # 2. Rows and training arguments (arguments first: they set up the distributed state).
    meta = {name: split_rows(split) for name, split in splits.items() if name != "validation" or cfg.early_stopping}
    term_rows, replay = _build_rows(recipe, meta, tokenizer, tokens, None)
    if cfg.replay_ratio > 0 and not replay:
        logger.warning(
            "train.replay_ratio = %s but dataset/general_train is missing or empty: training without replay",
            cfg.replay_ratio,
        )
    sampler = ReplayMixSampler(len(term_rows), len(replay), cfg.batch_size, cfg.replay_ratio, recipe.seed)
    precision = resolve_precision(cfg.precision, default_device(), "train.precision")
    args = _training_args(recipe, ckpt_dir, progress, sampler.n_batches, precision)
    device = args.device
    model.to(device)

    # 3. Frozen encoder outputs, once per clip (main process first; the others then read them).
    cache = None
    if use_cache:
        with args.main_process_first(desc="encoder outputs"):
            cache = EncoderCache.for_model(run_dir, model, processor.feature_extractor, precision)
            everything = term_rows + replay
            keys = [r.key for r in everything]
            if cfg.early_stopping:
                val = [
                    TrainRow("validation", i, m["key"], [], False, m["text"], 0.0)
                    for i, m in enumerate(meta["validation"])
                ]
                everything, keys = everything + val, keys + [r.key for r in val]
            cache.build(
                model,
                keys,
                _audio_getter(splits, everything),
                SpeechCollator(processor.feature_extractor).features,
                device,
                progress and args.should_save,
            )

    # 4. Distillation labels: the base model's own transcripts of the replay clips, once.
    if cfg.distill == "labels" and replay:
        with args.main_process_first(desc="base transcripts"):
            texts = distillation_labels(
                model,
                processor,
                replay,
                splits,
                decode_options(recipe),
                HypothesisCache(run_dir / HYPOTHESES_DIR),
                cache,
                recipe.evaluate.batch_size,
                recipe.evaluate.precision,
            )
        term_rows, replay = _build_rows(recipe, meta, tokenizer, tokens, texts)

    # 5. Validation of the base model (step 0): what the adapted model is compared with.
    validator = None
    if cfg.early_stopping:
        validator = Validator(recipe, run_dir, processor, cache, needed_by="early stopping")
        with args.main_process_first(desc="base validation"):
            validator.base = validator.measure(model)

    # 6. Freezing and the frozen teacher for KL.
    base_model = None
    if cfg.distill == "kl" and replay:
        base_model = copy.deepcopy(model).eval().requires_grad_(False)
    freeze(model, cfg.freeze)
    if cfg.freeze == "lora":
        model = lora_wrap(model, cfg.lora_r, cfg.lora_alpha)
    model.train()

    # 7. Train (resuming from the last checkpoint when there is one).
    dataset = RowDataset(term_rows + replay, splits, with_audio=cache is None)
    # eval_dataset is a placeholder the Trainer requires for eval_strategy; evaluate() uses the validator.
    trainer = trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=RowDataset(term_rows[:1], splits, False) if validator else None,
        data_collator=SpeechCollator(processor.feature_extractor, cache),
        processing_class=processor.feature_extractor,
        sampler=sampler,
        validator=validator,
        base_model=base_model,
        distill_weight=cfg.distill_weight,
        callbacks=early_stopping_callbacks(cfg),
    )
    from .progress import install

    install(trainer, progress)  # one labelled bar and a sentence per validation, not log dicts
    last = get_last_checkpoint(str(ckpt_dir)) if resume else None
    started = time.perf_counter()
    with quiet_transformers():  # checkpoint saves would draw their own bars
        result = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started

    # 8. Save the (best) model as plain weights, with processor, generation config and log.
    if args.should_save:
        final = trainer.model
        if hasattr(final, "merge_and_unload"):
            final = final.merge_and_unload()
        _save_model(
            final,
            processor,
            recipe,
            run_dir,
            trainer,
            validator,
            {
                "precompute_encoder": bool(cache),
                "precision": precision,
                "precompute_reason": reason,
                "learning_rate": lr,
                "term_samples": len(term_rows),
                "replay_samples_per_epoch": sampler.n_batches * sampler.n_replay_per_batch,
                "train_seconds": round(seconds, 2),
                "resumed_from": last,
                "train_samples_per_second": result.metrics.get("train_samples_per_second"),
                "global_step": trainer.state.global_step,
                "world_size": args.world_size,
                "dataset": str(run_dir / DATASET_DIR),
            },
            key,
        )
    if args.world_size > 1:
        torch.distributed.barrier()
    return model_dir


def _save_model(
    model: Any,
    processor: Any,
    recipe: Recipe,
    run_dir: Path,
    trainer: Any,
    validator: Validator | None,
    info: dict[str, Any],
    key: str,
) -> None:
    model_dir = run_dir / MODEL_DIR
    tmp = run_dir / (MODEL_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    gc = model.generation_config
    gc.language, gc.task = recipe.model.language, recipe.model.task
    gc.forced_decoder_ids = None  # language/task come from the generation config, not forced ids
    model.config.forced_decoder_ids = None
    with quiet_transformers():  # transformers 5 writes safetensors (never a pickle) by default
        model.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
    atomic_write_text(tmp / "training_args.json", trainer.args.to_json_string())
    atomic_write_text(tmp / RESOLVED_RECIPE, to_toml(recipe))
    state = trainer.state
    base = validator.log_values(validator.base) if validator and validator.base else None
    curve = [dict(step=0, epoch=0.0, **base)] if base else []
    curve += [{k.removeprefix("eval_"): v for k, v in e.items()} for e in state.log_history if "eval_score" in e]
    log = {
        "best_step": state.best_global_step,
        "best_score": state.best_metric,
        "best_checkpoint": state.best_model_checkpoint,
        "base_validation": base,
        "budget": validator.budget.as_dict() if validator else None,
        "validation_curve": curve,
        "loss_curve": [{"step": e["step"], "loss": e["loss"]} for e in state.log_history if "loss" in e],
        **info,
    }
    atomic_write_text(tmp / LOG_NAME, json.dumps(log, ensure_ascii=False, indent=1))
    if model_dir.exists():
        shutil.rmtree(model_dir)
    os.replace(tmp, model_dir)
    save_resolved(recipe, run_dir)
    atomic_write_text(model_dir / DONE_MARKER, key + "\n")
