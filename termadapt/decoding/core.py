"""The one batched Whisper decoder: shared encoder passes, term prompts, cached transcripts.

Validation during training (early stopping), the merge α sweep, evaluation and
``termadapt transcribe`` all decode through :func:`decode`:

- conditions (a model with decode options) whose encoders have identical weights form a
  group that runs the encoder once per batch of clips and decodes its output with every
  member (base and prompted base, a frozen-encoder adaptation, every merge α): on CPU the
  encoder is most of a whisper-base decode (docs/design.md, "Measured on these machines"),
  so N such conditions cost about one encoder pass plus N decoder passes;
- stored encoder outputs (:class:`EncoderOutputs`, the training stage's float16 cache) are
  used instead of the encoder when they cover a group's clips;
- every transcript is looked up in, and written to, the :class:`~.cache.HypothesisCache`,
  keyed by model, clip, options and backend, so no stage decodes what another already did;
- the backend (:mod:`.hf` transformers, :mod:`.ct2` CTranslate2/faster-whisper) turns audio
  into encoder outputs and encoder outputs into text, on the device its models are on.

Reads: clips (anything with ``audio_key``, ``clip_id`` and ``samples()``) and loaded models.
Writes: the hypothesis cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..compute import default_device
from .cache import HypothesisCache, model_fingerprint, module_fingerprint, row_key

__all__ = [
    "PROMPT_TOKEN_LIMIT",
    "MAX_TARGET_POSITIONS",
    "START_TOKENS",
    "DecodeOptions",
    "Condition",
    "Decoded",
    "DatasetClip",
    "Backend",
    "EncoderOutputs",
    "make_condition",
    "build_term_prompt",
    "decode",
    "default_device",
]

# openai-whisper keeps at most n_text_ctx // 2 - 1 = 223 prompt tokens after <|startofprev|>
# (decoding.py); more would crowd out the transcript in the 448-token context.
PROMPT_TOKEN_LIMIT = 223
# Whisper's decoder has 448 positions (prompt, control tokens and generated tokens).
MAX_TARGET_POSITIONS = 448
# <|startoftranscript|>, the language, the task and <|notimestamps|> precede every transcript
# (a prompt's <|startofprev|> is counted in its prompt_ids).
START_TOKENS = 4
# Separator between terms in the prompt: the Japanese list comma reads naturally and costs
# one token.
PROMPT_SEPARATOR = "、"


@dataclass(frozen=True)
class DecodeOptions:
    """Everything besides weights, audio and backend that changes a transcript (part of the cache key)."""

    language: str = "ja"
    task: str = "transcribe"
    max_new_tokens: int = 128
    num_beams: int = 1
    prompt_ids: tuple[int, ...] = ()

    def token_budget(self) -> int:
        """Tokens a decode may generate: the cap, within what the prompt leaves of the 448 positions."""
        return max(1, min(self.max_new_tokens, MAX_TARGET_POSITIONS - len(self.prompt_ids) - START_TOKENS))

    def key(self) -> str:
        """Stable hash of the options."""
        fields = [self.language, self.task, self.max_new_tokens, self.num_beams, list(self.prompt_ids)]
        return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass
class Condition:
    """A model with decode options: one column of a comparison, or one α of a sweep.

    Attributes:
        name: ``base``, ``prompt``, ``adapted``, ``merged``, ``validation``, ``alpha=0.7``…
        model: The transformers ``WhisperForConditionalGeneration`` (the CTranslate2 backend
            converts it once).
        processor: Its ``WhisperProcessor``.
        options: Decode options.
        fingerprint: :func:`~.cache.model_fingerprint` of the model.
        encoder_fingerprint: :func:`~.cache.module_fingerprint` of its encoder (equal
            encoders share one encoder pass).
        source: Where the model came from (spec or directory), for reports.
        info: Extra report fields (the prompt's terms…).
    """

    name: str
    model: Any
    processor: Any
    options: DecodeOptions
    fingerprint: str
    encoder_fingerprint: str
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def make_condition(
    name: str, model: Any, processor: Any, options: DecodeOptions, source: str = "", info: dict[str, Any] | None = None
) -> Condition:
    """A :class:`Condition` with its fingerprints computed from the model's current weights."""
    return Condition(
        name,
        model,
        processor,
        options,
        model_fingerprint(model),
        module_fingerprint(model.get_encoder()),
        source,
        dict(info or {}),
    )


class Clip(Protocol):
    """What :func:`decode` needs of a clip."""

    audio_key: str  # content key (termadapt.audio.cell_key)
    clip_id: str  # readable id, stored next to the cached transcript

    def samples(self) -> np.ndarray:
        """16 kHz float32 mono samples."""


@dataclass(frozen=True)
class DatasetClip:
    """A clip of an undecoded dataset split, read only if its audio is needed."""

    split: Any  # datasets.Dataset with Audio(decode=False)
    index: int
    audio_key: str
    clip_id: str

    def samples(self) -> np.ndarray:
        from ..audio import decode_cell

        return decode_cell(self.split[self.index]["audio"], self.clip_id)


class EncoderOutputs(Protocol):
    """Stored encoder outputs of clips (the training stage's cache)."""

    encoder_fingerprint: str  # the encoder whose outputs are stored
    tag: str  # part of the cache key: stored outputs may differ from fresh ones (float16)

    def covers(self, keys: Sequence[str]) -> bool:
        """Whether every key has a stored output."""

    def load(self, keys: Sequence[str]) -> Any:
        """Outputs of ``keys`` as one tensor ``[len(keys), frames, d_model]``."""


class Backend(Protocol):
    """Turns audio into encoder outputs and encoder outputs into text (:mod:`.hf`, :mod:`.ct2`)."""

    name: str
    takes_stored: bool  # whether it can decode stored (torch) encoder outputs

    def tag(self, cond: Condition) -> str:
        """Backend, device and numeric type: part of the cache key."""

    def prepare(self, conditions: Sequence[Condition]) -> None:
        """Load what the conditions need before decoding (called only when something is to decode)."""

    def encode(self, cond: Condition, audios: Sequence[np.ndarray]) -> Any:
        """Encoder outputs of a batch of clips."""

    def stored(self, cond: Condition, hidden: Any) -> Any:
        """Stored encoder outputs, made ready for :meth:`generate`."""

    def take(self, encoded: Any, rows: Sequence[int], total: int) -> Any:
        """The encoder outputs of some rows of a batch."""

    def generate(self, cond: Condition, encoded: Any, n: int) -> list[str]:
        """Greedy transcripts of ``n`` encoded clips."""


@dataclass
class Decoded:
    """The transcripts of every condition, aligned with the clips, and what it took."""

    texts: dict[str, list[str]]
    stats: dict[str, float]


def build_term_prompt(
    processor: Any, terms: Sequence[str], limit: int = PROMPT_TOKEN_LIMIT
) -> tuple[list[int], list[str]]:
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


def decode(
    conditions: Sequence[Condition],
    clips: Sequence[Clip],
    cache: HypothesisCache | None,
    backend: Backend,
    *,
    batch_size: int = 8,
    share_encoder: bool = True,
    encoder_outputs: EncoderOutputs | None = None,
    progress: Callable[[int], None] | None = None,
) -> Decoded:
    """Every condition's transcript of every clip, decoding only what the cache lacks.

    Args:
        conditions: The models with their options.
        clips: The clips (at most 30 s each: Whisper's window; longer audio is cut).
        cache: Where transcripts are looked up and stored (None: an in-memory cache).
        backend: :class:`~.hf.TransformersBackend` or :class:`~.ct2.FasterWhisperBackend`.
        batch_size: Clips per encoder and generate call.
        share_encoder: False decodes every condition from its own encoder pass (benchmarks).
        encoder_outputs: Stored encoder outputs to use for the groups whose encoder they hold.
        progress: Called with the number of clips finished (per group of conditions).

    Returns:
        :class:`Decoded`; ``stats`` holds ``decoded`` (clip-conditions decoded now), ``cached``,
        ``encoder_passes``, ``seconds`` and ``load_seconds``.
    """
    cache = cache if cache is not None else HypothesisCache(None)
    groups: dict[str, list[Condition]] = {}
    for cond in conditions:
        groups.setdefault(cond.encoder_fingerprint if share_encoder else cond.name, []).append(cond)
    stats = {"decoded": 0.0, "cached": 0.0, "encoder_passes": 0.0, "seconds": 0.0, "load_seconds": 0.0}
    keys = [c.audio_key for c in clips]
    start = time.perf_counter()
    plans = []
    for members in groups.values():
        stored = (
            encoder_outputs is not None
            and backend.takes_stored
            and encoder_outputs.encoder_fingerprint == members[0].encoder_fingerprint
            and encoder_outputs.covers(keys)
        )
        source = encoder_outputs.tag if stored else "encoded"
        row_keys = {m.name: [row_key(k, m.options.key(), backend.tag(m), source) for k in keys] for m in members}
        missing = {
            m.name: [i for i, k in enumerate(row_keys[m.name]) if cache.get(m.fingerprint, k) is None] for m in members
        }
        plans.append((members, stored, row_keys, missing))
    needed = [m for members, _, _, missing in plans for m in members if missing[m.name]]
    if needed:
        backend.prepare(needed)
    stats["load_seconds"] = time.perf_counter() - start
    for members, stored, row_keys, missing in plans:
        todo = sorted({i for m in members for i in missing[m.name]})
        stats["cached"] += sum(len(clips) - len(missing[m.name]) for m in members)
        if progress is not None and len(clips) > len(todo):
            progress(len(clips) - len(todo))
        lead = next((m for m in members if missing[m.name]), members[0])
        for lo in range(0, len(todo), batch_size):
            batch = todo[lo : lo + batch_size]
            if stored:
                encoded = backend.stored(lead, encoder_outputs.load([keys[i] for i in batch]))
            else:
                encoded = backend.encode(lead, [clips[i].samples() for i in batch])
                stats["encoder_passes"] += len(batch)
            for m in members:
                want = set(missing[m.name])
                rows = [j for j, i in enumerate(batch) if i in want]
                if not rows:
                    continue
                texts = backend.generate(m, backend.take(encoded, rows, len(batch)), len(rows))
                cache.put(
                    m.fingerprint,
                    [
                        (row_keys[m.name][batch[j]], clips[batch[j]].clip_id, t)
                        for j, t in zip(rows, texts, strict=True)
                    ],
                )
                stats["decoded"] += len(rows)
            if progress is not None:
                progress(len(batch))
    stats["seconds"] = time.perf_counter() - start
    texts = {
        m.name: [cache.get(m.fingerprint, k) or "" for k in row_keys[m.name]]
        for members, _, row_keys, _ in plans
        for m in members
    }
    return Decoded(texts=texts, stats=stats)
