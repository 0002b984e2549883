"""Typed records handed between pipeline stages, their JSONL manifests, and the run layout.

Each stage reads the previous stage's manifest from the run directory and writes its own:
``terms.jsonl`` (:class:`TermEntry`) → ``utterances.jsonl`` (:class:`Utterance`) →
``synth.jsonl`` (:class:`Clip`) → ``dataset/`` → ``model/`` → ``merged/`` →
``report/report.json`` → ``report/*.{md,html,csv}``. The names of every file and folder of
a run directory are defined here once (docs/design.md, "The run directory").
Manifests are written atomically (temporary file, then rename), so an interrupted stage
never leaves a half-written manifest behind.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import TermadaptError

__all__ = [
    "SchemaError",
    "describe_json",
    "from_jsonable",
    "current_umask",
    "shareable",
    "TERMS_FILE",
    "USER_DICT_DIR",
    "UTTERANCES_FILE",
    "VOICES_FILE",
    "SYNTH_FILE",
    "DATASET_DIR",
    "ENCODER_CACHE_DIR",
    "CHECKPOINTS_DIR",
    "MODEL_DIR",
    "MERGED_DIR",
    "HYPOTHESES_DIR",
    "EVAL_DIR",
    "REPORT_DIR",
    "RESOLVED_RECIPE",
    "TermEntry",
    "Utterance",
    "Clip",
    "write_jsonl",
    "read_jsonl",
    "iter_jsonl",
    "atomic_write_text",
    "atomic_write_bytes",
    "sha256_file",
    "sha256_text",
]

T = TypeVar("T")

# The run directory, one name per output (docs/design.md, "The run directory").
TERMS_FILE = "terms.jsonl"  # terms stage: TermEntry rows
USER_DICT_DIR = "userdict"  # terms stage: OpenJTalk user dictionary (user.csv, user.dic)
UTTERANCES_FILE = "utterances.jsonl"  # sentences stage: Utterance rows
VOICES_FILE = "voices.json"  # synth stage: the voice plan
SYNTH_FILE = "synth.jsonl"  # synth stage: Clip rows
DATASET_DIR = "dataset"  # dataset stage: datasets.DatasetDict
ENCODER_CACHE_DIR = "encoder_cache"  # train stage: stored frozen-encoder outputs
CHECKPOINTS_DIR = "checkpoints"  # train stage: resumable Trainer checkpoints
MODEL_DIR = "model"  # train stage: the adapted model
MERGED_DIR = "merged"  # merge stage: the merged model (+ merge_curve.json)
HYPOTHESES_DIR = "hypotheses"  # every decode: cached transcripts, one file per model
EVAL_DIR = "eval"  # evaluate stage: audio of regressed clips
REPORT_DIR = "report"  # evaluate stage: report.json; report stage: md, html, csv
# The stage that writes each manifest: where a damaged one is made again from.
_STAGE_OF = {TERMS_FILE: "terms", UTTERANCES_FILE: "sentences", SYNTH_FILE: "synth"}
RESOLVED_RECIPE = "config.resolved.toml"  # every stage: the recipe it ran with


@dataclass(frozen=True)
class TermEntry:
    """One dictionary entry.

    Attributes:
        target: Text the recognizer must output (``ailia SDK``, ``痙攣``).
        reading: Text the TTS speaks, normally katakana (``アイリアエスディーケー``).
        reading_source: ``"given"`` when the dictionary had it, ``"auto"`` when derived.
        category: Free label from the dictionary (``症状``), may be empty.
        context: Example sentences from the dictionary, each containing ``target``.
        weight: Relative sampling weight (1.0 = normal).
        source: ``file:line`` the entry came from, for error messages and review.
        homophones: General words that share the reading (filled by ``readings``).
        sound_alikes: Everyday words one kana away from the reading (千個 for 仙骨), guarded
            and scored like homophones (``text.homophones.find_sound_alikes``).
    """

    target: str
    reading: str
    reading_source: str = "given"
    category: str = ""
    context: tuple[str, ...] = ()
    weight: float = 1.0
    source: str = ""
    homophones: tuple[str, ...] = ()
    sound_alikes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Utterance:
    """One sentence to be spoken, in its label form and its TTS form.

    Attributes:
        id: Stable id (a hash of kind, text and tts_text), unique within a run.
        text: Label text the model must output (term targets substituted).
        tts_text: Text given to the TTS (term readings substituted).
        kind: ``term`` (template + term), ``term_alone``, ``term_context`` (dictionary
            example), ``homophone`` (a term's homophone in its general sense) or
            ``general`` (everyday sentence with no term).
        split: ``train``, ``validation`` or ``test``. For general sentences ``train`` is the
            replay pool and ``test`` the regression pool; they never share a sentence.
        terms: Targets of the terms this sentence contains.
        template: Template text (with ``{term}``) for ``term`` utterances, else empty.
        homophone_of: For ``homophone`` utterances, the term whose homophone is used.
        decides: For sentences with a homophone term: whether the context decides the
            spelling (``True``), allows either word (``False``) or is unknown (``None``).
    """

    id: str
    text: str
    tts_text: str
    kind: str
    split: str
    terms: tuple[str, ...] = ()
    template: str = ""
    homophone_of: str = ""
    decides: bool | None = None


@dataclass(frozen=True)
class Clip:
    """One synthesized (or imported) audio clip of an utterance.

    Attributes:
        utterance_id: The :class:`Utterance` this clip speaks ("" for imported audio).
        text: Label text.
        kind: Copied from the utterance (``term``, ``general``…).
        split: Copied from the utterance.
        voice: Voice id ``engine:voice[:variant]`` (``openjtalk:mei_normal:s1.1``).
        held_out: True when the voice is never used for training.
        audio_path: Path of the 16 kHz mono wav, relative to the cache or absolute.
        duration: Seconds.
        terms: Copied from the utterance.
        augment: Name of the augmentation applied, "" for none.
        homophone_of: Copied from the utterance.
        decides: Copied from the utterance.
    """

    utterance_id: str
    text: str
    kind: str
    split: str
    voice: str
    held_out: bool
    audio_path: str
    duration: float
    terms: tuple[str, ...] = ()
    augment: str = ""
    homophone_of: str = ""
    decides: bool | None = None


def _to_jsonable(record: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(record):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if isinstance(record, dict):
        return record
    raise TypeError(f"cannot write {type(record).__name__} to a manifest")


class SchemaError(ValueError):
    """A JSON value of the wrong shape for its record: ``where`` (``sets[2].conditions[0].cer``) and why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where or 'the top level'}: {problem}")
        self.where, self.problem = where, problem


def describe_json(value: Any) -> str:
    """A parsed JSON value named for an error message: ``a list``, ``int 3``, ``null``."""
    if value is None:
        return "null"
    named = {dict: "an object", list: "a list", str: "a string"}.get(type(value))
    return named or f"{type(value).__name__} {value!r}"[:60]


@functools.cache
def _hints(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) of each field of dataclass ``cls``; computed once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    )


def _checked(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as type ``tp``, checked; raises :class:`SchemaError` naming ``where``."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        return _checked(args[0], value, where) if len(args) == 1 else value
    if dataclasses.is_dataclass(tp):
        return from_jsonable(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise SchemaError(where, f"expected a list, found {describe_json(value)}")
        arg = (typing.get_args(tp) or (Any,))[0]
        items = [_checked(arg, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(where, f"expected an object, found {describe_json(value)}")
        arg = (typing.get_args(tp) or (str, Any))[1]
        return {k: _checked(arg, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(where, f"expected a number, found {describe_json(value)}")
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SchemaError(where, f"expected an integer, found {describe_json(value)}")
    if tp in (str, bool) and not isinstance(value, tp):
        raise SchemaError(
            where, f"expected {'a string' if tp is str else 'true or false'}, found {describe_json(value)}"
        )
    return value


def from_jsonable(cls: type[T], data: Any, where: str = "") -> T:
    """Rebuild dataclass ``cls`` from parsed JSON, checking each field's type (recursively).

    The one JSON → record reader: manifests and ``report.json`` both use it. Unknown keys are
    ignored (newer files may add fields); lists become tuples where the field is a tuple.

    Raises:
        SchemaError: naming the first field (``where`` + path) missing or of the wrong type.
    """
    if not isinstance(data, dict):
        raise SchemaError(where, f"expected an object ({cls.__name__}), found {describe_json(data)}")
    kwargs = {}
    for name, tp, required in _hints(cls):
        path = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _checked(tp, data[name], path)
        elif required:
            raise SchemaError(path, "missing")
    return cls(**kwargs)


def current_umask() -> int:
    """The process umask (read by setting it and back: the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shareable(path: str | os.PathLike[str]) -> None:
    """Give a file or folder made by ``tempfile`` (0600 / 0700) the mode a plain ``open`` or
    ``mkdir`` would: 0666 / 0777 less the umask, so a shared cache is readable by others."""
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~current_umask())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (mode as ``open`` gives)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        shareable(tmp)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Write records (dataclasses or dicts) as one JSON object a line, atomically.

    Returns:
        The number of records written.
    """
    lines = [json.dumps(_to_jsonable(r), ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: str | os.PathLike[str], cls: type[T] | None = None) -> list[Any]:
    """Read a JSONL manifest; with ``cls``, rows become that dataclass."""
    return list(iter_jsonl(path, cls))


def iter_jsonl(path: str | os.PathLike[str], cls: type[T] | None = None) -> Iterator[Any]:
    """Iterate over a JSONL manifest lazily (see :func:`read_jsonl`)."""
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield from_jsonable(cls, row) if cls is not None else row
            except (json.JSONDecodeError, SchemaError) as exc:
                problem = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise TermadaptError(
                    f"{path}:{no}: {problem} — the file was damaged or edited; re-run the stage that writes it "
                    f"(build-and-train RECIPE --from {_STAGE_OF.get(Path(path).name, 'terms')} --force)"
                ) from None


def sha256_text(*parts: str) -> str:
    """Hex SHA-256 of the parts joined with a separator that cannot occur in text."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
