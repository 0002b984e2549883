"""Readings: how OpenJTalk speaks a term, and the user dictionary that makes it speak it right.

* :func:`fill_readings` derives missing readings with pyopenjtalk (katakana, reading form:
  痙攣 → ケイレン);
* :func:`build_user_dictionary` / :func:`apply_user_dictionary` teach OpenJTalk every term's
  reading so that it is spoken right inside any sentence (嚥下 → エンゲ, not エンカ;
  ``ailia SDK`` → アイリアエスディーケー instead of letter-by-letter Latin);
* :func:`tts_reading` is the katakana reading of a sentence as the TTS will speak it.

The TTS engines apply the run's user dictionary through :func:`apply_user_dictionary`.
Reads: term entries. Writes (``build_user_dictionary``): ``userdict/user.csv`` and ``user.dic``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import DictionaryError, MissingDependencyError
from ..records import USER_DICT_DIR, TermEntry, atomic_write_text

__all__ = [
    "PUNCTUATION",
    "openjtalk",
    "full_width",
    "fill_readings",
    "to_katakana",
    "tts_reading",
    "build_user_dictionary",
    "apply_user_dictionary",
    "reset_user_dictionary",
    "applied_user_dictionary",
    "run_user_dictionary",
    "user_dictionary_rows",
]

# The compiled user dictionary inside the run's userdict/ folder.
USER_DICT_FILE = "user.dic"

# MeCab word cost of user-dictionary entries: far below naist-jdic's nouns (≈3000–9000),
# so a term beats the system dictionary's own entry for the same surface (嚥下 エンカ) and
# any split of it into shorter words. One-character terms get a normal noun cost, or they
# would capture that character inside unrelated words.
USER_WORD_COST = 100
SINGLE_CHAR_COST = 3000
_USER_DICT_POS = "名詞,一般,*,*,*,*"
_USER_DICT_POS_PROPER = "名詞,固有名詞,一般,*,*,*"  # Latin names (ailia SDK) are products
_SMALL_KANA = set("ァィゥェォャュョヮヵヶ")
_KATAKANA_ONLY = re.compile(r"^[\u30a1-\u30faー]+$")
# Punctuation and spaces: dropped from readings, never part of a homophone.
PUNCTUATION = re.compile(r"[、。，．・「」『』（）()！？!?,.\s\u3000]")
_E_ROW = set("エケゲセゼテデネヘベペメレ")
_O_ROW = set("オコゴソゾトドノホボポモヨロョ")


def openjtalk():
    """The pyopenjtalk module (pyopenjtalk-plus), or a one-line error saying what to install."""
    try:
        import pyopenjtalk
    except ImportError:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "pyopenjtalk is not installed — pip install pyopenjtalk-plus (plain pyopenjtalk needs internet)"
        ) from None
    return pyopenjtalk


@functools.lru_cache(maxsize=1)
def sudachi_tokenizer():
    """Sudachi's tokenizer in split mode C (compounds such as 心電図 stay whole), made once."""
    from sudachipy import Dictionary, SplitMode

    return Dictionary().tokenizer(mode=SplitMode.C)


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
    pyopenjtalk = openjtalk()
    if user_dict is not None:
        apply_user_dictionary(user_dict)
    if not text.strip():
        return ""
    kana = pyopenjtalk.g2p(text, kana=True, use_read_as_pron=True)
    return kana if punctuation else PUNCTUATION.sub("", kana)


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
            out.append(
                dataclasses.replace(entry, reading=tts_reading(entry.target, punctuation=False), reading_source="auto")
            )
    return out


# ----------------------------------------------------------------------------------------
# User dictionary


def full_width(text: str) -> str:
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
    pyopenjtalk = openjtalk()
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
        surface = full_width(entry.target)
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
    pyopenjtalk = openjtalk()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = user_dictionary_rows(entries)
    if not rows:
        raise DictionaryError(
            str(out), 0, "no entry has a reading for the user dictionary", "give the dictionary at least one term"
        )
    csv_path, dic_path = out / "user.csv", out / USER_DICT_FILE
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
    openjtalk().update_global_jtalk_with_user_dict([{"dic_path": str(p), "is_reading_protected": True}])
    _applied = key


def applied_user_dictionary() -> str:
    """Which user dictionary pyopenjtalk reads with now ("" for the system dictionary alone)."""
    return _applied or ""


def reset_user_dictionary() -> None:
    """Go back to OpenJTalk's system dictionary alone."""
    global _applied
    openjtalk().unset_user_dict()
    _applied = None


def run_user_dictionary(run_dir: str | Path) -> str:
    """The run's compiled user dictionary (written by the terms stage), or "" when it has none."""
    dic = Path(run_dir) / USER_DICT_DIR / USER_DICT_FILE
    return str(dic) if dic.is_file() else ""
