"""Training data for fine-tuning: labels, audio decoding, the replay-mixing sampler, the collator.

Reads rows of the run's ``dataset/`` splits (``train``, ``general_train``, ``validation``)
and turns them into decoder labels and model inputs:

- labels are ``<|ja|><|transcribe|><|notimestamps|> text <|endoftext|>``; the leading
  ``<|startoftranscript|>`` is left out because the model shifts labels right and inserts
  ``decoder_start_token_id`` itself. A share of samples carries timestamps instead:
  ``<|ja|><|transcribe|><|0.00|> text <|T|><|endoftext|>`` with T the clip duration;
- :class:`ReplayMixSampler` fills every batch with a fixed share of general replay speech
  (one epoch = one pass over the term data), seeded per epoch so runs and resumes repeat;
- :class:`SpeechCollator` pads labels with -100 and either computes log-mel features or
  loads the frozen encoder's stored outputs (:mod:`termadapt.encoder_cache`).
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TermadaptError

__all__ = [
    "SAMPLING_RATE",
    "IGNORE_INDEX",
    "PromptTokens",
    "prompt_tokens",
    "make_labels",
    "timestamp_token",
    "decode_audio",
    "clip_key",
    "TrainRow",
    "RowDataset",
    "ReplayMixSampler",
    "SpeechCollator",
    "choose_timestamped",
    "audio_split",
    "check_columns",
]

# Whisper's feature extractor expects 16 kHz mono audio.
SAMPLING_RATE = 16000
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
            raise TermadaptError(f"tokenizer has no {name} token — use a multilingual Whisper model (model.language = {language!r})")
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
        ids = [tokens.language, tokens.task, tokens.timestamp_begin, *body, timestamp_token(duration, tokens), tokens.end]
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


def decode_audio(value: Any, where: str = "audio") -> np.ndarray:
    """Decode one ``audio`` cell into float32 mono 16 kHz samples.

    Accepts what ``datasets`` stores (``{"bytes", "path"}`` with ``Audio(decode=False)``),
    decoded ``{"array", "sampling_rate"}`` dicts, and torchcodec ``AudioDecoder`` objects.
    """
    import soundfile as sf

    if isinstance(value, dict) and value.get("array") is not None:
        wav, sr = np.asarray(value["array"], dtype=np.float32), int(value.get("sampling_rate") or SAMPLING_RATE)
    elif isinstance(value, dict) and (value.get("bytes") is not None or value.get("path")):
        try:
            source = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"]
            wav, sr = sf.read(source, dtype="float32", always_2d=True)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            raise TermadaptError(f"{where}: cannot read audio ({exc}) — rebuild the dataset with `termadapt dataset`") from None
        wav = wav.mean(axis=1)
    elif hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder
        samples = value.get_all_samples()
        wav, sr = samples.data.numpy().mean(axis=0).astype(np.float32), int(samples.sample_rate)
    else:
        raise TermadaptError(f"{where}: unsupported audio cell {type(value).__name__} — expected a datasets.Audio column")
    if wav.ndim > 1:
        wav = wav.mean(axis=-1)
    if sr != SAMPLING_RATE:
        from scipy.signal import resample_poly

        g = math.gcd(sr, SAMPLING_RATE)
        wav = resample_poly(wav, SAMPLING_RATE // g, sr // g).astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)


def clip_key(cell: Any) -> str:
    """Content key of a stored audio cell: the same audio gets the same stored encoder output.

    Hashes the encoded bytes when the dataset embeds them, else the file path with its size
    and modification time (the synth stage's audio cache is content-addressed), else the
    decoded samples.
    """
    h = hashlib.sha256()
    if isinstance(cell, dict) and cell.get("bytes") is not None:
        h.update(b"bytes:" + bytes(cell["bytes"]))
    elif isinstance(cell, dict) and cell.get("path"):
        p = Path(cell["path"])
        st = p.stat() if p.exists() else None
        h.update(f"path:{p.resolve()}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}".encode())
    else:
        h.update(b"samples:" + decode_audio(cell).tobytes())
    return h.hexdigest()[:24]


@dataclass
class TrainRow:
    """One training sample: where its audio is, its labels and whether it is replay speech."""

    split: str
    index: int  # row in the split
    key: str  # clip_key of the audio
    labels: list[int]
    replay: bool
    text: str
    duration: float


class RowDataset:
    """Map-style dataset over :class:`TrainRow` s; audio is decoded lazily from the splits.

    Items are dicts with ``labels``, ``replay`` (0/1), ``key`` and, unless ``with_audio`` is
    off (stored encoder outputs are used instead), ``audio`` (float32 samples).
    """

    def __init__(self, rows: Sequence[TrainRow], splits: dict[str, Any], with_audio: bool = True) -> None:
        self.rows = list(rows)
        self.splits = splits  # split name -> datasets.Dataset with Audio(decode=False)
        self.with_audio = with_audio

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.rows[i]
        item: dict[str, Any] = {"labels": row.labels, "replay": int(row.replay), "key": row.key}
        if self.with_audio:
            cell = self.splits[row.split][row.index]["audio"]
            item["audio"] = decode_audio(cell, f"dataset/{row.split}[{row.index}]")
        return item

    @property
    def n_term(self) -> int:
        return sum(1 for r in self.rows if not r.replay)


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
        replay = self._replay_stream(self.epoch * self.n_batches * self.n_replay_per_batch) if self.n_replay else iter(())
        for b in range(self.n_batches):
            batch = terms[b * self.n_term_per_batch:(b + 1) * self.n_term_per_batch]
            batch += [next(replay) for _ in range(self.n_replay_per_batch)]
            rng.shuffle(batch)
            yield from batch


class SpeechCollator:
    """Pad labels with -100 and add model inputs: log-mel features or stored encoder outputs.

    Args:
        feature_extractor: The processor's ``WhisperFeatureExtractor``.
        encoder_cache: An :class:`~termadapt.encoder_cache.EncoderCache`; when given, batches
            carry ``encoder_hidden`` (float32) instead of ``input_features``.
    """

    def __init__(self, feature_extractor: Any, encoder_cache: Any = None, pad_id: int = IGNORE_INDEX) -> None:
        self.feature_extractor = feature_extractor
        self.encoder_cache = encoder_cache
        self.pad_id = pad_id

    def features(self, audios: Sequence[np.ndarray]) -> Any:
        """Log-mel features ``[batch, mels, 3000]`` of 16 kHz clips (padded to 30 s)."""
        out = self.feature_extractor(list(audios), sampling_rate=SAMPLING_RATE, return_tensors="pt")
        return out["input_features"]

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(it["labels"]) for it in items)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for i, it in enumerate(items):
            labels[i, : len(it["labels"])] = torch.tensor(it["labels"], dtype=torch.long)
        batch: dict[str, Any] = {
            "labels": labels,
            "replay_mask": torch.tensor([bool(it["replay"]) for it in items]),
        }
        if self.encoder_cache is not None:
            batch["encoder_hidden"] = self.encoder_cache.load([it["key"] for it in items])
        else:
            batch["input_features"] = self.features([it["audio"] for it in items])
        return batch


def audio_split(dataset: Any, name: str) -> Any:
    """A split with its audio column left undecoded (``{"bytes", "path"}``; no torchcodec needed)."""
    import datasets

    split = dataset[name]
    if "audio" not in split.column_names:
        raise TermadaptError(f"dataset/{name} has no 'audio' column — rebuild the dataset with `termadapt dataset`")
    return split.cast_column("audio", datasets.Audio(decode=False))


def check_columns(split: Any, name: str, needed: Sequence[str], path: Path) -> None:
    """Raise a one-line error naming the missing columns of a split."""
    missing = [c for c in needed if c not in split.column_names]
    if missing:
        raise TermadaptError(f"{path}/{name}: missing column(s) {', '.join(missing)} — rebuild it with `termadapt dataset`")
