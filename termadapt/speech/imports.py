"""Imports of real recorded speech as extra evaluation or replay sets.

Accepted sources (detected from the path):

- a Kaldi-style folder: ``text`` (``utt_id transcript``) plus ``audio_paths`` (seed 002) or
  ``wav.scp`` (``utt_id path``), paths absolute or relative to the folder;
- a ``.csv`` / ``.tsv`` / ``.jsonl`` file with an audio path column (``path``, ``audio``,
  ``file``, ``audio_path``, ``audio_filepath``, ``wav``) and a text column (``text``,
  ``transcript``, ``transcription``, ``sentence``);
- a folder of audio files (wav, flac, ogg, mp3) each with a same-named ``.txt``;
- a ``datasets`` folder written by ``save_to_disk`` with an ``audio`` column and a text column.

Every usable item becomes a :class:`~termadapt.records.Clip` whose audio is converted to a
16 kHz mono 16-bit wav in the audio cache. Problems (missing or unreadable audio, empty text,
malformed lines) never stop the import: they are counted per kind and reported as one line
per kind with the first example (:class:`ImportReport`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, declared_wav_seconds, read_native, resample, too_short_for, wav_duration, write_wav
from ..errors import DictionaryError, TermadaptError
from ..records import Clip, sha256_text
from ..text.dictionary import decode_text

__all__ = ["ImportReport", "load_import", "import_name", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
PATH_COLUMNS = ("path", "audio", "file", "audio_path", "audio_filepath", "wav")
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence")
IMPORT_FORMAT_VERSION = "v1"  # bump when the conversion changes
HEADER_BYTES = 65536  # enough to reach a WAV's data chunk past LIST/metadata chunks
# A WAV holding less than this share of the samples its header declares is truncated (a
# copy cut short); the slack allows writers that round the declared size.
TRUNCATED_SHARE = 0.99


@dataclass
class ImportReport:
    """What an import produced and what it had to skip.

    Attributes:
        name: Import name (``import_<name>`` split).
        source: The path imported.
        format: Detected format (kaldi, csv, jsonl, folder, datasets).
        clips: Usable clips.
        problems: Problem kind → [count, first example] of skipped items.
        notices: Kind → [count, first example] of imported items worth a look.
    """

    name: str
    source: str
    format: str = ""
    clips: int = 0
    problems: dict[str, list] = field(default_factory=dict)
    notices: dict[str, list] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        """Count a skipped item of ``kind``."""
        entry = self.problems.setdefault(kind, [0, example])
        entry[0] += 1

    def notice(self, kind: str, example: str) -> None:
        """Count an imported item worth a look (not skipped), e.g. audio outside the import folder."""
        entry = self.notices.setdefault(kind, [0, example])
        entry[0] += 1

    def lines(self) -> list[str]:
        """One line per problem or notice kind: ``name: N × kind (first: example)``."""
        return [
            f"import {self.name} ({self.source}): {count} × {kind} (first: {example})"
            for kind, (count, example) in sorted({**self.problems, **self.notices}.items())
        ]

    def summary(self) -> str:
        skipped = sum(c for c, _ in self.problems.values())
        return f"import {self.name}: {self.clips} clips from {self.format} {self.source}, {skipped} skipped"


def import_name(path: str | Path) -> str:
    """A split-safe name for an import (``import_<name>``) from its path."""
    p = Path(path)
    stem = p.stem if p.is_file() else p.name
    return re.sub(r"[^0-9A-Za-z_]+", "_", stem).strip("_").lower() or "data"


def _detect(path: Path) -> str:
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".csv", ".tsv"):
            return "csv"
        if suffix in (".jsonl", ".json"):
            return "jsonl"
        raise TermadaptError(
            f"{path}: cannot import a '{suffix}' file — give a Kaldi folder, a .csv/.tsv/.jsonl "
            "of path + text, a folder of audio + .txt, or a datasets folder"
        )
    if not path.is_dir():
        raise TermadaptError(f"{path}: import not found — check dataset.eval_imports / dataset.replay_imports")
    if (path / "text").is_file() and ((path / "audio_paths").is_file() or (path / "wav.scp").is_file()):
        return "kaldi"
    if any((path / n).is_file() for n in ("dataset_dict.json", "dataset_info.json", "state.json")):
        return "datasets"
    if any(p.suffix.lower() in AUDIO_SUFFIXES for p in path.iterdir()):
        return "folder"
    raise TermadaptError(
        f"{path}: not an importable folder — expected Kaldi files (text + audio_paths or "
        "wav.scp), audio files with same-named .txt, or a datasets save_to_disk folder"
    )


def _text(path: Path) -> str:
    """A transcript file as text: UTF-8 (with or without BOM) or CP932, detected as for dictionaries."""
    return decode_text(path.read_bytes(), str(path))


def _kaldi_map(path: Path, report: ImportReport) -> dict[str, str]:
    out: dict[str, str] = {}
    for no, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2 and path.name != "text":
            report.add("malformed line", f"{path.name}:{no}: {line.strip()!r} (want: utt_id value)")
            continue
        key, value = parts[0], (parts[1] if len(parts) > 1 else "")
        if key in out:
            report.add("duplicate id", f"{path.name}:{no}: {key}")
            continue
        out[key] = value
    return out


def _items_kaldi(path: Path, report: ImportReport) -> Iterator[tuple[str, str, str | bytes]]:
    texts = _kaldi_map(path / "text", report)
    audio_file = path / "audio_paths" if (path / "audio_paths").is_file() else path / "wav.scp"
    audios = _kaldi_map(audio_file, report)
    for key in audios.keys() - texts.keys():
        report.add("audio without text", f"{audio_file.name}: {key}")
    for key, text in texts.items():
        if key not in audios:
            report.add("text without audio", f"text: {key}")
            continue
        where = audios[key].strip()
        if where.endswith("|"):
            report.add("unsupported wav.scp command", f"{key}: {where} (convert to files first)")
            continue
        audio = Path(where)
        yield key, text, str(audio if audio.is_absolute() else path / audio)


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[w] for w in wanted if w in lower), None)


def _items_table(path: Path, fmt: str, report: ImportReport) -> Iterator[tuple[str, str, str | bytes]]:
    rows: list[tuple[int, dict]] = []
    if fmt == "csv":
        reader = csv.DictReader(
            io.StringIO(_text(path), newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ","
        )
        rows = [(i + 2, r) for i, r in enumerate(reader)]
        columns = list(reader.fieldnames or [])
    else:
        columns_seen: set[str] = set()
        for no, line in enumerate(_text(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                report.add("malformed line", f"{path.name}:{no}: {exc}")
                continue
            columns_seen |= set(row)
            rows.append((no, row))
        columns = sorted(columns_seen)
    path_col, text_col = _pick(columns, PATH_COLUMNS), _pick(columns, TEXT_COLUMNS)
    if rows and (path_col is None or text_col is None):
        missing = (
            "an audio path column (" + "/".join(PATH_COLUMNS) + ")"
            if path_col is None
            else "a text column (" + "/".join(TEXT_COLUMNS) + ")"
        )
        raise TermadaptError(f"{path}: missing {missing} — found columns {', '.join(columns) or 'none'}")
    for no, row in rows:
        audio = str(row.get(path_col) or "").strip()
        if not audio:
            report.add("missing audio", f"{path.name}:{no}: empty {path_col}")
            continue
        p = Path(audio)
        yield f"{path.stem}-{no}", str(row.get(text_col) or ""), str(p if p.is_absolute() else path.parent / p)


def _items_folder(path: Path, report: ImportReport) -> Iterator[tuple[str, str, str | bytes]]:
    audio = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    stems = {p.stem for p in audio}
    for txt in sorted(path.glob("*.txt")):
        if txt.stem not in stems:
            report.add("text without audio", txt.name)
    for p in audio:
        txt = p.with_suffix(".txt")
        if not txt.is_file():
            report.add("audio without text", f"{p.name} (no {txt.name})")
            continue
        try:
            text = _text(txt)
        except DictionaryError as exc:  # one undecodable transcript skips its clip, not the import
            report.add("undecodable text", f"{exc.path}:{exc.line} ({exc.message})")
            continue
        yield p.stem, text, str(p)


def _items_datasets(path: Path, report: ImportReport) -> Iterator[tuple[str, str, str | bytes]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    parts = list(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
    for split, ds in parts:
        text_col = _pick(ds.column_names, TEXT_COLUMNS)
        if "audio" not in ds.column_names or text_col is None:
            raise TermadaptError(
                f"{path}: datasets folder needs an 'audio' column and a text column "
                f"({'/'.join(TEXT_COLUMNS)}) — found {', '.join(ds.column_names)}"
            )
        if isinstance(ds.features["audio"], datasets.Audio):
            ds = ds.cast_column("audio", datasets.Audio(decode=False))
        for i, row in enumerate(ds):
            value = row["audio"] or {}
            data = value.get("bytes") or value.get("path") or ""
            if not data:
                report.add("missing audio", f"{split or 'dataset'}[{i}]")
                continue
            yield f"{split}-{i}" if split else str(i), str(row[text_col] or ""), data


def _outside(audio: str, folder: Path) -> bool:
    """Whether an audio path resolves (``..``, symlinks) outside the import's folder."""
    return not Path(audio).resolve().is_relative_to(folder.resolve())


def _check_header(source: str | bytes, text: str, max_duration: float) -> tuple[str, str]:
    """Why an item is skipped before its audio is read whole, as (kind, detail); ("", "") when
    it is not. Too long, truncated and too short for its transcript are all known from the header."""
    import soundfile as sf

    if isinstance(source, bytes):
        info, head = sf.info(io.BytesIO(source)), source[:HEADER_BYTES]
    else:
        info = sf.info(source)
        with open(source, "rb") as fh:
            head = fh.read(HEADER_BYTES)
    if info.duration > max_duration:
        return "too long", f"{info.duration:.1f} s > dataset.max_duration {max_duration:g} s"
    declared = declared_wav_seconds(head)
    if declared is not None and info.duration < TRUNCATED_SHARE * declared:
        return "truncated audio", f"{info.duration:.2f} s of the {declared:.2f} s its header declares"
    short = too_short_for(info.duration, text)
    return ("too short for its text", short) if short else ("", "")


def _convert(source: str | bytes, root: Path) -> tuple[str, float]:
    """Convert audio to a cached 16 kHz mono wav; return (path, duration)."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    key = sha256_text("termadapt-import", IMPORT_FORMAT_VERSION, hashlib.sha256(raw).hexdigest())
    out = root / key[:2] / f"{key}.wav"
    if out.is_file():
        return str(out), wav_duration(out)
    wav, sr = read_native(io.BytesIO(raw))
    if wav.size == 0:
        raise ValueError("no samples")
    wav = np.clip(resample(wav, int(sr)), -1.0, 1.0)
    write_wav(out, wav)
    return str(out), len(wav) / SAMPLE_RATE


def load_import(
    path: str | Path, root: str | Path, name: str | None = None, held_out: bool = True, max_duration: float = 30.0
) -> tuple[list[Clip], ImportReport]:
    """Read one import source into clips (see the module docstring).

    Args:
        path: The source (Kaldi folder, CSV/TSV/JSONL file, audio folder, datasets folder).
        root: Audio cache folder where converted wavs are stored.
        name: Import name (default: from the path).
        held_out: True for evaluation imports, False for replay imports.
        max_duration: Longer audio is skipped from its header, before it is read.

    Returns:
        The usable clips (split ``import_<name>``, voice ``import:<name>``) and the report.

    Raises:
        TermadaptError: unknown format, missing columns, or no usable clip at all.
    """
    path, root = Path(path), Path(root)
    name = name or import_name(path)
    report = ImportReport(name=name, source=str(path))
    report.format = _detect(path)
    items = {
        "kaldi": lambda: _items_kaldi(path, report),
        "csv": lambda: _items_table(path, "csv", report),
        "jsonl": lambda: _items_table(path, "jsonl", report),
        "folder": lambda: _items_folder(path, report),
        "datasets": lambda: _items_datasets(path, report),
    }[report.format]()
    clips: list[Clip] = []
    for item_id, text, audio in items:
        text = " ".join(text.split())
        label = audio if isinstance(audio, str) else f"{item_id} (embedded)"
        if isinstance(audio, str) and not Path(audio).is_file():
            report.add("missing audio", f"{item_id}: {audio}")
            continue
        if not text:
            report.add("empty text", f"{item_id}: {label}")
            continue
        try:
            kind, why = _check_header(audio, text, max_duration)
        except Exception as exc:  # noqa: BLE001 - an unreadable header is counted like unreadable audio
            kind, why = "unreadable audio", f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if kind:
            report.add(kind, f"{item_id}: {label} ({why})")
            continue
        if isinstance(audio, str) and _outside(audio, path if path.is_dir() else path.parent):
            report.notice("audio outside the import folder (followed)", f"{item_id}: {audio}")
        try:
            wav_path, duration = _convert(audio, root)
        except Exception as exc:  # a bad file is counted, the import goes on
            report.add("unreadable audio", f"{item_id}: {label} ({type(exc).__name__}: {' '.join(str(exc).split())})")
            continue
        clips.append(
            Clip(
                utterance_id=f"import:{name}:{item_id}",
                text=text,
                kind="general",
                split=f"import_{name}",
                voice=f"import:{name}",
                held_out=held_out,
                audio_path=wav_path,
                duration=round(duration, 3),
            )
        )
    report.clips = len(clips)
    if not clips:
        detail = "; ".join(report.lines()) or "no items found"
        raise TermadaptError(f"{path}: import '{name}' produced no usable clip — {detail}")
    return clips, report
