"""The guards against forgetting, each declared once: its recipe keys, its data, its loss or callback.

Fine-tuning on term sentences alone learns the terms and damages everything else: general
CER rises and the terms get written into ordinary speech and homophones (動機 → 動悸).
Each guard below fights one part of that; docs/design.md ("Guards against forgetting")
gives the measured evidence for each. :data:`GUARDS` lists them in the order the ablation
(``benchmarks/ablate_guards.py``) adds them, with the recipe keys that control each and the
settings that turn it off; the functions after it are what each guard adds to training:

=================  ====================================================================
frozen encoder     :func:`freeze` — only the decoder learns (``train.freeze``)
replay             :class:`ReplayMixSampler`, :func:`replay_rows` — general speech in every batch
homophone guard    :func:`homophone_repeats` — sentences using the terms' homophones in their
                   own sense, repeated to balance the term's own sentences
distillation       :func:`distillation_labels` (the base model's transcripts as replay
                   labels) or :func:`kl_to_base` (a KL term to the frozen base model)
early stopping     :func:`early_stopping_callbacks` — the checkpoint the budget ranks best
merge              the ``merge`` stage (:mod:`termadapt.merging`) — weights interpolated
                   back toward the base, α chosen by the budget
=================  ====================================================================

Reads: dataset rows, models. Writes: nothing (training writes what they return).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import TermadaptError
from .data import TrainRow

__all__ = [
    "Guard",
    "GUARDS",
    "guard_named",
    "freeze",
    "ReplayMixSampler",
    "replay_rows",
    "homophone_repeats",
    "keeps_row",
    "distillation_labels",
    "kl_to_base",
    "early_stopping_callbacks",
]


@dataclass(frozen=True)
class Guard:
    """One guard against forgetting.

    Attributes:
        name: Its name in the ablation table (``benchmarks/ablate_guards.py``, README).
        keys: The recipe keys that control it.
        off: Recipe overrides that turn it off, ``{"train": {...}}`` or ``{"merge": {...}}``.
        stage: The stage it acts in (``train`` or ``merge``).
        why: What it prevents, in one line.
    """

    name: str
    keys: tuple[str, ...]
    off: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage: str = "train"
    why: str = ""

    def enabled(self, recipe: Any) -> bool:
        """Whether the recipe turns this guard on (any of its ``off`` settings differs)."""
        return any(
            getattr(getattr(recipe, section), key) != value
            for section, settings in self.off.items()
            for key, value in settings.items()
        )


GUARDS: tuple[Guard, ...] = (
    Guard(
        "frozen encoder",
        ("train.freeze",),
        {"train": {"freeze": "none"}},
        why="the acoustic model stays the base model's; only the decoder learns the spellings",
    ),
    Guard(
        "replay",
        ("train.replay_ratio", "sentences.general_replay_fraction", "sentences.max_general_replay"),
        {"train": {"replay_ratio": 0.0}},
        why="general speech in every batch keeps general CER near the base model's",
    ),
    Guard(
        "homophone guard",
        (
            "train.homophone_guard",
            "train.homophone_balance",
            "sentences.include_homophones",
            "sentences.homophone_terms_deciding_only",
        ),
        {"train": {"homophone_guard": False}},
        why="sentences using a term's homophone in its own sense stop the term being written for it",
    ),
    Guard(
        "distillation",
        ("train.distill", "train.distill_weight"),
        {"train": {"distill": "none"}},
        why="replay labelled (or regularized) by the base model keeps its behaviour, not only its labels",
    ),
    Guard(
        "early stopping",
        ("train.early_stopping", "train.patience", "train.eval_every_steps"),
        {"train": {"early_stopping": False}},
        why="the checkpoint delivered is the one the forgetting budget ranks best on held-out voices",
    ),
    Guard(
        "merge",
        ("merge.enabled", "merge.alpha", "merge.alpha_grid"),
        {"merge": {"enabled": False}},
        stage="merge",
        why="interpolating back toward the base gives up a little recall for general accuracy",
    ),
)


def guard_named(name: str) -> Guard:
    """The guard called ``name``."""
    for guard in GUARDS:
        if guard.name == name:
            return guard
    raise KeyError(name)


# ----------------------------------------------------------------------------- frozen encoder


def freeze(model: Any, mode: str) -> None:
    """Freeze what ``train.freeze`` says: ``encoder`` (and under ``lora``, the encoder too), or nothing."""
    if mode in ("encoder", "lora"):
        model.freeze_encoder()


# ----------------------------------------------------------------------------- replay


class ReplayMixSampler:
    """Batches with a fixed share of replay rows; one epoch is one pass over the term rows.

    Rows ``[0, n_term)`` are term data, ``[n_term, n_term + n_replay)`` replay data. Every
    batch of ``batch_size`` holds ``round(batch_size · replay_ratio)`` replay rows (drawn by
    cycling through shuffled passes over the replay pool, so all of it is used across
    epochs) and term rows for the rest. The order depends only on ``(seed, epoch)``, so a
    resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(self, n_term: int, n_replay: int, batch_size: int, replay_ratio: float, seed: int = 0) -> None:
        if n_term <= 0:
            raise TermadaptError("no term training data: dataset/train is empty — rebuild the dataset")
        self.n_term, self.n_replay, self.batch_size, self.seed = n_term, n_replay, batch_size, seed
        self.n_replay_per_batch = min(batch_size - 1, int(round(batch_size * replay_ratio))) if n_replay else 0
        self.n_term_per_batch = batch_size - self.n_replay_per_batch
        self.n_batches = math.ceil(n_term / self.n_term_per_batch)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order :meth:`__iter__` yields (called by the Trainer)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_term + self.n_batches * self.n_replay_per_batch

    def _replay_stream(self, start: int) -> Iterator[int]:
        # Replay pass p is a seeded permutation; epoch e starts where epoch e-1 stopped.
        p, offset = divmod(start, self.n_replay)
        while True:
            order = list(range(self.n_replay))
            random.Random(f"replay:{self.seed}:{p}").shuffle(order)
            for j in order[offset:]:
                yield self.n_term + j
            p, offset = p + 1, 0

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(f"term:{self.seed}:{self.epoch}")
        terms = list(range(self.n_term))
        rng.shuffle(terms)
        replay = (
            self._replay_stream(self.epoch * self.n_batches * self.n_replay_per_batch) if self.n_replay else iter(())
        )
        for b in range(self.n_batches):
            batch = terms[b * self.n_term_per_batch : (b + 1) * self.n_term_per_batch]
            batch += [next(replay) for _ in range(self.n_replay_per_batch)]
            rng.shuffle(batch)
            yield from batch


def replay_rows(meta: dict[str, list[dict[str, Any]]], replay_ratio: float) -> list[TrainRow]:
    """The replay pool (``general_train``) as training rows (empty when replay is off)."""
    if replay_ratio <= 0 or "general_train" not in meta:
        return []
    return [
        TrainRow("general_train", i, m["key"], [], True, m["text"], float(m["duration"]))
        for i, m in enumerate(meta["general_train"])
    ]


# ----------------------------------------------------------------------------- homophone guard


def keeps_row(row: dict[str, Any], homophone_guard: bool) -> bool:
    """Whether a ``train`` row is trained on: homophone sentences only with the guard on."""
    return homophone_guard or row.get("kind") != "homophone"


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


# ----------------------------------------------------------------------------- distillation


def distillation_labels(
    model: Any,
    processor: Any,
    rows: Sequence[TrainRow],
    splits: dict[str, Any],
    options: Any,
    cache: Any,
    encoder_outputs: Any = None,
    batch_size: int = 8,
    precision: str = "fp32",
) -> dict[str, str]:
    """``distill = labels``: the base model's own transcripts of the replay clips, as their labels.

    Decoded once through the run's hypothesis cache (a re-run or a resumed run decodes nothing).

    Returns:
        ``clip key -> transcript``.
    """
    from ..decoding import DatasetClip, TransformersBackend, decode, make_condition

    unique = list({r.key: r for r in rows}.values())
    clips = [DatasetClip(splits[r.split], r.index, r.key, f"{r.split}/{r.index}") for r in unique]
    cond = make_condition("distill", model, processor, options)
    texts = decode(
        [cond], clips, cache, TransformersBackend(precision), batch_size=batch_size, encoder_outputs=encoder_outputs
    ).texts["distill"]
    return {r.key: t for r, t in zip(unique, texts, strict=True)}


def kl_to_base(logits: Any, base_logits: Any, weight: float) -> Any:
    """``distill = kl``: ``weight · KL(base ‖ adapted)`` over the selected label positions.

    Args:
        logits: The adapted model's logits at the replay label positions ``[n, vocab]``.
        base_logits: The frozen base model's logits at the same positions.
        weight: ``train.distill_weight``.
    """
    import torch.nn.functional as F

    log_p_base = F.log_softmax(base_logits.float(), dim=-1)
    log_p = F.log_softmax(logits.float(), dim=-1)
    return weight * (log_p_base.exp() * (log_p_base - log_p)).sum(-1).mean()


# ----------------------------------------------------------------------------- early stopping


def early_stopping_callbacks(train_cfg: Any) -> list[Any]:
    """Stop after ``patience`` evaluations without a better budget score (none when off)."""
    from transformers import EarlyStoppingCallback

    if train_cfg.early_stopping and train_cfg.patience > 0:
        return [EarlyStoppingCallback(early_stopping_patience=train_cfg.patience)]
    return []
