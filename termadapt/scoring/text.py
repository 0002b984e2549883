"""Text normalization and the text metrics for Japanese (CER first, WER on Sudachi words).

Everything is scored on :func:`normalize`'d text, so that the metric charges a model for
what it heard, not for how it wrote it:

1. Unicode NFKC (full-width ``ＡＢＣ１２３`` → ``ABC123``, half-width katakana → full-width).
2. ``str.casefold`` (``SDK`` = ``sdk``).
3. Kanji numerals → Arabic digits (``三日`` = ``3日``, ``六時`` = ``6時``,
   ``二〇二四年`` = ``2024年``, ``二千二十四年`` = ``2024年``, ``三万五千`` = ``35000``).
   A measured run charged every model for such spellings (docs/design.md, "Scoring"). The parser reads
   a run of numeral characters: without a unit character (十百千万億兆) it is read digit by
   digit (``二〇二四`` → ``2024``, ``一二三`` → ``123``); with units it is read positionally
   (``百二十`` → ``120``, ``1万2千`` → ``12000``). A run never starts with 万/億/兆, so idioms
   such as ``万一`` keep their 万. The conversion is applied to both sides alike, so
   words written with a numeral kanji (``一緒`` → ``1緒``, ``十分`` → ``10分``) still compare
   equal to themselves; only the number's *spelling* stops mattering.
4. Punctuation, symbols, spaces and control characters (Unicode categories P*, S*, Z*, C*)
   are removed; the prolonged sound mark ``ー`` and ``々`` are letters (Lm) and stay.

CER is the corpus character error rate (jiwer 4) on normalized text. WER uses Sudachi split
mode C words (keeps 心電図 whole; fugashi + unidic-lite would split it into 心電/図). The reading CER compares katakana readings
from OpenJTalk (``pyopenjtalk.g2p(text, kana=True)``): it asks whether the model *heard* the
sentence right, whatever the spelling (動悸 and 動機 read the same).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "normalize",
    "convert_numerals",
    "parse_kanji_number",
    "cer",
    "char_errors",
    "wer",
    "words",
    "reading",
    "reading_cer",
    "contains_term",
    "strip_marks",
]

_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_DIGITS.update({str(i): i for i in range(10)})
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10**4, "億": 10**8, "兆": 10**12}
_DIGIT_CLASS = "〇零一二三四五六七八九0-9"
_SMALL_CLASS = "十百千"
_BIG_CLASS = "万億兆"
# A numeral run starts with a digit or 十/百/千 (never with 万/億/兆: 万一 is an idiom, and a
# bare 万 is not how a number is written); big units may follow inside the run.
_NUMERAL_RUN = re.compile(f"[{_DIGIT_CLASS}{_SMALL_CLASS}]+(?:[{_BIG_CLASS}][{_DIGIT_CLASS}{_SMALL_CLASS}]*)*")
# Unicode categories removed before scoring: punctuation, symbols, separators, controls.
_DROPPED_CATEGORIES = ("P", "S", "Z", "C")


def parse_kanji_number(run: str) -> int:
    """Value of one numeral run (kanji and/or Arabic digits).

    Args:
        run: A string matched by the numeral pattern, e.g. ``二〇二四``, ``百二十``, ``1万2千``.

    Returns:
        The integer value. Runs without unit characters are read digit by digit.
    """
    if not any(ch in _SMALL_UNITS or ch in _BIG_UNITS for ch in run):
        value = 0
        for ch in run:
            value = value * 10 + _DIGITS[ch]
        return value
    total = 0  # sum of completed 万/億/兆 groups
    section = 0  # value below the next big unit
    current: int | None = None  # digits read since the last unit
    for ch in run:
        if ch in _DIGITS:
            current = (current or 0) * 10 + _DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (1 if current is None else current) * _SMALL_UNITS[ch]
            current = None
        else:  # big unit
            group = section + (current or 0)
            total += (group or 1) * _BIG_UNITS[ch]
            section, current = 0, None
    return total + section + (current or 0)


def convert_numerals(text: str) -> str:
    """Replace every kanji/Arabic numeral run by its Arabic digits (``三日`` → ``3日``)."""

    def repl(match: re.Match[str]) -> str:
        run = match.group(0)
        if run.isascii():  # plain Arabic digits: keep leading zeros as written
            return run
        return str(parse_kanji_number(run))

    return _NUMERAL_RUN.sub(repl, text)


def strip_marks(text: str) -> str:
    """``text`` without punctuation, symbols and spaces (what scoring ignores)."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(_DROPPED_CATEGORIES))


@functools.lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Normalize text for scoring: NFKC, casefold, numerals → digits, no punctuation/spaces.

    Args:
        text: Reference or hypothesis text.

    Returns:
        The normalized string (possibly empty).
    """
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return strip_marks(convert_numerals(text))


def char_errors(ref: str, hyp: str) -> tuple[int, int]:
    """Character edit distance and reference length of one normalized pair.

    Returns:
        ``(errors, ref_chars)`` where errors = substitutions + deletions + insertions.
    """
    from rapidfuzz.distance import Levenshtein

    r, h = normalize(ref), normalize(hyp)
    return int(Levenshtein.distance(r, h)), len(r)


def _corpus_rate(refs: Sequence[str], hyps: Sequence[str], measure) -> float:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        return 0.0
    return float(measure(list(refs), list(hyps)))


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus character error rate on normalized text, in ``[0, ∞)``.

    Total edits over total reference characters (jiwer 4 ``cer``). Empty references are
    allowed: their hypothesis characters count as insertions. When every reference is empty
    jiwer divides by 1, so the result is the number of inserted characters (0.0 when the
    hypotheses are empty too). No pairs → 0.0.
    """
    import jiwer

    return _corpus_rate([normalize(r) for r in refs], [normalize(h) for h in hyps], jiwer.cer)


@functools.lru_cache(maxsize=65536)
def _words_cached(text: str) -> tuple[str, ...]:
    prepared = convert_numerals(unicodedata.normalize("NFKC", text).casefold())
    out = []
    from ..text.readings import sudachi_tokenizer

    for morpheme in sudachi_tokenizer().tokenize(prepared):
        w = strip_marks(morpheme.surface())
        if w:
            out.append(w)
    return tuple(out)


def words(text: str) -> list[str]:
    """Sudachi split-mode-C words of ``text``, each normalized, empty tokens dropped."""
    if not text:
        return []
    return list(_words_cached(text))


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate on Sudachi split-mode-C words (jiwer 4 ``wer``)."""
    import jiwer

    return _corpus_rate([" ".join(words(r)) for r in refs], [" ".join(words(h)) for h in hyps], jiwer.wer)


def reading(text: str) -> str:
    """Katakana reading of ``text`` (OpenJTalk), normalized like any other text.

    Read with the user dictionary applied now (the evaluate stage applies the run's, so a
    term is read as the dictionary says, whatever ran before in the process). Arabic digits
    are read by OpenJTalk (``3日`` → ミッカ), so the text is given as NFKC without numeral
    conversion.
    """
    from ..text.readings import applied_user_dictionary

    return _reading(text or "", applied_user_dictionary())


@functools.lru_cache(maxsize=65536)
def _reading(text: str, user_dictionary: str) -> str:
    import pyopenjtalk

    text = unicodedata.normalize("NFKC", text).strip()
    if not strip_marks(text):
        return ""
    return normalize(pyopenjtalk.g2p(text, kana=True))


def reading_cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER of the katakana readings of references and hypotheses."""
    return cer([reading(r) for r in refs], [reading(h) for h in hyps])


def contains_term(hyp: str, term: str) -> bool:
    """True when the normalized ``term`` occurs in the normalized ``hyp`` (case-insensitive).

    An empty (or all-punctuation) term never matches.
    """
    t = normalize(term)
    return bool(t) and t in normalize(hyp)
