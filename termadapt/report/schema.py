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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import TermadaptError
from ..records import SchemaError, atomic_write_text, describe_json, from_jsonable
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
    "SchemaError",
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
    decisions: list[str] = field(default_factory=list)  # how the delivered model was chosen, with the evidence

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


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild dataclass ``cls`` from :func:`to_dict` output, checking every field's type.

    Unknown keys are ignored (newer minor versions may add fields).

    Raises:
        SchemaError: naming the first field that is missing or of the wrong type.
    """
    return from_jsonable(cls, data)


def save_report(report: Report, path: str | Path) -> Path:
    """Write ``report`` as indented UTF-8 JSON, atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps(to_dict(report), ensure_ascii=False, indent=1) + "\n")
    return path


def load_report(path: str | Path) -> Report:
    """Read ``report.json``.

    Raises:
        TermadaptError: the file is missing, not JSON, from a newer schema version, or of the
            wrong shape (naming the field).
    """
    path = Path(path)
    if not path.is_file():
        raise TermadaptError(f"{path}: no report.json — run `termadapt evaluate RECIPE` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TermadaptError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}) — re-run `termadapt evaluate`") from None
    if not isinstance(data, dict):
        raise TermadaptError(f"{path}: holds {describe_json(data)}, not a report object — re-run `termadapt evaluate`")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise TermadaptError(
            f"{path}: report schema version {version!r} is not supported (this termadapt reads ≤ {SCHEMA_VERSION})"
            " — upgrade termadapt or re-run `termadapt evaluate`"
        )
    try:
        return from_dict(Report, data)
    except SchemaError as exc:
        raise TermadaptError(
            f"{path}: field {exc.where}: {exc.problem} — the file was edited or damaged; re-run `termadapt evaluate`"
        ) from None
