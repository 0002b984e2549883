"""The report as typed, versioned records (``report/report.json``).

:class:`Report` holds everything the renderers need: the compared conditions, metrics per
evaluation set and condition, the per-term table, per-utterance hypotheses, regressions,
over-triggering, template leakage, the merge curve and the budget verdict. It is written by
:func:`termadapt.evaluate.evaluate` and read back by :func:`load_report`, so
``termadapt report RUN_DIR`` re-renders the Markdown/HTML/CSV without a model.

Versioning: ``schema_version`` is bumped whenever a field changes meaning or disappears;
readers refuse a newer major version with a clear message and ignore unknown fields.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..errors import TermadaptError
from ..records import atomic_write_text
from ..scoring.budget import BudgetCheck, BudgetResult
from ..scoring.records import ClipChange, ConditionMetrics, Leak, OverTrigger, SetMetrics, TermRow, UtteranceRow

__all__ = [
    "SCHEMA_VERSION",
    "ConditionInfo",
    "ConditionMetrics",
    "SetMetrics",
    "TermRow",
    "UtteranceRow",
    "ClipChange",
    "OverTrigger",
    "Leak",
    "MergePoint",
    "BudgetCheck",
    "BudgetResult",
    "Report",
    "save_report",
    "load_report",
    "to_dict",
    "from_dict",
]

SCHEMA_VERSION = 1


@dataclass
class ConditionInfo:
    """One compared model condition.

    Attributes:
        name: ``base``, ``prompt``, ``adapted`` or ``merged``.
        model: Model spec or directory it was loaded from.
        fingerprint: SHA-256 of the model's weights (first 16 hex digits).
        encoder_fingerprint: SHA-256 of the encoder's weights (shared encoders match).
        shares_encoder_with: Earlier condition whose encoder outputs were reused ("" if none).
        prompt_terms: Terms that fit in the prompt (prompt condition only).
        prompt_terms_total: Terms in the dictionary.
        prompt_tokens: Prompt length in tokens.
        prompt_text: The prompt given to the decoder.
        note: Free remark (why a condition is missing, etc.).
    """

    name: str
    model: str
    fingerprint: str = ""
    encoder_fingerprint: str = ""
    shares_encoder_with: str = ""
    prompt_terms: int = 0
    prompt_terms_total: int = 0
    prompt_tokens: int = 0
    prompt_text: str = ""
    note: str = ""


@dataclass
class MergePoint:
    """One point of the merge sweep (``merged/merge_curve.json``)."""

    alpha: float
    values: dict[str, float] = field(default_factory=dict)
    chosen: bool = False


@dataclass
class Report:
    """Everything the evaluation found; the single source for every rendered file."""

    schema_version: int
    created: str
    run_dir: str
    recipe: str
    machine: dict[str, str] = field(default_factory=dict)
    conditions: list[ConditionInfo] = field(default_factory=list)
    sets: list[SetMetrics] = field(default_factory=list)
    terms: list[TermRow] = field(default_factory=list)
    utterances: list[UtteranceRow] = field(default_factory=list)
    changes: list[ClipChange] = field(default_factory=list)
    over_triggers: list[OverTrigger] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    merge_curve: list[MergePoint] = field(default_factory=list)
    budget: BudgetResult = field(default_factory=lambda: BudgetResult(ok=True))
    timing: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    voice_plan: dict[str, Any] = field(default_factory=dict)  # voices.json: who trained, who was held out

    def condition_names(self) -> list[str]:
        """Condition names in report order."""
        return [c.name for c in self.conditions]

    def set_named(self, name: str) -> Optional[SetMetrics]:
        """The set called ``name``, or None."""
        return next((s for s in self.sets if s.name == name), None)


def to_dict(obj: Any) -> Any:
    """Dataclasses → plain JSON-able dicts (recursively)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(args[0], value) if len(args) == 1 else value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_build(arg, v) for v in value]
    if origin is dict:
        _, arg = typing.get_args(tp) or (str, Any)
        return {k: _build(arg, v) for k, v in value.items()}
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild dataclass ``cls`` from :func:`to_dict` output; unknown keys are ignored."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _build(hints[f.name], data[f.name])
    return cls(**kwargs)


def save_report(report: Report, path: str | Path) -> Path:
    """Write ``report`` as indented UTF-8 JSON, atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps(to_dict(report), ensure_ascii=False, indent=1) + "\n")
    return path


def load_report(path: str | Path) -> Report:
    """Read ``report.json``.

    Raises:
        TermadaptError: the file is missing, not JSON, or from a newer schema version.
    """
    path = Path(path)
    if not path.is_file():
        raise TermadaptError(f"{path}: no report.json — run `termadapt evaluate RECIPE` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TermadaptError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}) — re-run `termadapt evaluate`") from None
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise TermadaptError(
            f"{path}: report schema version {version!r} is not supported (this termadapt reads ≤ {SCHEMA_VERSION})"
            " — upgrade termadapt or re-run `termadapt evaluate`"
        )
    return from_dict(Report, data)
