"""Decoder labels: the text a training clip must produce, framed by Whisper's control tokens.

Labels are ``<|ja|><|transcribe|><|notimestamps|> text <|endoftext|>``; the leading
``<|startoftranscript|>`` is left out because the model shifts labels right and inserts
``decoder_start_token_id`` itself. A seeded share of samples carries timestamps instead:
``<|ja|><|transcribe|><|0.00|> text <|T|><|endoftext|>`` with T the clip duration, so the
adapted model keeps predicting timestamps (``termadapt transcribe --timestamps``).

Reads: transcripts and a Whisper tokenizer. Writes: nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TermadaptError

__all__ = ["IGNORE_INDEX", "PromptTokens", "prompt_tokens", "make_labels", "timestamp_token", "choose_timestamped"]

# CrossEntropyLoss ignores this label id: padding and positions without a target.
IGNORE_INDEX = -100
# Timestamp tokens advance in 0.02 s steps (openai-whisper's time precision).
TIME_PRECISION = 0.02
# The last timestamp token is <|30.00|>: Whisper's window is 30 s.
MAX_TIMESTAMP_SECONDS = 30.0


@dataclass(frozen=True)
class PromptTokens:
    """Ids of the control tokens that frame a label sequence."""

    start: int  # <|startoftranscript|>
    language: int  # <|ja|>
    task: int  # <|transcribe|>
    no_timestamps: int  # <|notimestamps|>
    end: int  # <|endoftext|>
    timestamp_begin: int  # <|0.00|>


def prompt_tokens(tokenizer: Any, language: str = "ja", task: str = "transcribe") -> PromptTokens:
    """Look up the control-token ids for ``language`` and ``task`` in a Whisper tokenizer.

    Raises:
        TermadaptError: a token is missing (not a multilingual Whisper tokenizer).
    """
    names = ["<|startoftranscript|>", f"<|{language}|>", f"<|{task}|>", "<|notimestamps|>", "<|endoftext|>", "<|0.00|>"]
    ids = tokenizer.convert_tokens_to_ids(names)
    unk = getattr(tokenizer, "unk_token_id", None)
    for name, i in zip(names, ids):
        if i is None or (unk is not None and i == unk and name != "<|endoftext|>"):
            raise TermadaptError(
                f"tokenizer has no {name} token — use a multilingual Whisper model (model.language = {language!r})"
            )
    return PromptTokens(*ids)


def timestamp_token(duration: float, tokens: PromptTokens) -> int:
    """The timestamp token for ``duration`` seconds, rounded to 0.02 s and capped at 30 s."""
    seconds = min(max(float(duration), 0.0), MAX_TIMESTAMP_SECONDS)
    return tokens.timestamp_begin + int(round(seconds / TIME_PRECISION))


def make_labels(
    text: str,
    tokenizer: Any,
    tokens: PromptTokens,
    duration: float | None = None,
    timestamps: bool = False,
    max_length: int = 448,
) -> list[int]:
    """Decoder labels for ``text`` (without the leading start token).

    Args:
        text: Transcript.
        tokenizer: Whisper tokenizer (text is encoded without special tokens).
        tokens: Control-token ids from :func:`prompt_tokens`.
        duration: Clip length in seconds; required when ``timestamps``.
        timestamps: Frame the text with ``<|0.00|>`` … ``<|duration|>`` instead of
            ``<|notimestamps|>``.
        max_length: Whisper's decoder length limit.

    Raises:
        TermadaptError: the labels would exceed ``max_length`` tokens.
    """
    body = list(tokenizer.encode(text, add_special_tokens=False))
    if timestamps:
        if duration is None:
            raise TermadaptError("timestamp labels need the clip duration (dataset column 'duration')")
        ids = [
            tokens.language,
            tokens.task,
            tokens.timestamp_begin,
            *body,
            timestamp_token(duration, tokens),
            tokens.end,
        ]
    else:
        ids = [tokens.language, tokens.task, tokens.no_timestamps, *body, tokens.end]
    if len(ids) > max_length - 1:  # the start token takes one decoder position
        raise TermadaptError(
            f"transcript too long for Whisper ({len(ids)} tokens > {max_length - 1}): {text[:40]!r}… — "
            "split long utterances or lower dataset.max_duration"
        )
    return ids


def choose_timestamped(keys: Sequence[str], fraction: float, seed: int) -> list[bool]:
    """Pick which samples get timestamp labels: a fixed, seeded share ``fraction`` of ``keys``."""
    if fraction <= 0.0 or not keys:
        return [False] * len(keys)
    rng = random.Random(f"timestamps:{seed}")
    order = list(range(len(keys)))
    rng.shuffle(order)
    chosen = set(order[: int(round(fraction * len(keys)))])
    return [i in chosen for i in range(len(keys))]
