"""Batched Whisper decoding for evaluation: shared encoder outputs and a hypothesis cache.

Conditions whose encoders have identical weights (base and prompted base, a frozen-encoder
adaptation, every merge α) are decoded from one encoder pass per clip: on CPU the encoder is
~0.8 s of a ~1 s whisper-base decode (DESIGN.md §9), so N such conditions cost about
1 + 0.2·N encoder-decodes instead of N. Hypotheses are cached in
``eval/hyps/<condition>.jsonl`` under a key of (model weights, clip audio, decode options),
so re-running an evaluation decodes nothing and a changed model decodes everything again.

Reads: evaluation clips (audio arrays) and loaded models. Writes: the cache files.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .transcribe import greedy_generate

__all__ = [
    "PROMPT_TOKEN_LIMIT",
    "SAMPLE_RATE",
    "DecodeOptions",
    "EvalClip",
    "Condition",
    "HypCache",
    "state_fingerprint",
    "build_term_prompt",
    "decode_conditions",
    "decode_members",
    "decode_per_clip",
]

SAMPLE_RATE = 16000
# openai-whisper keeps at most n_text_ctx // 2 - 1 = 223 prompt tokens after <|startofprev|>
# (decoding.py); more would crowd out the transcript in the 448-token context.
PROMPT_TOKEN_LIMIT = 223
# Whisper's decoder has 448 positions; <|startofprev|>, <|startoftranscript|>, language, task
# and <|notimestamps|> take 5 of them besides the prompt text.
MAX_TARGET_POSITIONS = 448
CONTROL_TOKENS = 5
# Separator between terms in the prompt: the Japanese list comma reads naturally and costs
# one token.
PROMPT_SEPARATOR = "、"


@dataclass(frozen=True)
class DecodeOptions:
    """Everything besides weights and audio that changes a hypothesis (part of the cache key)."""

    language: str = "ja"
    task: str = "transcribe"
    max_new_tokens: int = 128
    num_beams: int = 1
    prompt_ids: tuple[int, ...] = ()
    # Decoder implementation ("transformers" or "faster-whisper:<compute type>"): the two
    # decode the same weights slightly differently, so their hypotheses never share a key.
    backend: str = "transformers"

    def key(self) -> str:
        """Stable hash of the options."""
        fields: list = [self.language, self.task, self.max_new_tokens, self.num_beams, list(self.prompt_ids)]
        if self.backend != "transformers":  # transformers keys stay as before (existing caches remain valid)
            fields.append(self.backend)
        payload = json.dumps(fields, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class EvalClip:
    """One clip of an evaluation set, with the dataset columns the metrics need.

    Attributes:
        set: Dataset split name (``test_terms``, ``general``, ``import_*``).
        index: Row index within the split.
        audio_key: SHA-256 of the audio samples (cache key part).
        audio: 16 kHz float32 samples.
    """

    set: str
    index: int
    audio_key: str
    audio: np.ndarray
    text: str
    kind: str = "general"
    voice: str = ""
    terms: tuple[str, ...] = ()
    utterance_id: str = ""
    homophone_of: str = ""
    decides: int = -1
    duration: float = 0.0

    @property
    def clip_id(self) -> str:
        """Readable id unique within the report: ``set/index/utterance_id``."""
        return f"{self.set}/{self.index}/{self.utterance_id or self.audio_key[:8]}"


@dataclass
class Condition:
    """A model with decode options: one column of the comparison."""

    name: str
    model: Any
    processor: Any
    options: DecodeOptions
    fingerprint: str
    encoder_fingerprint: str
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def cache_key(self, clip: EvalClip) -> str:
        """Key of this condition's hypothesis for ``clip``."""
        return hashlib.sha256(f"{self.fingerprint}|{clip.audio_key}|{self.options.key()}".encode()).hexdigest()[:32]


def state_fingerprint(module: Any) -> str:
    """SHA-256 (16 hex digits) of a torch module's state dict: names, dtypes, shapes, bytes."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def build_term_prompt(processor: Any, terms: Sequence[str], limit: int = PROMPT_TOKEN_LIMIT) -> tuple[list[int], list[str]]:
    """Prompt ids listing as many terms as fit in ``limit`` prompt tokens.

    Terms are tried in the given order (put important ones first); a term that would overflow
    is skipped and the next, shorter one is tried.

    Returns:
        ``(prompt_ids, fitted_terms)``; the ids start with ``<|startofprev|>``.
    """
    fitted: list[str] = []
    ids: list[int] = []
    for term in terms:
        candidate = PROMPT_SEPARATOR.join([*fitted, term])
        cand_ids = [int(i) for i in processor.get_prompt_ids(candidate)]
        if len(cand_ids) - 1 <= limit:  # minus <|startofprev|>
            fitted.append(term)
            ids = cand_ids
    return ids, fitted


class HypCache:
    """Hypotheses of one condition, in ``eval/hyps/<condition>.jsonl``.

    Lines are appended and flushed after every batch, so an interrupted evaluation resumes
    where it stopped; a torn last line is ignored when reading.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hyps: dict[str, str] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    self.hyps[row["key"]] = row["hyp"]

    def get(self, key: str) -> str | None:
        """Cached hypothesis or None."""
        return self.hyps.get(key)

    def add(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Append ``(key, clip_id, hyp)`` rows and flush them to disk."""
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for key, clip_id, hyp in rows:
                self.hyps[key] = hyp
                fh.write(json.dumps({"key": key, "clip": clip_id, "hyp": hyp}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _generate(cond: Condition, *, input_features: Any = None, encoder_hidden: Any = None) -> list[str]:
    opts = cond.options
    max_new = max(1, min(opts.max_new_tokens, MAX_TARGET_POSITIONS - len(opts.prompt_ids) - CONTROL_TOKENS))
    return greedy_generate(cond.model, cond.processor, input_features=input_features, encoder_hidden=encoder_hidden,
                           language=opts.language, task=opts.task, max_new_tokens=max_new,
                           num_beams=opts.num_beams, prompt_ids=opts.prompt_ids)


def _features(processor: Any, clips: Sequence[EvalClip]) -> Any:
    return processor.feature_extractor(
        [c.audio for c in clips], sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features


def decode_members(
    members: Sequence[Condition],
    batch: Sequence[EvalClip],
    caches: dict[str, HypCache],
    stats: dict[str, Any],
    generate: Callable[[Condition, list[int]], list[str]],
) -> None:
    """Decode one batch with every condition of an encoder group, skipping cached clips.

    ``generate(condition, indices)`` returns the hypotheses of ``batch[i]`` for those indices;
    both backends (transformers here, CTranslate2 in :mod:`termadapt.evaluate_fw`) supply it.
    """
    for m in members:
        need = [i for i, c in enumerate(batch) if caches[m.name].get(m.cache_key(c)) is None]
        if not need:
            continue
        texts = generate(m, need)
        caches[m.name].add([(m.cache_key(batch[i]), batch[i].clip_id, t) for i, t in zip(need, texts)])
        stats["decoded"] += len(need)


def decode_conditions(
    conditions: Sequence[Condition],
    clips: Sequence[EvalClip],
    caches: dict[str, HypCache],
    batch_size: int = 8,
    share_encoder: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fill ``caches`` with every condition's hypothesis of every clip.

    Conditions with equal ``encoder_fingerprint`` form a group; per batch of clips the group
    runs the encoder once and decodes its output with each member (``encoder_outputs`` to
    ``generate``). Clips already cached for a condition are not decoded again.

    Args:
        conditions: Compared conditions.
        clips: Evaluation clips.
        caches: ``condition name -> HypCache``; filled in place.
        batch_size: Clips per generate call.
        share_encoder: False decodes every condition from the features (for benchmarks).
        progress: Called with the number of clips finished after each batch of a group.

    Returns:
        Timing: ``{"decoded": clip-conditions decoded, "cached": found in cache, "seconds": s,
        "encoder_passes": n}``.
    """
    import torch

    groups: dict[str, list[Condition]] = {}
    for cond in conditions:
        key = cond.encoder_fingerprint if share_encoder else cond.name
        groups.setdefault(key, []).append(cond)
    stats = {"decoded": 0, "cached": 0, "seconds": 0.0, "encoder_passes": 0}
    start = time.perf_counter()
    for members in groups.values():
        todo = [c for c in clips if any(caches[m.name].get(m.cache_key(c)) is None for m in members)]
        stats["cached"] += sum(len(clips) for _ in members) - sum(
            1 for c in todo for m in members if caches[m.name].get(m.cache_key(c)) is None
        )
        for lo in range(0, len(todo), batch_size):
            batch = todo[lo : lo + batch_size]
            features = _features(members[0].processor, batch)
            hidden = None
            if len(members) > 1:
                lead = members[0].model
                with torch.inference_mode():
                    dtype = next(lead.parameters()).dtype
                    hidden = lead.get_encoder()(features.to(dtype)).last_hidden_state
                stats["encoder_passes"] += len(batch)

            def generate(m: Condition, need: list[int], hidden: Any = hidden, features: Any = features) -> list[str]:
                if hidden is not None:
                    return _generate(m, encoder_hidden=hidden[need])
                stats["encoder_passes"] += len(need)  # generate() runs the encoder itself
                return _generate(m, input_features=features[need])

            decode_members(members, batch, caches, stats, generate)
            if progress is not None:
                progress(len(batch))
    stats["seconds"] = time.perf_counter() - start
    return stats


def decode_per_clip(conditions: Sequence[Condition], clips: Sequence[EvalClip]) -> tuple[dict[str, list[str]], float]:
    """Reference path for benchmarks: one ``generate`` call per clip and condition, no cache.

    Returns:
        ``(hypotheses per condition, seconds)``.
    """
    start = time.perf_counter()
    out: dict[str, list[str]] = {}
    for cond in conditions:
        out[cond.name] = [_generate(cond, input_features=_features(cond.processor, [clip]))[0] for clip in clips]
    return out, time.perf_counter() - start
