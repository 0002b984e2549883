"""build-and-train: run every stage of a recipe in order, skipping what is already done.

Stages (each a plain function ``(recipe, run_dir) -> Path`` in its own module):

``terms`` → ``sentences`` → ``synth`` → ``dataset`` → ``train`` → ``merge`` → ``evaluate`` → ``report``

A stage is skipped when its marker ``run_dir/.stages/<stage>.json`` holds the same key as
now: a hash of the recipe sections the stage reads, the files it reads from outside the run
directory (each stage module's ``input_files``: dictionaries, templates, imports) and the
previous stage's key, so changing an early input re-runs everything after it. ``force``
re-runs the selected stages. Markers are written only after a stage succeeded; stages
themselves resume interrupted work (the audio cache, training checkpoints, cached
hypotheses). Only the CLI imports this module; no stage does.

Reads: a :class:`~termadapt.config.Recipe`. Writes: everything under ``run_dir``.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .config import Recipe, save_resolved
from .errors import TermadaptError
from .records import atomic_write_text, sha256_file, sha256_text

__all__ = [
    "STAGES",
    "STAGE_NAMES",
    "StageSpec",
    "run_pipeline",
    "run_stage",
    "stage_key",
    "stage_is_current",
    "select_stages",
    "summarize",
]


@dataclass(frozen=True)
class StageSpec:
    """One pipeline stage.

    Attributes:
        name: Stage name used by ``--from``/``--to`` and as the CLI command.
        target: ``module:function`` called as ``function(recipe, run_dir)``.
        sections: Recipe sections (and top-level keys) whose values the stage depends on.
        output: Path (relative to the run dir) that must exist for the stage to count as done.
        inputs: ``module:function`` returning the files outside the run directory it reads.
    """

    name: str
    target: str
    sections: tuple[str, ...]
    output: str
    inputs: str = ""


STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "terms",
        "termadapt.text.terms:build_terms",
        ("dictionary", "sentences", "seed"),
        "terms.jsonl",
        "termadapt.text.terms:input_files",
    ),
    StageSpec(
        "sentences",
        "termadapt.text.sentences:build_utterances",
        ("sentences", "seed"),
        "utterances.jsonl",
        "termadapt.text.sentences:input_files",
    ),
    StageSpec("synth", "termadapt.speech.synth:synthesize", ("synth", "seed"), "synth.jsonl"),
    StageSpec("dataset", "termadapt.dataset:build_dataset", ("dataset",), "dataset", "termadapt.dataset:input_files"),
    # evaluate: early stopping ranks checkpoints by its budget, decoded with its settings
    StageSpec("train", "termadapt.training:train", ("model", "train", "evaluate", "seed"), "model"),
    StageSpec("merge", "termadapt.merging:merge", ("merge", "evaluate"), "merged"),
    StageSpec("evaluate", "termadapt.evaluate:evaluate", ("evaluate", "model", "report"), "report/report.json"),
    StageSpec("report", "termadapt.report:render", ("report",), "report/report.html"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def _resolve(target: str) -> Callable[..., Any]:
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def _fingerprint(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():  # imported speech folders: names and sizes are enough to notice a change
        entries = sorted(f"{p.relative_to(path)}:{p.stat().st_size}" for p in path.rglob("*") if p.is_file())
        return sha256_text(*entries)
    return "missing"


def stage_key(recipe: Recipe, spec: StageSpec, previous_key: str) -> str:
    """Hash of everything the stage's result depends on."""
    parts = [spec.name, previous_key]
    for section in spec.sections:
        value = getattr(recipe, section)
        parts.append(json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value, sort_keys=True))
    for path in _resolve(spec.inputs)(recipe) if spec.inputs else []:
        parts.append(f"{path.name}:{_fingerprint(path)}")
    return sha256_text(*parts)


def select_stages(start: str | None, stop: str | None) -> list[StageSpec]:
    """Stages from ``start`` to ``stop`` inclusive (names validated with a clear error)."""
    for name in (start, stop):
        if name is not None and name not in STAGE_NAMES:
            raise TermadaptError(f"unknown stage '{name}' — choose one of: {', '.join(STAGE_NAMES)}")
    i = STAGE_NAMES.index(start) if start else 0
    j = STAGE_NAMES.index(stop) if stop else len(STAGES) - 1
    if i > j:
        raise TermadaptError(f"--from {start} comes after --to {stop} — swap them")
    return list(STAGES[i : j + 1])


def _marker(run_dir: Path, name: str) -> Path:
    return run_dir / ".stages" / f"{name}.json"


def _is_done(run_dir: Path, spec: StageSpec, key: str) -> bool:
    marker = _marker(run_dir, spec.name)
    if not marker.is_file() or not (run_dir / spec.output).exists():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("key") == key
    except (OSError, json.JSONDecodeError):
        return False


def _chained_keys(recipe: Recipe) -> list[tuple[StageSpec, str]]:
    """Every stage with its key; each key includes the previous stage's, so a change flows on."""
    keyed, key = [], ""
    for spec in STAGES:
        key = stage_key(recipe, spec, key)
        keyed.append((spec, key))
    return keyed


def stage_is_current(recipe: Recipe, run_dir: Path, name: str) -> bool:
    """Whether stage ``name`` finished in ``run_dir`` with the recipe and files as they are now."""
    select_stages(name, name)  # a clear error for an unknown name
    return next(_is_done(run_dir, spec, key) for spec, key in _chained_keys(recipe) if spec.name == name)


def _record(run_dir: Path, spec: StageSpec, key: str, seconds: float) -> None:
    """Mark a stage finished with ``key`` (written only after it succeeded)."""
    atomic_write_text(
        _marker(run_dir, spec.name),
        json.dumps({"key": key, "seconds": round(seconds, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}),
    )


def run_stage(recipe: Recipe, run_dir: Path, name: str, call: Callable[[], Any] | None = None) -> Any:
    """Run one stage as its CLI command does, and mark it finished for later stages and build-and-train.

    Args:
        recipe: The recipe.
        run_dir: The run directory.
        name: The stage.
        call: Runs the stage (the CLI passes its own options); default ``target(recipe, run_dir)``.

    Returns:
        What the stage returned.
    """
    spec, key = next((s, k) for s, k in _chained_keys(recipe) if s.name == select_stages(name, name)[0].name)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = call() if call is not None else _resolve(spec.target)(recipe, run_dir)
    _record(run_dir, spec, key, time.perf_counter() - started)
    return result


def _stage_enabled(recipe: Recipe, spec: StageSpec) -> bool:
    if spec.name == "merge":
        return recipe.merge.enabled
    return True


def run_pipeline(
    recipe: Recipe,
    run_dir: Path,
    start: str | None = None,
    stop: str | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the selected stages; skip those whose key is unchanged.

    Returns:
        ``{"stages": [{"name", "status", "seconds"}...], "run_dir": str}`` where status is
        ``ran``, ``skipped`` (up to date) or ``disabled``.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved(recipe, run_dir)
    selected = {s.name for s in select_stages(start, stop)}
    if "synth" in selected:  # a misspelt voice fails now, not after the terms and sentences stages
        from .speech.synth import check_voices

        check_voices(recipe, run_dir)
    results: list[dict[str, Any]] = []
    for spec, key in _chained_keys(recipe):
        if spec.name not in selected:
            continue
        if not _stage_enabled(recipe, spec):
            log(f"[{spec.name}] disabled in the recipe")
            results.append({"name": spec.name, "status": "disabled", "seconds": 0.0})
            continue
        if not force and _is_done(run_dir, spec, key):
            log(f"[{spec.name}] up to date, skipped")
            results.append({"name": spec.name, "status": "skipped", "seconds": 0.0})
            continue
        log(f"[{spec.name}] running")
        started = time.perf_counter()
        _resolve(spec.target)(recipe, run_dir)
        seconds = time.perf_counter() - started
        _record(run_dir, spec, key, seconds)
        log(f"[{spec.name}] done in {seconds:.1f} s")
        results.append({"name": spec.name, "status": "ran", "seconds": seconds})
    return {"stages": results, "run_dir": str(run_dir)}


def summarize(run_dir: Path) -> tuple[list[str], bool | None]:
    """End-of-run summary lines from ``report/report.json``, and whether the budget held.

    Returns:
        (lines, budget_ok) — budget_ok is None when there is no report yet.
    """
    from .report.schema import load_report
    from .report.summary import console_lines

    if not (run_dir / "report" / "report.json").is_file():
        return [f"run directory: {run_dir}"], None
    report = load_report(run_dir / "report" / "report.json")
    return console_lines(report, run_dir), report.budget.ok
