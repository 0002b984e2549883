"""Readings: automatic katakana readings, an OpenJTalk user dictionary, homophone lookup.

* :func:`fill_readings` derives missing readings with pyopenjtalk (katakana, reading form:
  痙攣 → ケイレン);
* :func:`build_user_dictionary` / :func:`apply_user_dictionary` teach OpenJTalk every term's
  reading so that it is spoken right inside any sentence (嚥下 → エンゲ, not エンカ;
  ``ailia SDK`` → アイリアエスディーケー instead of letter-by-letter Latin);
* :func:`tts_reading` is the katakana reading of a sentence as the TTS will speak it;
* :func:`find_homophones` lists general words with the same reading (動悸 → 動機, 同期),
  from the OpenJTalk (naist-jdic) and Sudachi system dictionaries and from a corpus of
  general sentences (compounds such as ご縁 are one word in neither dictionary).

:func:`build_terms` is the pipeline's ``terms`` stage. Reads: the recipe's dictionaries
(and the general sentences, for homophones). Writes in ``run_dir``: ``terms.jsonl``,
``userdict/user.csv`` + ``userdict/user.dic``, ``config.resolved.toml``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .dictionary import load_dictionaries
from .errors import DictionaryError, MissingDependencyError
from .records import TermEntry, atomic_write_bytes, atomic_write_text, sha256_text, write_jsonl

if TYPE_CHECKING:
    from .config import Recipe

__all__ = [
    "MAX_HOMOPHONES",
    "fill_readings",
    "to_katakana",
    "tts_reading",
    "build_user_dictionary",
    "apply_user_dictionary",
    "reset_user_dictionary",
    "find_homophones",
    "reading_index",
    "user_dictionary_rows",
    "load_corpus",
    "build_terms",
    "sample_terms",
]

# Homophones recorded per term: later stages write a sentence per homophone, and more than
# a handful are rare words nobody says (動悸: 動機 同期 銅器 同気 動気…).
MAX_HOMOPHONES = 5
# MeCab word cost of user-dictionary entries: far below naist-jdic's nouns (≈3000–9000),
# so a term beats the system dictionary's own entry for the same surface (嚥下 エンカ) and
# any split of it into shorter words. One-character terms get a normal noun cost, or they
# would capture that character inside unrelated words.
USER_WORD_COST = 100
SINGLE_CHAR_COST = 3000
# Cost given to Sudachi-only words when ranking homophones: after every OpenJTalk word
# (whose costs run up to ~15000), since Sudachi exposes no frequency.
SUDACHI_ONLY_COST = 20000
# Corpus spans longer than this many morphemes are phrases, not homophones of one term.
MAX_SPAN_MORPHEMES = 3
_INDEX_VERSION = 1
_USER_DICT_POS = "名詞,一般,*,*,*,*"
_USER_DICT_POS_PROPER = "名詞,固有名詞,一般,*,*,*"  # Latin names (ailia SDK) are products
# OpenJTalk noun subclasses that are not general words (numbers, suffixes, pronouns, names).
_SKIP_POS1 = {"数", "接尾", "非自立", "代名詞", "固有名詞", "特殊"}
_SMALL_KANA = set("ァィゥェォャュョヮヵヶ")
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff々〆ヶ]")
_HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309fー]+$")
_KATAKANA_ONLY = re.compile(r"^[\u30a1-\u30faー]+$")
_PUNCT = re.compile(r"[、。，．・「」『』（）()！？!?,.\s\u3000]")
_E_ROW = set("エケゲセゼテデネヘベペメレ")
_O_ROW = set("オコゴソゾトドノホボポモヨロョ")


def _pyopenjtalk():
    try:
        import pyopenjtalk
    except ImportError:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "pyopenjtalk is not installed — pip install pyopenjtalk-plus (plain pyopenjtalk needs internet)"
        ) from None
    return pyopenjtalk


# ----------------------------------------------------------------------------------------
# Readings


def _hira_to_kata(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def tts_reading(text: str, user_dict: str | Path | None = None, punctuation: bool = True) -> str:
    """Katakana reading (reading form, ケイレン not ケーレン) of ``text`` as OpenJTalk reads it.

    Args:
        text: Any Japanese text (a term or a sentence).
        user_dict: A ``.dic`` from :func:`build_user_dictionary` to apply first (else the
            dictionary currently applied, if any, is used).
        punctuation: Keep punctuation (、。) in the output.
    """
    pyopenjtalk = _pyopenjtalk()
    if user_dict is not None:
        apply_user_dictionary(user_dict)
    if not text.strip():
        return ""
    kana = pyopenjtalk.g2p(text, kana=True, use_read_as_pron=True)
    return kana if punctuation else _PUNCT.sub("", kana)


def to_katakana(reading: str) -> str:
    """A reading as katakana: hiragana is converted; other text (kanji, Latin) is read by OpenJTalk."""
    kata = _hira_to_kata(unicodedata.normalize("NFKC", reading)).replace(" ", "")
    if _KATAKANA_ONLY.match(kata):
        return kata
    return tts_reading(kata, punctuation=False)


def fill_readings(entries: Iterable[TermEntry]) -> list[TermEntry]:
    """Entries with every missing reading derived by pyopenjtalk (``reading_source="auto"``)."""
    out = []
    for entry in entries:
        if entry.reading:
            out.append(entry)
        else:
            out.append(dataclasses.replace(entry, reading=tts_reading(entry.target, punctuation=False),
                                           reading_source="auto"))
    return out


# ----------------------------------------------------------------------------------------
# User dictionary


def _full_width(text: str) -> str:
    """NFKC, then ASCII → full-width (OpenJTalk matches user entries on full-width text)."""
    out = []
    for c in unicodedata.normalize("NFKC", text):
        if c == " ":
            out.append("\u3000")
        elif "!" <= c <= "~":
            out.append(chr(ord(c) + 0xFEE0))
        else:
            out.append(c)
    return "".join(out)


def _mora_count(kana: str) -> int:
    return sum(1 for c in kana if c not in _SMALL_KANA)


def _pronunciation(reading: str) -> str:
    """Reading form → OpenJTalk pronunciation form (エイ → エー, オウ → オー: ケイレン → ケーレン)."""
    out: list[str] = []
    for c in reading:
        prev = out[-1] if out else ""
        if (c == "イ" and prev in _E_ROW) or (c == "ウ" and prev in _O_ROW):
            out.append("ー")
        else:
            out.append(c)
    return "".join(out)


def _accent_fields(target: str, reading: str) -> tuple[str, int]:
    """(pronunciation, accent nucleus) for a term, from OpenJTalk's own analysis.

    The system dictionary's analysis of the target is used when it already gives this
    reading (痙攣: ケーレン, accent 0); otherwise the analysis of the katakana reading.
    The accent is the first accent phrase's nucleus (0 = flat) if it lies inside the word.
    """
    pyopenjtalk = _pyopenjtalk()
    pron = _pronunciation(reading)
    for text in (target, reading):
        feats = [f for f in pyopenjtalk.run_frontend(text) if f["pron"] not in ("、", "。")]
        if not feats:
            continue
        if text == target and "".join(f["read"] for f in feats) != reading:
            continue
        if text == target:
            pron = "".join(f["pron"] for f in feats)
        acc = int(feats[0]["acc"])
        return pron, acc if 0 <= acc <= _mora_count(pron) else 0
    return pron, 0


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Silence C-level stdout/stderr (mecab-dict-index prints a progress bar)."""
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def user_dictionary_rows(entries: Iterable[TermEntry]) -> list[str]:
    """naist-jdic CSV rows (surface,left,right,cost,pos×6,orig,read,pron,acc/mora,chain)."""
    rows = []
    for entry in entries:
        surface = _full_width(entry.target)
        if not surface.strip("\u3000") or not entry.reading:
            continue
        reading = to_katakana(entry.reading)
        if not reading:
            continue
        pron, acc = _accent_fields(entry.target, reading)
        cost = SINGLE_CHAR_COST if len(surface) == 1 else USER_WORD_COST
        pos = _USER_DICT_POS_PROPER if re.search(r"[A-Za-z]", entry.target) else _USER_DICT_POS
        rows.append(f"{surface},,,{cost},{pos},{surface},{reading},{pron},{acc}/{_mora_count(pron)},*")
    return rows


def build_user_dictionary(entries: Iterable[TermEntry], out_dir: str | Path) -> Path:
    """Compile an OpenJTalk user dictionary from the entries' readings.

    Writes ``out_dir/user.csv`` (naist-jdic format, full-width surfaces) and
    ``out_dir/user.dic``. Returns the ``.dic`` path (empty entries → no ``.dic``, an error).
    """
    pyopenjtalk = _pyopenjtalk()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = user_dictionary_rows(entries)
    if not rows:
        raise DictionaryError(str(out), 0, "no entry has a reading for the user dictionary",
                              "give the dictionary at least one term")
    csv_path, dic_path = out / "user.csv", out / "user.dic"
    atomic_write_text(csv_path, "".join(r + "\n" for r in rows))
    tmp = out / ".user.dic.tmp"
    with _quiet_fds():
        pyopenjtalk.mecab_dict_index(str(csv_path), str(tmp))
    os.replace(tmp, dic_path)
    return dic_path


_applied: str | None = None


def apply_user_dictionary(path: str | Path) -> None:
    """Make pyopenjtalk (g2p and tts) use the user dictionary; its readings are protected
    from pyopenjtalk-plus's later reading corrections."""
    global _applied
    p = Path(path)
    if not p.is_file():
        raise DictionaryError(str(p), 0, "user dictionary not found", "run the terms stage first")
    key = f"{p.resolve()}:{p.stat().st_mtime_ns}"
    if key == _applied:
        return
    _pyopenjtalk().update_global_jtalk_with_user_dict([{"dic_path": str(p), "is_reading_protected": True}])
    _applied = key


def reset_user_dictionary() -> None:
    """Go back to OpenJTalk's system dictionary alone."""
    global _applied
    _pyopenjtalk().unset_user_dict()
    _applied = None


# ----------------------------------------------------------------------------------------
# Homophones


def _cache_dir() -> Path:
    return Path(os.environ.get("TERMADAPT_CACHE") or Path.home() / ".cache" / "termadapt")


def _openjtalk_nouns() -> Iterator[tuple[str, str, int]]:
    """(surface, reading, cost) of general nouns in OpenJTalk's naist-jdic ``sys.dic``.

    MeCab binary layout: 10 × u32 header (magic, version, type, lexsize, lsize, rsize,
    dsize, tsize, fsize, dummy), 32-byte charset, double array (dsize), tokens (tsize; 16
    bytes: u16 lcAttr, u16 rcAttr, u16 posid, i16 wcost, u32 feature, u32 compound),
    features (fsize; NUL-terminated CSV: pos×6, ctype, cform, orig, read, pron, acc, chain).
    """
    import numpy as np

    pyopenjtalk = _pyopenjtalk()
    data = (Path(pyopenjtalk.OPEN_JTALK_DICT_DIR.decode()) / "sys.dic").read_bytes()
    header = np.frombuffer(data, dtype="<u4", count=10)
    dsize, tsize, fsize = int(header[6]), int(header[7]), int(header[8])
    start = 40 + 32 + dsize
    tokens = np.frombuffer(data, count=tsize // 16, offset=start, dtype=np.dtype(
        [("l", "<u2"), ("r", "<u2"), ("pos", "<u2"), ("cost", "<i2"), ("feature", "<u4"), ("compound", "<u4")]))
    features = data[start + tsize: start + tsize + fsize]
    best: dict[int, int] = {}
    for off, cost in zip(tokens["feature"].tolist(), tokens["cost"].tolist()):
        if off not in best or cost < best[off]:
            best[off] = cost
    noun = "名詞,".encode()
    for off, cost in best.items():
        if not features.startswith(noun, off):
            continue
        cols = features[off: features.index(b"\0", off)].decode("utf-8", "replace").split(",")
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

    pyopenjtalk = _pyopenjtalk()
    sys_dic = Path(pyopenjtalk.OPEN_JTALK_DICT_DIR.decode()) / "sys.dic"
    sudachi = Path(sudachidict_core.__file__).parent / "resources" / "system.dic"
    stamp = "-".join(str(p.stat().st_size) for p in (sys_dic, sudachi) if p.exists())
    return _cache_dir() / "homophones" / f"reading-index-v{_INDEX_VERSION}-{stamp}.json.gz"


def _is_word(surface: str) -> bool:
    return bool(surface) and not _HIRAGANA_ONLY.match(surface) and not _PUNCT.search(surface)


def reading_index() -> dict[str, list[list]]:
    """reading → [[surface, cost], …] (cheapest first) of general nouns, cached on disk.

    Built once (≈10 s) from both system dictionaries into ``$TERMADAPT_CACHE/homophones/``.
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


def _corpus_spans(sentences: Iterable[str], readings: set[str]) -> dict[str, dict[str, int]]:
    """reading → {surface: count} of 1–3-morpheme spans of the corpus with a wanted reading."""
    pyopenjtalk = _pyopenjtalk()
    found: dict[str, dict[str, int]] = {}
    for sentence in sentences:
        feats = pyopenjtalk.run_frontend(sentence)
        for i in range(len(feats)):
            surface, reading = "", ""
            for f in feats[i: i + MAX_SPAN_MORPHEMES]:
                surface += f["string"]
                reading += f["read"]
                if reading in readings and _is_word(surface):
                    counts = found.setdefault(reading, {})
                    counts[surface] = counts.get(surface, 0) + 1
    return found


def load_corpus(path: str | Path) -> list[str]:
    """General sentences of a text file: one a line, ``#`` comments and blank lines skipped."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


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
    targets = {_full_width(e.target) for e in entries} | {e.target for e in entries}
    index = reading_index()
    spans = _corpus_spans(corpus, {r for r in readings.values() if r}) if corpus else {}
    variants = _Variants()
    out = []
    for entry in entries:
        reading = readings[entry.target]
        ranked = sorted(spans.get(reading, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        words = [w for w, _ in ranked] + [w for w, _ in index.get(reading, [])]
        chosen: list[str] = []
        for word in words:
            if word in targets or word in chosen or variants.same_word(word, entry.target, reading):
                continue
            chosen.append(word)
            if len(chosen) >= max_per_term:
                break
        out.append(dataclasses.replace(entry, homophones=tuple(chosen)))
    return out


# ----------------------------------------------------------------------------------------
# Pipeline stage


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
    """The ``terms`` stage: dictionaries → readings → homophones → user dictionary.

    Reads: ``recipe.dictionary.paths`` (relative to the recipe) and the general sentences
    (``recipe.sentences.general_sentences``, else the shipped ``general-ja.txt``).
    Writes: ``run_dir/terms.jsonl``, ``run_dir/userdict/user.{csv,dic}``,
    ``run_dir/config.resolved.toml``. Returns the path of ``terms.jsonl``.

    Raises:
        DictionaryError: any dictionary error (the first one, and how many there are);
            warnings too when ``fail_on_warnings`` is set.
    """
    from .config import REPO_DATA_DIR, save_resolved

    run = Path(run_dir)
    cfg = recipe.dictionary
    result = load_dictionaries([recipe.path(p) for p in cfg.paths], cfg.encoding)
    if cfg.fail_on_warnings and result.warnings:
        first = result.warnings[0]
        raise DictionaryError(first.path, first.line, first.message,
                              f"{first.fix} (fail_on_warnings is set; {len(result.warnings)} warning(s))")
    entries = sample_terms(result.entries, cfg.max_terms, recipe.seed)
    if len(entries) < len(result.entries):
        from rich.console import Console

        Console(stderr=True).print(f"using {len(entries)} of {len(result.entries)} terms (dictionary.max_terms)",
                                   markup=False, highlight=False)
    entries = fill_readings(entries)
    general = recipe.sentences.general_sentences
    corpus_path = recipe.path(general) if general else REPO_DATA_DIR / "general-ja.txt"
    corpus = load_corpus(corpus_path) if corpus_path.is_file() else []
    entries = find_homophones(entries, corpus, cfg.max_homophones)
    run.mkdir(parents=True, exist_ok=True)
    build_user_dictionary(entries, run / "userdict")
    out = run / "terms.jsonl"
    write_jsonl(out, entries)
    save_resolved(recipe, run)
    return out
