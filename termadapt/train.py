"""Stage ``train``: fine-tune Whisper on the term data with guards against forgetting.

Reads ``run_dir/dataset`` (splits ``train``, ``general_train``, ``validation``) and the
recipe's ``[model]`` and ``[train]`` tables; writes ``run_dir/model/`` (safetensors weights,
processor, generation config for language/task, ``training_log.json``,
``training_args.json``, ``config.resolved.toml``) and keeps resumable checkpoints in
``run_dir/checkpoints/``.

Built on transformers' ``Seq2SeqTrainer`` (:func:`trainer_class` overrides the loss, the
sampler and the evaluation):

1. labels with the language/task prefix, timestamps on a share of samples
   (:mod:`termadapt.train_data`);
2. freezing: ``encoder`` (``freeze_encoder()``), ``none``, or ``lora`` (peft, merged into
   plain weights before saving so every exporter works);
3. replay of general speech at ``replay_ratio`` of every batch; distillation on replay
   samples: ``labels`` (the base model's own transcripts) or ``kl`` (KL(base‖adapted) on
   the label positions, weight ``distill_weight``);
4. the frozen encoder runs once per clip (:mod:`termadapt.encoder_cache`) when that gives
   the same training;
5. early stopping on held-out-voice validation: score = term recall −
   ``cer_weight`` · max(0, general CER − base CER), best checkpoint kept;
6. resume from the last checkpoint; seeded, repeatable runs; bf16/fp16, SDPA, gradient
   checkpointing, multi-GPU through ``torchrun``/``accelerate launch``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Recipe, save_resolved, to_toml
from .errors import ConfigError, TermadaptError
from .records import atomic_write_text, sha256_file, sha256_text
from .transcribe import greedy_generate
from .train_data import (
    IGNORE_INDEX,
    ReplayMixSampler,
    RowDataset,
    SpeechCollator,
    TrainRow,
    audio_split,
    check_columns,
    choose_timestamped,
    clip_key,
    decode_audio,
    make_labels,
    prompt_tokens,
)

__all__ = ["train", "default_learning_rate", "trainer_class", "Validator", "ValRow", "transcribe_keys", "lora_wrap"]

logger = logging.getLogger(__name__)

# Pre-training peak learning rates of the Whisper sizes (Radford et al. 2022, table as in
# seed 002), keyed by d_model; fine-tuning uses 1/40 of them (seed 002's rule, which gave
# 2.5e-5 for base in DESIGN.md §9).
PRETRAIN_LR_BY_WIDTH = {384: 1.5e-3, 512: 1e-3, 768: 5e-4, 1024: 2.5e-4, 1280: 1.75e-4}
FINETUNE_LR_DIVISOR = 40
# Generated tokens allowed per clip: twice the reference's length plus slack, so a model
# stuck in a loop cannot stall validation (the tiny test model never emits <|endoftext|>).
GEN_TOKENS_FACTOR, GEN_TOKENS_SLACK, GEN_TOKENS_MAX = 2, 8, 440
# LoRA targets: the decoder's attention projections and feed-forward layers (the encoder
# stays frozen under LoRA).
LORA_TARGETS = r".*decoder\.layers\.\d+\.((self_attn|encoder_attn)\.(q_proj|v_proj|out_proj)|fc1|fc2)"
CHECKPOINTS, MODEL_DIR, LOG_NAME = "checkpoints", "model", "training_log.json"
# Audio cells hashed per batch when keying clips: bounded memory on large datasets.
META_CHUNK = 256
DONE_MARKER = ".completed"
RUN_KEY_FILE = "run_key"  # settings + dataset hash of the run the checkpoints belong to


def default_learning_rate(config: Any) -> float:
    """1/40 of the pre-training learning rate of the Whisper size closest to ``config.d_model``."""
    width = min(PRETRAIN_LR_BY_WIDTH, key=lambda w: abs(w - int(config.d_model)))
    return PRETRAIN_LR_BY_WIDTH[width] / FINETUNE_LR_DIVISOR


@dataclass
class ValRow:
    """One validation (or transcription) clip."""

    key: str
    split: str
    index: int
    text: str
    kind: str
    terms: list[str]
    decides: int
    homophone_of: str = ""


def transcribe_keys(
    model: Any,
    processor: Any,
    rows: list[ValRow],
    splits: dict[str, Any],
    cache: Any = None,
    batch_size: int = 8,
    language: str = "ja",
    task: str = "transcribe",
) -> list[str]:
    """Greedy transcripts of ``rows`` (stored encoder outputs are used when ``cache`` is given)."""
    tok = processor.tokenizer
    collate = SpeechCollator(processor.feature_extractor)
    was_training = model.training
    model.eval()
    out: list[str] = []
    try:
        for s in range(0, len(rows), batch_size):
            part = rows[s:s + batch_size]
            longest = max(len(tok.encode(r.text, add_special_tokens=False)) for r in part)
            kw: dict[str, Any] = {
                "language": language, "task": task,
                "max_new_tokens": min(GEN_TOKENS_MAX, GEN_TOKENS_FACTOR * longest + GEN_TOKENS_SLACK),
            }
            if cache is not None:
                kw["encoder_hidden"] = cache.load([r.key for r in part])
            else:
                audio = [decode_audio(splits[r.split][r.index]["audio"], f"dataset/{r.split}[{r.index}]") for r in part]
                kw["input_features"] = collate.features(audio)
            out.extend(greedy_generate(model, processor, **kw))
    finally:
        model.train(was_training)
    return out


class Validator:
    """Scores a model on the validation split: term recall and general CER (termadapt.metrics).

    Term recall counts the rows of term kinds whose context decides the spelling
    (``decides`` ≠ 0; DESIGN.md §9b: neutral homophone sentences cannot be scored); general
    CER is over general and homophone-guard sentences.
    """

    def __init__(self, rows: list[ValRow], splits: dict[str, Any], processor: Any, language: str, task: str,
                 batch_size: int, cer_weight: float, cache: Any = None) -> None:
        self.rows, self.splits, self.processor = rows, splits, processor
        self.language, self.task, self.batch_size, self.cer_weight = language, task, batch_size, cer_weight
        self.cache = cache
        self.base: dict[str, float] | None = None
        # The rows never change between evaluations: their scoring form and the terms once.
        self._scored_rows = [dataclasses.asdict(r) for r in rows]
        self._targets = sorted({t for r in rows for t in r.terms})

    def measure(self, model: Any) -> dict[str, float]:
        """Term recall, general CER and their counts for ``model`` (no combined score)."""
        from .metrics import score_validation

        hyps = transcribe_keys(model, self.processor, self.rows, self.splits, self.cache, self.batch_size,
                               self.language, self.task)
        s = score_validation(self._scored_rows, hyps, self._targets)
        return {
            "term_recall": s["term_recall"], "term_hits": float(s["term_hits"]), "term_total": float(s["term_total"]),
            "general_cer": s["general_cer"] / 100.0, "general_clips": float(s["general_rows"]),
            # over-triggering: a term written into general speech, incl. a homophone swapped for it
            "over_triggers": float(s["invented"] + s["swaps"]),
        }

    def score(self, metrics: dict[str, float]) -> float:
        """recall − cer_weight · max(0, CER − base CER) − over-triggered clips / term clips.

        Higher is better: general CER may not rise, and a term written into general speech
        costs as much as a missed term.
        """
        base_cer = self.base["general_cer"] if self.base else metrics["general_cer"]
        over = metrics.get("over_triggers", 0.0) / max(1.0, metrics["term_total"])
        return metrics["term_recall"] - self.cer_weight * max(0.0, metrics["general_cer"] - base_cer) - over


def trainer_class() -> type:
    """The :class:`Seq2SeqTrainer` subclass used by :func:`train` (built lazily: transformers is heavy)."""
    import torch
    import torch.nn.functional as F
    from transformers import Seq2SeqTrainer
    from transformers.modeling_outputs import BaseModelOutput
    from transformers.models.whisper.modeling_whisper import shift_tokens_right

    class _TermTrainer(Seq2SeqTrainer):
        """Seq2SeqTrainer with replay batches, stored encoder outputs, KL distillation and
        generation-based validation.

        Extra args: ``sampler`` (:class:`ReplayMixSampler`), ``validator``
        (:class:`Validator` or None), ``base_model`` (frozen copy for ``distill = kl``),
        ``distill_weight``.
        """

        # compute_loss returns a per-batch mean: the Trainer divides it by the accumulation steps.
        loss_is_scaled_for_ga = False

        def __init__(self, *args: Any, sampler: Any = None, validator: Any = None, base_model: Any = None,
                     distill_weight: float = 0.0, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.mix_sampler, self.validator = sampler, validator
            self.base_model, self.distill_weight = base_model, distill_weight

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            return self.mix_sampler

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            labels = inputs["labels"]
            config = self.accelerator.unwrap_model(model).config
            decoder_input_ids = shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
            if "encoder_hidden" in inputs:
                enc = {"encoder_outputs": BaseModelOutput(last_hidden_state=inputs["encoder_hidden"])}
            else:
                enc = {"input_features": inputs["input_features"]}
            outputs = model(decoder_input_ids=decoder_input_ids, **enc)
            logits = outputs.logits.float()
            mask = labels != IGNORE_INDEX
            loss = F.cross_entropy(logits[mask], labels[mask])
            replay = inputs.get("replay_mask")
            if self.base_model is not None and replay is not None and bool(replay.any()):
                sel = mask & replay.to(mask.device)[:, None]
                with torch.no_grad():
                    base_logits = self.base_model(decoder_input_ids=decoder_input_ids, **enc).logits.float()
                log_p_base = F.log_softmax(base_logits[sel], dim=-1)
                log_p = F.log_softmax(logits[sel], dim=-1)
                kl = (log_p_base.exp() * (log_p_base - log_p)).sum(-1).mean()  # KL(base ‖ adapted)
                loss = loss + self.distill_weight * kl
            return (loss, outputs) if return_outputs else loss

        def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval",
                     **gen_kwargs: Any) -> dict[str, float]:
            if self.validator is None:
                return {}
            model = self.accelerator.unwrap_model(self.model)
            if hasattr(model, "get_base_model"):  # peft: adapters are injected in the base model
                model = model.get_base_model()
            measured = self.validator.measure(model)
            measured["score"] = self.validator.score(measured)
            metrics = {f"{metric_key_prefix}_{k}": v for k, v in measured.items()}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return _TermTrainer


def lora_wrap(model: Any, r: int, alpha: int) -> Any:
    """Wrap ``model`` with LoRA adapters on the decoder's attention and feed-forward layers."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        from .errors import MissingDependencyError

        raise MissingDependencyError("train.freeze = lora needs peft: pip install 'termadapt[lora]'") from None
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=LORA_TARGETS))


def _run_key(recipe: Recipe, dataset_dir: Path | None = None) -> str:
    """Hash of what defines a training run: its settings and its data.

    A finished model with this key is reused and checkpoints with another are discarded, so
    a rebuilt dataset (new sentences, voices…) trains afresh instead of returning the old model.
    """
    data = {"seed": recipe.seed, "model": dataclasses.asdict(recipe.model), "train": dataclasses.asdict(recipe.train)}
    files = sorted(p for p in dataset_dir.rglob("*") if p.is_file()) if dataset_dir and dataset_dir.is_dir() else []
    data["dataset"] = [f"{p.relative_to(dataset_dir)}:{sha256_file(p)}" for p in files]
    return sha256_text(json.dumps(data, sort_keys=True))[:16]


def _precision_flags(precision: str) -> dict[str, bool]:
    import torch

    cuda = torch.cuda.is_available()
    if precision == "auto":
        return {"bf16": bool(cuda and torch.cuda.is_bf16_supported()), "fp16": False}
    if precision in ("bf16", "fp16") and not cuda:
        raise ConfigError(f"train.precision = {precision!r} needs a GPU — use \"auto\" or \"fp32\" on CPU")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def _load_splits(run_dir: Path, recipe: Recipe) -> tuple[dict[str, Any], Path]:
    import datasets

    path = run_dir / "dataset"
    if not path.is_dir():
        raise TermadaptError(f"{path}: no dataset — run `termadapt dataset` (or build-and-train) first")
    try:
        dd = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - any load failure is a broken dataset folder
        raise TermadaptError(f"{path}: cannot load the dataset ({exc}) — rebuild it with `termadapt dataset`") from None
    if "train" not in dd:
        raise TermadaptError(f"{path}: no 'train' split — rebuild it with `termadapt dataset`")
    if recipe.train.early_stopping and ("validation" not in dd or len(dd["validation"]) == 0):
        raise TermadaptError(f"{path}: no 'validation' split for early stopping — rebuild the dataset or set train.early_stopping = false")
    splits = {}
    for name in ("train", "general_train", "validation"):
        if name in dd:
            check_columns(dd[name], name, ["audio", "text", "kind", "terms", "duration"], path)
            splits[name] = audio_split(dd, name)
    return splits, path


def _meta(split: Any) -> list[dict[str, Any]]:
    """Rows of a split without audio, plus each clip's content ``key`` (audio read in chunks)."""
    cols = [c for c in ("text", "kind", "terms", "duration", "decides", "homophone_of") if c in split.column_names]
    rows = split.select_columns(cols).to_list()
    i = 0
    for chunk in split.select_columns(["audio"]).iter(batch_size=META_CHUNK):
        for cell in chunk["audio"]:
            rows[i]["key"] = clip_key(cell)
            i += 1
    return rows


def homophone_repeats(rows: list[dict[str, Any]], balance: float) -> list[int]:
    """How many times each training row is used per epoch.

    A term's homophone-guard sentences (the homophone in its ordinary sense: 上流 for 蒸留)
    are few next to the term's own sentences, so the model learns "ジョウリュウ is 蒸留" and
    writes the term into ordinary speech. Each guard row of term T is repeated
    ``round(balance · n_T / h_T)`` times (at least once), where n_T counts T's own rows and
    h_T its guard rows; every other row is used once.

    Args:
        rows: Split rows with ``kind``, ``terms`` and ``homophone_of``.
        balance: Target ratio of guard rows to the term's own rows (0 = no repetition).
    """
    own: dict[str, int] = {}
    guards: dict[str, int] = {}
    for m in rows:
        if m.get("kind") == "homophone" and m.get("homophone_of"):
            guards[m["homophone_of"]] = guards.get(m["homophone_of"], 0) + 1
        elif m.get("kind") != "homophone":
            for t in m.get("terms") or []:
                own[t] = own.get(t, 0) + 1
    out = []
    for m in rows:
        target = m.get("homophone_of") if m.get("kind") == "homophone" else None
        if balance > 0 and target and guards.get(target):
            out.append(max(1, int(round(balance * own.get(target, 0) / guards[target]))))
        else:
            out.append(1)
    return out


def _build_rows(recipe: Recipe, meta: dict[str, list[dict[str, Any]]], tokenizer: Any, tokens: Any,
                replay_text: dict[str, str] | None) -> tuple[list[TrainRow], list[TrainRow]]:
    """Term rows (homophone guards kept or dropped) and replay rows, with their labels."""
    cfg = recipe.train
    repeats = homophone_repeats(meta["train"], cfg.homophone_balance if cfg.homophone_guard else 0.0)
    term_rows = [TrainRow("train", i, m["key"], [], False, m["text"], float(m["duration"]))
                 for i, m in enumerate(meta["train"]) if cfg.homophone_guard or m["kind"] != "homophone"
                 for _ in range(repeats[i])]
    replay_rows: list[TrainRow] = []
    if cfg.replay_ratio > 0 and "general_train" in meta:
        replay_rows = [TrainRow("general_train", i, m["key"], [], True, m["text"], float(m["duration"]))
                       for i, m in enumerate(meta["general_train"])]
    rows = term_rows + replay_rows
    stamped = choose_timestamped([r.key for r in rows], cfg.timestamp_fraction if cfg.timestamps else 0.0, recipe.seed)
    for row, ts in zip(rows, stamped):
        text = replay_text.get(row.key, row.text) if (row.replay and replay_text) else row.text
        row.labels = make_labels(text, tokenizer, tokens, row.duration, timestamps=ts and row.duration <= 30.0)
    return term_rows, replay_rows


def _val_rows(meta: list[dict[str, Any]], name: str) -> list[ValRow]:
    return [ValRow(m["key"], name, i, m["text"], m["kind"], list(m.get("terms") or []),
                   -1 if m.get("decides") is None else int(m["decides"]), m.get("homophone_of") or "")
            for i, m in enumerate(meta)]


def _cached_json(path: Path, compute: Any) -> Any:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    atomic_write_text(path, json.dumps(value, ensure_ascii=False, indent=1))
    return value


def _base_transcripts(path: Path, recipe: Recipe, model: Any, processor: Any, rows: list[TrainRow],
                      splits: dict[str, Any], cache: Any) -> dict[str, str]:
    """The base model's transcripts of replay clips (distill = labels), computed once per base model."""
    known: dict[str, str] = {}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("model") == recipe.model.base:
            known = data.get("labels", {})
    todo = [ValRow(r.key, r.split, r.index, r.text, "general", [], -1) for r in rows if r.key not in known]
    if todo:
        hyps = transcribe_keys(model, processor, todo, splits, cache, recipe.train.batch_size,
                               recipe.model.language, recipe.model.task)
        known.update(zip([r.key for r in todo], hyps))
        atomic_write_text(path, json.dumps({"model": recipe.model.base, "labels": known}, ensure_ascii=False, indent=1))
    return known


def _audio_getter(splits: dict[str, Any], rows: list[Any]) -> Any:
    where = {r.key: (r.split, r.index) for r in rows}

    def get(key: str) -> Any:
        split, index = where[key]
        return decode_audio(splits[split][index]["audio"], f"dataset/{split}[{index}]")

    return get


def _training_args(recipe: Recipe, out_dir: Path, progress: bool, steps_per_epoch: int) -> Any:
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
        **_precision_flags(cfg.precision),
    )
    if multi and not torch.cuda.is_available():
        kwargs["ddp_backend"] = "gloo"
    return Seq2SeqTrainingArguments(**kwargs)


def train(recipe: Recipe, run_dir: str | Path, resume: bool = True, progress: bool = True) -> Path:
    """Fine-tune the recipe's base model on ``run_dir/dataset``; write ``run_dir/model``.

    Args:
        recipe: The recipe (``[model]``, ``[train]``, ``seed``).
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

    from .encoder_cache import EncoderCache, encoder_fingerprint, precompute_applies
    from .models import resolve_model

    cfg = recipe.train
    run_dir = Path(run_dir)
    model_dir, ckpt_dir = run_dir / MODEL_DIR, run_dir / CHECKPOINTS
    key = _run_key(recipe, run_dir / "dataset")
    marker = model_dir / DONE_MARKER
    if resume and marker.is_file() and marker.read_text().strip() == key:
        return model_dir
    # Checkpoints of a run with other settings would continue the wrong run: start over.
    stale = ckpt_dir.is_dir() and (ckpt_dir / RUN_KEY_FILE).is_file() and (ckpt_dir / RUN_KEY_FILE).read_text().strip() != key
    if (not resume or stale) and ckpt_dir.exists() and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        if stale:
            print("training settings or dataset changed since the last checkpoint: starting over")
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        atomic_write_text(ckpt_dir / RUN_KEY_FILE, key)
    splits, ds_path = _load_splits(run_dir, recipe)

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
        raise ConfigError(f"train.precompute_encoder = \"on\" but {reason} — use \"auto\" or \"off\"")
    use_cache = use_cache and cfg.precompute_encoder != "off"

    # 2. Rows and training arguments (arguments first: they set up the distributed state).
    meta = {name: _meta(split) for name, split in splits.items() if name != "validation" or cfg.early_stopping}
    val_rows = _val_rows(meta["validation"], "validation") if cfg.early_stopping else []
    term_rows, replay_rows = _build_rows(recipe, meta, tokenizer, tokens, None)
    if cfg.replay_ratio > 0 and not replay_rows:
        logger.warning("train.replay_ratio = %s but dataset/general_train is missing or empty: training without replay",
                       cfg.replay_ratio)
    sampler = ReplayMixSampler(len(term_rows), len(replay_rows), cfg.batch_size, cfg.replay_ratio, recipe.seed)
    args = _training_args(recipe, ckpt_dir, progress, sampler.n_batches)
    device = args.device
    model.to(device)

    # 3. Frozen encoder outputs, once per clip (main process first; the others then read them).
    cache = None
    if use_cache:
        with args.main_process_first(desc="encoder outputs"):
            fp = encoder_fingerprint(model, extra=json.dumps(processor.feature_extractor.to_dict(), sort_keys=True, default=str))
            cache = EncoderCache(run_dir / "encoder_cache", fp)
            everything = term_rows + replay_rows + val_rows
            cache.build(model, [r.key for r in everything], _audio_getter(splits, everything),
                        SpeechCollator(processor.feature_extractor).features, device, progress and args.should_save)

    # 4. Distillation labels: the base model's own transcripts of the replay clips, once.
    if cfg.distill == "labels" and replay_rows:
        with args.main_process_first(desc="base transcripts"):
            texts = _base_transcripts(run_dir / "distill_labels.json", recipe, model, processor, replay_rows, splits, cache)
        term_rows, replay_rows = _build_rows(recipe, meta, tokenizer, tokens, texts)

    # 5. Validation of the base model (step 0): the CER the adapted model may not exceed.
    validator = None
    if cfg.early_stopping:
        validator = Validator(val_rows, splits, processor, recipe.model.language, recipe.model.task,
                              cfg.batch_size, cfg.cer_weight, cache)
        with args.main_process_first(desc="base validation"):
            validator.base = _cached_json(ckpt_dir / "validation_base.json", lambda: validator.measure(model))

    # 6. Freezing and the frozen teacher for KL.
    base_model = None
    if cfg.distill == "kl" and replay_rows:
        base_model = copy.deepcopy(model).eval().requires_grad_(False)
    if cfg.freeze in ("encoder", "lora"):
        model.freeze_encoder()
    if cfg.freeze == "lora":
        model = lora_wrap(model, cfg.lora_r, cfg.lora_alpha)
    model.train()

    # 7. Train (resuming from the last checkpoint when there is one).
    dataset = RowDataset(term_rows + replay_rows, splits, with_audio=cache is None)
    # eval_dataset is a placeholder the Trainer requires for eval_strategy; evaluate() uses the validator.
    trainer = trainer_class()(
        model=model, args=args, train_dataset=dataset, eval_dataset=RowDataset(term_rows[:1], splits, False) if validator else None,
        data_collator=SpeechCollator(processor.feature_extractor, cache), processing_class=processor.feature_extractor,
        sampler=sampler, validator=validator, base_model=base_model, distill_weight=cfg.distill_weight,
        callbacks=_callbacks(cfg),
    )
    last = get_last_checkpoint(str(ckpt_dir)) if resume else None
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started

    # 8. Save the (best) model as plain weights, with processor, generation config and log.
    if args.should_save:
        final = trainer.model
        if hasattr(final, "merge_and_unload"):
            final = final.merge_and_unload()
        _save_model(final, processor, recipe, run_dir, trainer, validator, {
            "precompute_encoder": bool(cache), "precompute_reason": reason, "learning_rate": lr,
            "term_samples": len(term_rows), "replay_samples_per_epoch": sampler.n_batches * sampler.n_replay_per_batch,
            "train_seconds": round(seconds, 2), "resumed_from": last,
            "train_samples_per_second": result.metrics.get("train_samples_per_second"),
            "global_step": trainer.state.global_step, "world_size": args.world_size, "dataset": str(ds_path),
        }, key)
    if args.world_size > 1:
        torch.distributed.barrier()
    return model_dir


def _callbacks(cfg: Any) -> list[Any]:
    from transformers import EarlyStoppingCallback

    return [EarlyStoppingCallback(early_stopping_patience=cfg.patience)] if cfg.early_stopping and cfg.patience > 0 else []


def _save_model(model: Any, processor: Any, recipe: Recipe, run_dir: Path, trainer: Any, validator: Any,
                info: dict[str, Any], key: str) -> None:
    model_dir = run_dir / MODEL_DIR
    tmp = run_dir / (MODEL_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    gc = model.generation_config
    gc.language, gc.task = recipe.model.language, recipe.model.task
    gc.forced_decoder_ids = None  # language/task come from the generation config, not forced ids
    model.config.forced_decoder_ids = None
    model.save_pretrained(str(tmp), safe_serialization=True)
    processor.save_pretrained(str(tmp))
    atomic_write_text(tmp / "training_args.json", trainer.args.to_json_string())
    atomic_write_text(tmp / "config.resolved.toml", to_toml(recipe))
    state = trainer.state
    curve = [dict(step=0, epoch=0.0, **(validator.base or {}), score=validator.score(validator.base))] if validator and validator.base else []
    curve += [{k.removeprefix("eval_"): v for k, v in e.items()} for e in state.log_history if "eval_score" in e]
    log = {
        "best_step": state.best_global_step, "best_score": state.best_metric,
        "best_checkpoint": state.best_model_checkpoint, "base_validation": validator.base if validator else None,
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
