"""Stage ``terms``: dictionaries → readings → homophones → OpenJTalk user dictionary.

Reads: ``recipe.dictionary.paths`` (relative to the recipe, or ``shipped:NAME``) and the
general sentences (``recipe.sentences.general_sentences``, else the shipped
``general-ja.txt``), in which multi-word homophones are looked up.
Writes in ``run_dir``: ``terms.jsonl`` (:class:`~termadapt.records.TermEntry`),
``userdict/user.csv`` + ``userdict/user.dic``, ``config.resolved.toml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..config import Recipe, save_resolved
from ..errors import DictionaryError
from ..records import TERMS_FILE, USER_DICT_DIR, TermEntry, sha256_text, write_jsonl
from .dictionary import load_dictionaries
from .homophones import find_homophones, find_sound_alikes
from .readings import build_user_dictionary, fill_readings, reset_user_dictionary
from .templates import load_general_corpus

__all__ = ["build_terms", "input_files", "sample_terms"]


def input_files(recipe: Recipe) -> list[Path]:
    """Files outside the run directory the stage reads (their content is part of its key)."""
    return [recipe.path(p) for p in recipe.dictionary.paths] + recipe.general_sentence_paths()


def sample_terms(entries: Sequence[TermEntry], limit: int, seed: int) -> list[TermEntry]:
    """At most ``limit`` entries (0 = all), chosen by a hash of (seed, target), in their order.

    A hash rather than a random draw keeps the choice stable when entries are added.
    """
    if limit <= 0 or len(entries) <= limit:
        return list(entries)
    rank = sorted(range(len(entries)), key=lambda i: sha256_text(str(seed), "term", entries[i].target))
    keep = set(rank[:limit])
    return [e for i, e in enumerate(entries) if i in keep]


def build_terms(recipe: Recipe, run_dir: str | Path) -> Path:
    """The ``terms`` stage (see the module docstring). Returns the path of ``terms.jsonl``.

    Raises:
        DictionaryError: any dictionary error (the first one, and how many there are);
            warnings too when ``fail_on_warnings`` is set.
    """
    run = Path(run_dir)
    cfg = recipe.dictionary
    result = load_dictionaries([recipe.path(p) for p in cfg.paths], cfg.encoding)
    if cfg.fail_on_warnings and result.warnings:
        first = result.warnings[0]
        raise DictionaryError(
            first.path,
            first.line,
            first.message,
            f"{first.fix} (fail_on_warnings is set; {len(result.warnings)} warning(s))",
        )
    entries = sample_terms(result.entries, cfg.max_terms, recipe.seed)
    if len(entries) < len(result.entries):
        from rich.console import Console

        Console(stderr=True).print(
            f"using {len(entries)} of {len(result.entries)} terms (dictionary.max_terms)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    # Readings, accents and homophones come from OpenJTalk's system dictionary alone: a user
    # dictionary applied earlier in this process (the last run's, by a voice check) would
    # change them, and with them the new user dictionary and every cached clip's key.
    reset_user_dictionary()
    entries = fill_readings(entries)
    corpus = load_general_corpus(recipe.general_sentence_paths())
    entries = find_homophones(entries, corpus, cfg.max_homophones)
    entries = find_sound_alikes(entries, corpus, cfg.max_sound_alikes)
    run.mkdir(parents=True, exist_ok=True)
    build_user_dictionary(entries, run / USER_DICT_DIR)
    out = run / TERMS_FILE
    write_jsonl(out, entries)
    save_resolved(recipe, run)
    return out
