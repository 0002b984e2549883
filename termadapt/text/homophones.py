"""Homophones: general words read exactly like a term (動悸 → 動機, 同期; 誤嚥 → ご縁).

They come from the OpenJTalk (naist-jdic) and Sudachi system dictionaries and from the
general sentences the later stages speak (compounds such as ご縁 are one word in neither
dictionary). The sentences stage makes guard sentences from them and the scorer counts a
term written where its homophone was said as a swap (docs/design.md, "Homophones").

**Sound-alikes** (:func:`find_sound_alikes`) are words one kana away from a term's reading
(仙骨 センコツ / 千個 センコ): words of the general sentences first, then common dictionary
nouns. They are guarded and scored like homophones, but do not change which templates decide
a term's spelling (a sound-alike is heard apart, a homophone is not).

Reads: the system dictionaries (an index cached under ``<cache root>/homophones/``) and
general sentences. Writes: the index.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from ..cache import cache_dir
from ..records import TermEntry, atomic_write_bytes
from .readings import PUNCTUATION, full_width, openjtalk, to_katakana

__all__ = ["MAX_HOMOPHONES", "MAX_SOUND_ALIKES", "find_homophones", "find_sound_alikes", "reading_index"]

# Homophones recorded per term: later stages write a sentence per homophone, and more than
# a handful are rare words nobody says (動悸: 動機 同期 銅器 同気 動気…).
MAX_HOMOPHONES = 5
# Sound-alikes recorded per term: each gets guard sentences where the general sentences have some.
MAX_SOUND_ALIKES = 3
# Shortest reading (in kana) given sound-alikes: a 2-kana reading is one kana away from
# hundreds of words.
MIN_SOUND_ALIKE_KANA = 3
# Dictionary nouns count as sound-alikes only when OpenJTalk's cost says they are common:
# 同期 2448, 前年 2569 and 痙攣 4525 are below it; the rare readings of a word (経連 6480,
# 禅苑 11265) are above. Words of the general sentences need no threshold.
COMMON_WORD_COST = 5000
# Shortest sound-alike: one-character words (円, 縁) occur in too many sentences to guard.
MIN_SOUND_ALIKE_CHARS = 2
# Hiragana at either end of a corpus span: a particle or an inflection, not part of the word.
_EDGE_KANA = re.compile(r"^[\u3041-\u309f]|[\u3041-\u309f]$")
# Cost given to Sudachi-only words when ranking homophones: after every OpenJTalk word
# (whose costs run up to ~15000), since Sudachi exposes no frequency.
SUDACHI_ONLY_COST = 20000
# Corpus spans longer than this many morphemes are phrases, not homophones of one term.
MAX_SPAN_MORPHEMES = 3
_INDEX_VERSION = 1
# OpenJTalk noun subclasses that are not general words (numbers, suffixes, pronouns, names).
_SKIP_POS1 = {"数", "接尾", "非自立", "代名詞", "固有名詞", "特殊"}
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff々〆ヶ]")
_HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309fー]+$")
_KATAKANA_WORD = re.compile(r"^[\u30a1-\u30faー]+$")


def _openjtalk_nouns() -> Iterator[tuple[str, str, int]]:
    """(surface, reading, cost) of general nouns in OpenJTalk's naist-jdic ``sys.dic``.

    MeCab binary layout: 10 × u32 header (magic, version, type, lexsize, lsize, rsize,
    dsize, tsize, fsize, dummy), 32-byte charset, double array (dsize), tokens (tsize; 16
    bytes: u16 lcAttr, u16 rcAttr, u16 posid, i16 wcost, u32 feature, u32 compound),
    features (fsize; NUL-terminated CSV: pos×6, ctype, cform, orig, read, pron, acc, chain).
    """
    import numpy as np

    pyopenjtalk = openjtalk()
    data = (Path(pyopenjtalk.OPEN_JTALK_DICT_DIR.decode()) / "sys.dic").read_bytes()
    header = np.frombuffer(data, dtype="<u4", count=10)
    dsize, tsize, fsize = int(header[6]), int(header[7]), int(header[8])
    start = 40 + 32 + dsize
    tokens = np.frombuffer(
        data,
        count=tsize // 16,
        offset=start,
        dtype=np.dtype(
            [("l", "<u2"), ("r", "<u2"), ("pos", "<u2"), ("cost", "<i2"), ("feature", "<u4"), ("compound", "<u4")]
        ),
    )
    features = data[start + tsize : start + tsize + fsize]
    best: dict[int, int] = {}
    for off, cost in zip(tokens["feature"].tolist(), tokens["cost"].tolist()):
        if off not in best or cost < best[off]:
            best[off] = cost
    noun = "名詞,".encode()
    for off, cost in best.items():
        if not features.startswith(noun, off):
            continue
        cols = features[off : features.index(b"\0", off)].decode("utf-8", "replace").split(",")
        if len(cols) >= 10 and cols[1] not in _SKIP_POS1:
            yield cols[6], cols[7], cost


def _sudachi_nouns() -> Iterator[tuple[str, str]]:
    """(surface, reading) of common nouns (普通名詞) in Sudachi's system dictionary."""
    try:
        from sudachipy import Dictionary
    except ImportError:  # pragma: no cover - pulled in by pyopenjtalk-plus
        return
    dictionary = Dictionary()
    try:
        for m in dictionary.entries():
            pos = m.part_of_speech()
            if pos[0] == "名詞" and pos[1] == "普通名詞":
                yield m.surface(), m.reading_form()
    finally:
        dictionary.close()


def _index_path() -> Path:
    import sudachidict_core

    pyopenjtalk = openjtalk()
    sys_dic = Path(pyopenjtalk.OPEN_JTALK_DICT_DIR.decode()) / "sys.dic"
    sudachi = Path(sudachidict_core.__file__).parent / "resources" / "system.dic"
    stamp = "-".join(str(p.stat().st_size) for p in (sys_dic, sudachi) if p.exists())
    return cache_dir("homophones") / f"reading-index-v{_INDEX_VERSION}-{stamp}.json.gz"


def _is_word(surface: str) -> bool:
    return bool(surface) and not _HIRAGANA_ONLY.match(surface) and not PUNCTUATION.search(surface)


def reading_index() -> dict[str, list[list]]:
    """reading → [[surface, cost], …] (cheapest first) of general nouns, cached on disk.

    Built once (≈10 s) from both system dictionaries into ``<cache root>/homophones/``.
    """
    path = _index_path()
    if str(path) in _INDEX_MEMO:
        return _INDEX_MEMO[str(path)]
    _INDEX_MEMO[str(path)] = index = _load_or_build_index(path)
    return index


_INDEX_MEMO: dict[str, dict[str, list[list]]] = {}


def _load_or_build_index(path: Path) -> dict[str, list[list]]:
    if path.is_file():
        try:
            return json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
        except (OSError, ValueError, EOFError):
            pass  # a damaged cache is rebuilt
    best: dict[tuple[str, str], int] = {}
    for surface, reading, cost in _openjtalk_nouns():
        if _is_word(surface) and reading != "*":
            key = (reading, surface)
            best[key] = min(cost, best.get(key, cost))
    for surface, reading in _sudachi_nouns():
        if _is_word(surface):
            best.setdefault((reading, surface), SUDACHI_ONLY_COST)
    index: dict[str, list[list]] = {}
    for (reading, surface), cost in best.items():
        index.setdefault(reading, []).append([surface, cost])
    for words in index.values():
        words.sort(key=lambda w: (w[1], w[0]))
    atomic_write_bytes(path, gzip.compress(json.dumps(index, ensure_ascii=False).encode("utf-8"), 6))
    return index


def _corpus_spans(sentences: Sequence[str], readings: set[str]) -> dict[str, dict[str, int]]:
    """reading → {surface: count} of 1–3-morpheme spans of the corpus with a wanted reading."""
    return {r: words for r, words in _all_corpus_spans(tuple(sentences)).items() if r in readings}


@functools.lru_cache(maxsize=2)
def _all_corpus_spans(sentences: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """reading → {surface: count} of every 1–3-morpheme word span of the corpus (read once
    per corpus: homophones and sound-alikes both look here)."""
    pyopenjtalk = openjtalk()
    found: dict[str, dict[str, int]] = {}
    for sentence in sentences:
        feats = pyopenjtalk.run_frontend(sentence)
        for i in range(len(feats)):
            surface, reading = "", ""
            for f in feats[i : i + MAX_SPAN_MORPHEMES]:
                surface += f["string"]
                reading += f["read"]
                if _is_word(surface) and reading:
                    counts = found.setdefault(reading, {})
                    counts[surface] = counts.get(surface, 0) + 1
    return found


def _one_kana_away(reading: str, candidates: Sequence[str]) -> list[str]:
    """The candidates whose reading is exactly one kana insertion, deletion or substitution away."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    hits = process.extract(reading, candidates, scorer=Levenshtein.distance, score_cutoff=1, limit=None)
    return [c for c, d, _ in hits if d == 1]


class _Variants:
    """Tells spelling variants of a term (蒸溜, 蒸りゅう for 蒸留) from real homophones."""

    def __init__(self) -> None:
        try:
            from sudachipy import Dictionary

            self._dictionary = Dictionary()
        except ImportError:  # pragma: no cover - pulled in by pyopenjtalk-plus
            self._dictionary = None

    def _normalized(self, word: str) -> set[str]:
        if self._dictionary is None:
            return {word}
        return {m.normalized_form() for m in self._dictionary.lookup(word)} | {word}

    def same_word(self, word: str, term: str, reading: str) -> bool:
        if word == term or word == reading or self._normalized(word) & self._normalized(term):
            return True
        kanji = set(_KANJI.findall(word))
        has_kana = re.search(r"[\u3041-\u309f]", word) is not None
        return has_kana and bool(kanji) and kanji <= set(_KANJI.findall(term))


def find_homophones(
    entries: Iterable[TermEntry], corpus: Sequence[str] = (), max_per_term: int = MAX_HOMOPHONES
) -> list[TermEntry]:
    """Entries with ``homophones`` filled: general words read exactly like the term.

    Words of ``corpus`` (general sentences the later stages speak) come first, most
    frequent first, then dictionary nouns by OpenJTalk word cost (a frequency proxy).
    Other terms of the dictionary and kana-only spellings are never homophones.

    Args:
        entries: Entries with readings (see :func:`fill_readings`).
        corpus: General sentences in which to look for multi-word homophones (ご縁).
        max_per_term: Cap per term.
    """
    entries = list(entries)
    if max_per_term <= 0:
        return [dataclasses.replace(e, homophones=()) for e in entries]
    readings = {e.target: to_katakana(e.reading) if e.reading else "" for e in entries}
    targets = {full_width(e.target) for e in entries} | {e.target for e in entries}
    index = reading_index()
    spans = _corpus_spans(corpus, {r for r in readings.values() if r}) if corpus else {}
    variants = _Variants()
    out = []
    for entry in entries:
        reading = readings[entry.target]
        ranked = sorted(spans.get(reading, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        words = [w for w, _ in ranked] + [w for w, _ in index.get(reading, [])]
        chosen = _first_distinct(
            words,
            lambda w, e=entry, r=reading: w not in targets and not variants.same_word(w, e.target, r),
            max_per_term,
        )
        out.append(dataclasses.replace(entry, homophones=chosen))
    return out


def _kana_spelling(word: str, index: dict[str, list[list]]) -> bool:
    """Whether ``word`` is katakana that spells the reading of a kanji word (ジョウキュウ for
    上級): naist-jdic lists such spellings as cheap nouns, but nobody writes them."""
    return bool(_KATAKANA_WORD.match(word)) and any(_KANJI.search(s) for s, _ in index.get(word, ()))


def _first_distinct(words: Iterable[str], keep: Callable[[str], bool], limit: int) -> tuple[str, ...]:
    """The first ``limit`` distinct words of ``words`` that ``keep`` accepts, in order."""
    chosen: list[str] = []
    for word in words:
        if word in chosen or not keep(word):
            continue
        chosen.append(word)
        if len(chosen) >= limit:
            break
    return tuple(chosen)


def find_sound_alikes(
    entries: Iterable[TermEntry], corpus: Sequence[str] = (), max_per_term: int = MAX_SOUND_ALIKES
) -> list[TermEntry]:
    """Entries with ``sound_alikes`` filled: everyday words one kana away from the term's reading.

    Words of ``corpus`` come first (most frequent first), then dictionary nouns cheaper than
    :data:`COMMON_WORD_COST` (cheapest first). Left out: other terms, words holding one of the
    term's homophones, spelling variants of the term, words inside the term or containing it
    (心電 for 心電図), one-character words, and corpus spans with a particle at an end (千個の).
    Readings shorter than :data:`MIN_SOUND_ALIKE_KANA` get none.

    Args:
        entries: Entries with readings and homophones (:func:`find_homophones`).
        corpus: The general sentences the later stages speak.
        max_per_term: Cap per term (0 = none).
    """
    entries = list(entries)
    if max_per_term <= 0:
        return [dataclasses.replace(e, sound_alikes=()) for e in entries]
    targets = {full_width(e.target) for e in entries} | {e.target for e in entries}
    index = reading_index()
    common = [r for r, words in index.items() if words and words[0][1] <= COMMON_WORD_COST]
    spans = _all_corpus_spans(tuple(corpus)) if corpus else {}
    span_readings = list(spans)
    said = {w for words in spans.values() for w in words}  # words the general sentences use
    variants = _Variants()
    out = []
    for entry in entries:
        reading = to_katakana(entry.reading) if entry.reading else ""
        if len(reading) < MIN_SOUND_ALIKE_KANA:
            out.append(dataclasses.replace(entry, sound_alikes=()))
            continue
        ranked = sorted(
            ((w, n) for r in _one_kana_away(reading, span_readings) for w, n in spans[r].items()),
            key=lambda kv: (-kv[1], kv[0]),
        )
        words = [w for w, _ in ranked]
        near = _one_kana_away(reading, common)
        words += [
            w for w, _ in sorted((w for r in near for w in index[r] if w[1] <= COMMON_WORD_COST), key=lambda w: w[1])
        ]

        def keep(word: str, entry: TermEntry = entry, reading: str = reading) -> bool:
            return not (
                len(word) < MIN_SOUND_ALIKE_CHARS
                or (
                    word not in said and _kana_spelling(word, index)
                )  # ジョウキュウ is 上級 in kana; テンポ said is kept
                or _EDGE_KANA.search(word)  # a word with a particle on it (千個の, の同期): the word alone counts
                or word in targets
                or any(h in word for h in entry.homophones)
                or word in entry.target
                or entry.target in word
                or variants.same_word(word, entry.target, reading)
            )

        out.append(dataclasses.replace(entry, sound_alikes=_first_distinct(words, keep, max_per_term)))
    return out
