"""Read and validate term dictionaries → :class:`~termadapt.records.TermEntry` records.

Two formats (docs/design.md, "Dictionaries"), as CSV or TSV (the delimiter is sniffed):

* headerless, compatible with seed 001: ``reading , target`` (left: what the TTS speaks,
  right: what the recognizer must write), or a single column when both are the same;
  spaces around the separator are allowed;
* with a header row naming the columns ``target``, ``reading``, ``category``, ``context``
  (``|``-separated example sentences, each containing the target) and ``weight``.

Encodings: UTF-8 (with or without BOM) and Shift_JIS/CP932 are detected automatically.
Lines starting with ``#`` are comments; blank lines are ignored.

:func:`check_dictionary` collects *every* problem of a file (for ``termadapt validate``);
:func:`load_dictionary` / :func:`load_dictionaries` raise the first error as a
:class:`~termadapt.errors.DictionaryError` naming file and line. Warnings (exact duplicates,
readings a TTS would spell out) never stop loading. Reads: dictionary files. Writes: nothing.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DictionaryError
from ..records import TermEntry

__all__ = [
    "COLUMNS",
    "DictionaryResult",
    "check_bytes",
    "check_dictionary",
    "check_dictionaries",
    "load_dictionary",
    "load_dictionaries",
    "parse_dictionary_text",
    "decode_text",
    "speakable",
]

COLUMNS = ("target", "reading", "category", "context", "weight")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp932", "shift_jis")
CONTEXT_SEPARATOR = "|"

# Limits on field length: a term longer than a sentence, or a "sentence" longer than a
# paragraph, is almost always a broken file (a missing newline or separator), and would
# make a TTS clip longer than Whisper's 30 s window.
MAX_TARGET_CHARS = 100
MAX_READING_CHARS = 100
MAX_CATEGORY_CHARS = 50
MAX_CONTEXT_CHARS = 300
# A term dictionary of hundreds of MB is not a dictionary; refuse before decoding it.
MAX_FILE_BYTES = 50 * 1024 * 1024
# Invisible characters that silently break matching of labels against transcripts.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
# Latin letters and digits (half- and full-width) in a reading are spelled out letter by
# letter (or read as English) by a Japanese TTS: warn and suggest katakana.
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9Ａ-Ｚａ-ｚ０-９]")
# Whitespace between a closing quote and the next separator, tolerated like the spaces
# around an unquoted separator.
_SPACE_AFTER_QUOTE = re.compile(r'"[ \u3000]+(?=[,\t]|$)')
_HEADER_CELL = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,30}$")
# Similarity needed to treat an unknown first-row word as a misspelled column name.
_SUGGEST_CUTOFF = 0.6
_FORMAT_HINT = "write `reading , target` or add a header row `target,reading,category,context,weight`"


def speakable(text: str) -> bool:
    """Whether ``text`` has anything a TTS speaks: a letter (kana, kanji, Latin) or a digit.

    Symbols and emoji (Unicode categories S*) and punctuation are skipped by the engines, so a
    reading made only of them would give clips whose audio lacks the term its label has.
    """
    return any(unicodedata.category(c)[0] in "LN" for c in text)


@dataclass
class DictionaryResult:
    """Entries read from one or more dictionaries, with the problems found.

    Attributes:
        entries: Valid, deduplicated entries in file order.
        warnings: Non-fatal problems (duplicates, readings with Latin letters…).
        errors: Fatal problems; always empty in the result of ``load_*`` (they raise).
    """

    entries: list[TermEntry] = field(default_factory=list)
    warnings: list[DictionaryError] = field(default_factory=list)
    errors: list[DictionaryError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# ----------------------------------------------------------------------------------------
# Decoding


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, max(0, offset)) + 1


def decode_text(data: bytes, path: str, encoding: str = "auto") -> str:
    """Bytes → text, detecting UTF-8 (BOM or not) and CP932 when ``encoding`` is auto.

    The one text decoder for user files (dictionaries, transcripts of imported speech).

    Raises:
        DictionaryError: naming the file and line of the first byte that does not decode.
    """
    enc = encoding.lower().replace("_", "-")
    if enc not in {e.replace("_", "-") for e in ENCODINGS}:
        raise DictionaryError(path, 0, f"unknown encoding {encoding!r}", f"use one of {', '.join(ENCODINGS)}")
    if enc != "auto":
        codec = "utf-8-sig" if enc == "utf-8" else enc  # a BOM is never part of a term
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:
            raise DictionaryError(
                path,
                _line_of(data, exc.start),
                f"bytes not valid in {encoding} at byte {exc.start}",
                'save the file in that encoding, or use encoding = "auto"',
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # Valid multi-byte UTF-8 before the bad byte means a damaged UTF-8 file, not CP932:
    # decoding it as CP932 would turn every term into mojibake.
    head = data[: utf8_error.start]
    if not any(b >= 0x80 for b in head):
        try:
            return data.decode("cp932")
        except UnicodeDecodeError:
            pass
    raise DictionaryError(
        path,
        _line_of(data, utf8_error.start),
        f"undecodable bytes at byte {utf8_error.start} (neither UTF-8 nor Shift_JIS/CP932)",
        "save the dictionary as UTF-8 text",
    )


# ----------------------------------------------------------------------------------------
# Rows


def _sniff_delimiter(lines: Sequence[str], path: str) -> str:
    if path.lower().endswith((".tsv", ".tab")):
        return "\t"
    data = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    tabs = sum(1 for ln in data if "\t" in ln)
    commas = sum(1 for ln in data if "," in ln)
    return "\t" if tabs and tabs >= commas else ","


def _split_row(line: str, delimiter: str) -> list[str]:
    """One physical line → stripped cells; raises csv.Error with a readable message."""

    def parse(text: str) -> list[str]:
        rows = list(csv.reader([text], delimiter=delimiter, strict=True, skipinitialspace=True))
        return rows[0] if rows else []

    try:
        cells = parse(line)
    except csv.Error as exc:
        if "expected after" in str(exc):
            try:
                cells = parse(_SPACE_AFTER_QUOTE.sub('"', line))
            except csv.Error:
                raise csv.Error("text after a closing quote") from None
        elif "end of data" in str(exc) or "newline" in str(exc):
            raise csv.Error("unterminated quote") from None
        else:
            raise csv.Error(str(exc)) from None
    return [c.strip(" \t\u3000") for c in cells]


def _bad_character(line: str) -> tuple[int, str] | None:
    for col, ch in enumerate(line, start=1):
        if ch == "\t":
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc" or cat in ("Zl", "Zp", "Cs") or ch in _INVISIBLE:
            return col, ch
    return None


def _header_of(cells: list[str]) -> list[str] | None:
    """The lower-cased column names if ``cells`` is a header row, else None."""
    names = [c.strip().lower() for c in cells]
    if not names or not all(_HEADER_CELL.match(n) for n in names if n):
        return None
    known = sum(1 for n in names if n in COLUMNS)
    close = sum(1 for n in names if n in COLUMNS or difflib.get_close_matches(n, COLUMNS, 1, _SUGGEST_CUTOFF))
    if known >= 1 or close == len(names):
        return names
    return None


# ----------------------------------------------------------------------------------------
# Parsing and validation


class _Collector:
    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[DictionaryError] = []
        self.warnings: list[DictionaryError] = []

    def error(self, line: int, message: str, fix: str = "") -> None:
        self.errors.append(DictionaryError(self.path, line, message, fix))

    def warn(self, line: int, message: str, fix: str = "") -> None:
        self.warnings.append(DictionaryError(self.path, line, message, fix))


def _short(text: str, n: int = 30) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _make_entry(values: dict[str, str], lineno: int, out: _Collector) -> TermEntry | None:
    """Validate one row's fields; returns the entry or None (errors go to ``out``)."""
    target = values.get("target", "")
    reading = values.get("reading", "")
    category = values.get("category", "")
    ok = True
    if not target:
        out.error(
            lineno,
            "missing target (the text the recognizer must output)",
            "fill in the target column, or delete the row",
        )
        return None
    for name, value, limit in (
        ("target", target, MAX_TARGET_CHARS),
        ("reading", reading, MAX_READING_CHARS),
        ("category", category, MAX_CATEGORY_CHARS),
    ):
        if len(value) > limit:
            out.error(
                lineno,
                f"{name} is {len(value)} characters long (limit {limit})",
                "check for a missing line break or separator",
            )
            ok = False
    contexts: list[str] = []
    for sentence in values.get("context", "").split(CONTEXT_SEPARATOR):
        sentence = sentence.strip(" \t\u3000")
        if not sentence:
            continue
        if len(sentence) > MAX_CONTEXT_CHARS:
            out.error(
                lineno,
                f"context sentence is {len(sentence)} characters long (limit {MAX_CONTEXT_CHARS})",
                f"split it into sentences separated by `{CONTEXT_SEPARATOR}`",
            )
            ok = False
        elif target not in sentence:
            out.error(
                lineno,
                f"context sentence {_short(sentence)!r} does not contain the target {target!r}",
                "write the target exactly as in the target column, or remove the sentence",
            )
            ok = False
        contexts.append(sentence)
    weight = 1.0
    raw_weight = values.get("weight", "")
    if raw_weight:
        try:
            weight = float(raw_weight)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight <= 0:
            out.error(
                lineno,
                f"weight {_short(raw_weight)!r} is not a positive number",
                "write a number such as 1 or 2.5, or leave it empty for 1",
            )
            ok = False
    if reading and not speakable(reading):
        out.error(
            lineno,
            f"reading {_short(reading)!r} has nothing a TTS can speak (only symbols or emoji)",
            "write the reading in katakana, or leave it empty to derive it from the target",
        )
        ok = False
    elif not reading and not speakable(target):
        out.error(
            lineno,
            f"target {_short(target)!r} has nothing a TTS can speak, so no reading can be derived",
            "give the row a reading in katakana",
        )
        ok = False
    elif unspoken := "".join(dict.fromkeys(c for c in (reading or target) if unicodedata.category(c)[0] == "S")):
        out.warn(
            lineno,
            f"{'reading' if reading else 'target'} contains symbols a TTS skips ({unspoken}): the audio will lack them",
            "write them out in the reading (katakana) or remove them",
        )
    if reading and _LATIN_OR_DIGIT.search(reading):
        out.warn(
            lineno,
            f"reading {_short(reading)!r} contains Latin letters or digits that a TTS spells out",
            "write the reading in katakana (e.g. エスディーケー for SDK, ゴ for 5)",
        )
    if not ok:
        return None
    return TermEntry(
        target=target,
        reading=reading,
        reading_source="given" if reading else "",
        category=category,
        context=tuple(contexts),
        weight=weight,
        source=f"{out.path}:{lineno}",
    )


def parse_dictionary_text(text: str, path: str = "<text>") -> DictionaryResult:
    """Parse decoded dictionary text; every problem is collected, nothing is raised.

    Args:
        text: The file's content.
        path: Name used in messages and in each entry's ``source``.
    """
    out = _Collector(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    delimiter = _sniff_delimiter(lines, path)
    sep_name = "tab" if delimiter == "\t" else "comma"
    header: list[str] | None = None
    header_line = 0
    first_row = True
    entries: list[TermEntry] = []
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip(" \t\u3000")
        if not stripped or stripped.startswith("#"):
            continue
        bad = _bad_character(line)
        if bad is not None:
            col, ch = bad
            out.error(
                lineno,
                f"control or invisible character U+{ord(ch):04X} at column {col}",
                "delete it (save the file as plain text)",
            )
            first_row = False
            continue
        try:
            cells = _split_row(line, delimiter)
        except csv.Error as exc:
            out.error(lineno, str(exc), 'close the quote: write a field as "text", and a quote inside it as ""')
            first_row = False
            continue
        if not any(cells):
            out.error(lineno, f"row has separators ({sep_name}) but no values", "delete the row or fill it in")
            continue
        if first_row:
            first_row = False
            names = _header_of(cells)
            if names is not None:
                header, header_line = names, lineno
                seen: set[str] = set()
                for name in names:
                    if not name:
                        out.error(
                            lineno, "empty column name in the header row", f"name every column: {', '.join(COLUMNS)}"
                        )
                    elif name not in COLUMNS:
                        close = difflib.get_close_matches(name, COLUMNS, 1, _SUGGEST_CUTOFF)
                        hint = f"did you mean {close[0]!r}?" if close else f"known columns: {', '.join(COLUMNS)}"
                        out.error(lineno, f"unknown column {name!r}", hint)
                    elif name in seen:
                        out.error(lineno, f"column {name!r} appears twice", "keep one of them")
                    seen.add(name)
                if "target" not in names:
                    out.error(lineno, "the header has no 'target' column", "add a column named target")
                continue
        if header is None:
            if len(cells) > 2:
                out.error(
                    lineno, f"{len(cells)} columns without a header row (at most 2: reading, target)", _FORMAT_HINT
                )
                continue
            values = {"target": cells[-1], "reading": cells[0] if len(cells) == 2 else ""}
        else:
            extra = cells[len(header) :]
            if any(extra):
                out.error(
                    lineno,
                    f"{len(cells)} values but the header (line {header_line}) names {len(header)} columns",
                    f"remove the extra {sep_name}s, or quote fields that contain one",
                )
                continue
            values = {name: value for name, value in zip(header, cells) if name in COLUMNS}
        entry = _make_entry(values, lineno, out)
        if entry is not None:
            entries.append(entry)
    if not entries and not out.errors:
        out.error(
            0,
            "no entries (the file is empty or has only comments/a header)",
            "add one term a line: `reading , target` or just `target`",
        )
    result = DictionaryResult([], out.warnings, out.errors)
    _merge_entries(entries, result)
    return result


def _line_no(source: str) -> int:
    tail = source.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _merge_entries(entries: Iterable[TermEntry], result: DictionaryResult) -> None:
    """Append entries to ``result``: conflicting readings → error, duplicates → warning."""
    index = {e.target: i for i, e in enumerate(result.entries)}
    for entry in entries:
        i = index.get(entry.target)
        if i is None:
            index[entry.target] = len(result.entries)
            result.entries.append(entry)
            continue
        first = result.entries[i]
        path, line = entry.source.rsplit(":", 1)[0], _line_no(entry.source)
        if first.reading and entry.reading and first.reading != entry.reading:
            result.errors.append(
                DictionaryError(
                    path,
                    line,
                    f"target {entry.target!r} has reading {entry.reading!r} here but "
                    f"{first.reading!r} at {first.source}",
                    "keep one row per target with the right reading",
                )
            )
            continue
        same = dataclasses.replace(entry, source=first.source) == first
        what = "exact duplicate of" if same else "duplicate target, already defined at"
        result.warnings.append(
            DictionaryError(
                path,
                line,
                f"{what} {first.source} ({entry.target!r}); this row is ignored",
                "delete the repeated row" if same else "merge the two rows into one",
            )
        )
        if not first.reading and entry.reading:  # keep the row's given reading
            result.entries[i] = dataclasses.replace(first, reading=entry.reading, reading_source="given")


# ----------------------------------------------------------------------------------------
# Files


def _check_one(path: str | Path, encoding: str) -> DictionaryResult:
    name = str(path)
    p = Path(path)
    try:
        if not p.exists():
            raise DictionaryError(name, 0, "file not found", "check the path")
        if p.is_dir():
            raise DictionaryError(name, 0, "is a directory, not a dictionary file", "pass a .csv or .tsv file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise DictionaryError(
                name, 0, f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", "split it into several dictionaries"
            )
        data = p.read_bytes()
    except OSError as exc:
        return DictionaryResult(
            errors=[
                DictionaryError(name, 0, f"cannot read the file ({exc.strerror})", "check the path and its permissions")
            ]
        )
    except DictionaryError as exc:
        return DictionaryResult(errors=[exc])
    return check_bytes(data, name, encoding)


def check_bytes(data: bytes, path: str = "<bytes>", encoding: str = "auto") -> DictionaryResult:
    """Check a dictionary given as bytes (see :func:`check_dictionary`)."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    if not body.strip():
        return DictionaryResult(
            errors=[DictionaryError(path, 0, "empty file", "add one term a line: `reading , target` or just `target`")]
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        return DictionaryResult(
            errors=[
                DictionaryError(
                    path,
                    _line_of(data, nul),
                    f"binary data (NUL byte at byte {nul}): not a text dictionary",
                    "pass a CSV/TSV text file (UTF-16 files must be saved as UTF-8)",
                )
            ]
        )
    try:
        text = decode_text(data, path, encoding)
    except DictionaryError as exc:
        return DictionaryResult(errors=[exc])
    return parse_dictionary_text(text, path)


def check_dictionary(path: str | Path, encoding: str = "auto") -> DictionaryResult:
    """Read one dictionary and collect every error and warning (never raises).

    Returns:
        A :class:`DictionaryResult`; ``result.errors`` lists every problem found.
    """
    return _check_one(path, encoding)


def check_dictionaries(paths: Iterable[str | Path], encoding: str = "auto") -> DictionaryResult:
    """Like :func:`check_dictionary` over several files; duplicates across files count too."""
    total = DictionaryResult()
    for path in paths:
        one = _check_one(path, encoding)
        total.errors.extend(one.errors)
        total.warnings.extend(one.warnings)
        _merge_entries(one.entries, total)
    return total


def _raise_first(result: DictionaryResult) -> None:
    if not result.errors:
        return
    first = result.errors[0]
    more = len(result.errors) - 1
    fix = first.fix
    if more:
        fix = f"{fix} ({more} more problem{'s' if more > 1 else ''}: run `termadapt validate {first.path}`)"
    raise DictionaryError(first.path, first.line, first.message, fix)


def load_dictionary(path: str | Path, encoding: str = "auto") -> DictionaryResult:
    """Read one dictionary.

    Raises:
        DictionaryError: the first fatal problem, naming file and line (and how many more).
    """
    result = check_dictionary(path, encoding)
    _raise_first(result)
    return result


def load_dictionaries(paths: Iterable[str | Path], encoding: str = "auto") -> DictionaryResult:
    """Read several dictionaries into one deduplicated list of entries.

    Raises:
        DictionaryError: the first fatal problem (including a target given conflicting
            readings in two files).
    """
    paths = list(paths)
    if not paths:
        raise DictionaryError("<recipe>", 0, "no dictionary given", "list dictionary files in [dictionary] paths")
    result = check_dictionaries(paths, encoding)
    _raise_first(result)
    return result
