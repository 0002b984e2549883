"""Stage ``evaluate``: base vs prompted base vs adapted vs merged on held-out speech → report.json.

Reads ``run_dir/dataset`` (splits ``test_terms``, ``general``, ``import_*``),
``run_dir/terms.jsonl`` (terms and homophones), ``run_dir/utterances.jsonl`` (training
templates, for leakage), ``run_dir/model`` (adapted), ``run_dir/merged`` (merged, optional,
with ``merge_curve.json``). Decodes through :func:`termadapt.decoding.decode` (the run's
hypothesis cache: a re-run decodes nothing), scores with :mod:`termadapt.scoring` and
writes ``run_dir/eval/audio/*.wav`` (regressed clips) and ``run_dir/report/report.json``.
The ``report`` stage renders it (:func:`termadapt.report.render`).

The forgetting budget (``[evaluate]`` in the recipe) is checked on the delivered model
(merged when present, else adapted); the CLI exits with code 3 when it is broken.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .audio import SAMPLE_RATE, decode_cell, write_wav
from .compute import resolve_precision
from .config import Recipe, save_resolved
from .dataset import EVAL_SPLITS, open_dataset, split_rows, undecoded
from .decoding import Condition, HypothesisCache, build_term_prompt, decode, default_device, make_condition
from .errors import ConfigError, TermadaptError
from .models import resolve_model
from .records import (
    DATASET_DIR,
    EVAL_DIR,
    HYPOTHESES_DIR,
    MERGED_DIR,
    MODEL_DIR,
    REPORT_DIR,
    TERMS_FILE,
    UTTERANCES_FILE,
    VOICES_FILE,
    iter_jsonl,
)
from .report.schema import SCHEMA_VERSION, ConditionInfo, MergePoint, Report, save_report
from .scoring.budget import Budget, BudgetResult, delivered_condition
from .scoring.evaluation import outcome, score
from .scoring.records import EvalClip
from .scoring.terms import TermInfo
from .text.readings import apply_user_dictionary, reset_user_dictionary, run_user_dictionary
from .training.trainer import adapted_run_key
from .training.validation import decode_options

__all__ = ["evaluate", "load_eval_sets", "load_model", "build_conditions", "check_budget", "CONDITION_ORDER"]

CONDITION_ORDER = ("base", "prompt", "adapted", "merged")

ModelLoader = Callable[[str], tuple[Any, Any]]


def load_eval_sets(run_dir: str | Path, splits: Sequence[str] | None = None) -> dict[str, list[EvalClip]]:
    """Read the evaluation splits of a run's dataset as :class:`EvalClip` lists.

    Args:
        run_dir: The run directory (its ``dataset/``).
        splits: Split names; default: ``test_terms``, ``general`` and every ``import_*``.

    Raises:
        TermadaptError: no dataset, or none of the evaluation splits in it.
    """
    dd = open_dataset(run_dir, "evaluation")
    names = list(splits) if splits else [s for s in dd if s in EVAL_SPLITS or s.startswith("import_")]
    names = [s for s in names if s in dd and (len(dd[s]) or s != "test_context")]  # no context sentences: no set
    if not names:
        raise TermadaptError(
            f"{Path(run_dir) / 'dataset'}: no evaluation split (test_terms, general, import_*) — "
            "rebuild the dataset with `termadapt dataset RECIPE`"
        )
    out: dict[str, list[EvalClip]] = {}
    for name in names:
        split = undecoded(dd, name)
        rows = split_rows(
            split, ("text", "kind", "voice", "terms", "utterance_id", "homophone_of", "decides", "duration")
        )
        clips = []
        for i, (row, cell) in enumerate(zip(rows, split["audio"], strict=True)):
            audio = decode_cell(cell, f"dataset/{name}[{i}]")
            clips.append(
                EvalClip(
                    set=name,
                    index=i,
                    audio_key=row["key"],
                    audio=audio,
                    text=row.get("text") or "",
                    kind=row.get("kind") or "general",
                    voice=row.get("voice") or "",
                    terms=tuple(row["terms"]),
                    utterance_id=row.get("utterance_id") or "",
                    homophone_of=row["homophone_of"],
                    decides=row["decides"],
                    duration=float(row.get("duration") or len(audio) / SAMPLE_RATE),
                )
            )
        out[name] = clips
    return out


def load_model(spec: str) -> tuple[Any, Any]:
    """``(model, processor)`` of a spec (:func:`termadapt.models.resolve_model`), in eval mode."""
    model, processor = resolve_model(spec)
    model.eval()
    return model, processor


def _terms(run_dir: Path, sets: dict[str, list[EvalClip]]) -> list[TermInfo]:
    path = run_dir / TERMS_FILE
    if path.is_file():
        rows = list(iter_jsonl(path))
        rows.sort(key=lambda r: -float(r.get("weight", 1.0)))  # stable: heavier terms first in the prompt
        return [
            TermInfo(r["target"], tuple(r.get("homophones") or ()), tuple(r.get("sound_alikes") or ())) for r in rows
        ]
    seen = dict.fromkeys(t for clips in sets.values() for c in clips for t in c.terms)
    return [TermInfo(t) for t in seen]


def _templates(run_dir: Path) -> list[str]:
    path = run_dir / UTTERANCES_FILE
    if not path.is_file():
        return []
    rows = iter_jsonl(path)
    return list(
        dict.fromkeys(
            r["template"] for r in rows if r.get("kind") == "term" and r.get("split") == "train" and r.get("template")
        )
    )


def _backend(recipe: Recipe, device: str) -> Any:
    cfg = recipe.evaluate
    if cfg.backend == "faster-whisper":
        from .decoding.ct2 import FasterWhisperBackend

        return FasterWhisperBackend(cfg.ct2_compute_type, device=device)
    from .decoding.hf import TransformersBackend

    return TransformersBackend(cfg.precision)


def build_conditions(
    recipe: Recipe,
    run_dir: Path,
    terms: Sequence[TermInfo],
    loader: ModelLoader = load_model,
    device: str = "cpu",
) -> tuple[list[Condition], list[ConditionInfo]]:
    """Load the models of ``recipe.evaluate.conditions`` that exist in ``run_dir``, on ``device``.

    Returns:
        The conditions to decode and their report records (missing ones carry a note).
    """
    cfg = recipe.evaluate
    unknown = [c for c in cfg.conditions if c not in CONDITION_ORDER]
    if unknown:
        raise ConfigError(f"evaluate.conditions: unknown condition {unknown[0]!r} — use {', '.join(CONDITION_ORDER)}")
    base_opts = decode_options(recipe)
    wanted = [c for c in CONDITION_ORDER if c in cfg.conditions or c == "base"]
    conds: list[Condition] = []
    infos: list[ConditionInfo] = []
    base_model, base_proc = loader(recipe.model.base)
    base_model.to(device)
    for name in wanted:
        if name in ("base", "prompt"):
            model, proc, source = base_model, base_proc, recipe.model.base
        else:
            d = run_dir / (MODEL_DIR if name == "adapted" else MERGED_DIR)
            missing = _not_evaluated(recipe, run_dir, name, d)
            if missing:
                infos.append(ConditionInfo(name=name, model=str(d), note=f"not evaluated: {missing}"))
                continue
            model, proc = loader(str(d))
            model.to(device)
            source = str(d)
        opts, info = base_opts, {}
        if name == "prompt":
            ids, fitted = build_term_prompt(proc, [t.target for t in terms])
            opts = dataclasses.replace(base_opts, prompt_ids=tuple(ids))
            info = {
                "prompt_terms": len(fitted),
                "prompt_terms_total": len(terms),
                "prompt_tokens": max(len(ids) - 1, 0),
                "prompt_text": "、".join(fitted),
            }
        same = next((c for c in conds if c.model is model), None)  # prompt: the base model's fingerprints
        cond = (
            Condition(name, model, proc, opts, same.fingerprint, same.encoder_fingerprint, source, info)
            if same
            else make_condition(name, model, proc, opts, source, info)
        )
        shares = next((c.name for c in conds if c.encoder_fingerprint == cond.encoder_fingerprint), "")
        conds.append(cond)
        infos.append(
            ConditionInfo(
                name=name,
                model=source,
                fingerprint=cond.fingerprint,
                encoder_fingerprint=cond.encoder_fingerprint,
                shares_encoder_with=shares,
                **info,
            )
        )
    return conds, infos


def _not_evaluated(recipe: Recipe, run_dir: Path, name: str, model_dir: Path) -> str:
    """Why a trained condition's model is not evaluated ("" when it is): missing, disabled or stale."""
    if not (model_dir / "config.json").is_file():
        return f"no model in {model_dir}"
    if name != "merged":
        return ""
    if not recipe.merge.enabled:
        return "the recipe disables the merge stage (merge.enabled = false)"
    info = model_dir / "merge.json"
    if not info.is_file():  # written last by the merge stage: without it the folder is incomplete
        return f"{model_dir} is incomplete (no merge.json) — run `termadapt merge RECIPE`"
    merged_from = json.loads(info.read_text(encoding="utf-8")).get("adapted_run_key", "")
    if merged_from and merged_from != adapted_run_key(run_dir / MODEL_DIR):
        return f"{model_dir} was merged from an earlier training — run `termadapt merge RECIPE`"
    return ""


def check_budget(recipe: Recipe, sets: Sequence[Any], conditions: Sequence[str]) -> BudgetResult:
    """Apply the forgetting budget to the delivered condition (merged, else adapted)."""
    target = delivered_condition(conditions)
    if not target:
        return BudgetResult(ok=True, condition="", advice=["no adapted or merged model evaluated: nothing to check"])
    return Budget.from_config(recipe.evaluate).verdict(outcome(sets, target), target)


def _merge_curve(run_dir: Path) -> list[MergePoint]:
    path = run_dir / MERGED_DIR / "merge_curve.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TermadaptError(f"{path}:{exc.lineno}: not valid JSON — re-run `termadapt merge RECIPE`") from None
    chosen = data.get("chosen_alpha", data.get("alpha")) if isinstance(data, dict) else None
    points = data.get("points", data.get("curve", [])) if isinstance(data, dict) else data
    base = data.get("base") if isinstance(data, dict) else None
    if isinstance(base, dict) and not any(isinstance(p, dict) and p.get("alpha") == 0 for p in points or []):
        points = [{**base, "alpha": 0.0}, *(points or [])]  # α = 0 is the base model: where the curve starts
    out = []
    for p in points or []:
        if not isinstance(p, dict) or "alpha" not in p:
            continue
        values = {
            k: float(v)
            for k, v in p.items()
            if k != "alpha" and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        out.append(
            MergePoint(
                alpha=float(p["alpha"]),
                values=values,
                chosen=chosen is not None and abs(float(p["alpha"]) - float(chosen)) < 1e-9,
            )
        )
    return sorted(out, key=lambda m: m.alpha)


def _decisions(run_dir: Path) -> list[str]:
    """How the delivered model was chosen: the early-stopping checkpoint and the merge α, each
    with the validation evidence it was chosen on (``model/training_log.json``,
    ``merged/merge_curve.json``); [] for what the run did not decide."""
    out = []
    for path, what in (
        (run_dir / MODEL_DIR / "training_log.json", "log"),
        (run_dir / MERGED_DIR / "merge_curve.json", "curve"),
    ):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        if what == "curve" and data.get("reason"):
            out.append(
                f"Merge α = {float(data.get('chosen_alpha', 0)):g} on {data.get('validation_rows', '?')} validation clips: {data['reason']}."
            )
        elif what == "log" and data.get("best_step") is not None:
            e = next((e for e in data.get("validation_curve", []) if e.get("step") == data["best_step"]), None)
            evidence = ""
            if e and "term_recall" in e:
                ci = (
                    f" [{e['general_cer_low']:+.2f}, {e['general_cer_high']:+.2f}]"
                    if "general_cer_low" in e and "general_cer_high" in e
                    else ""
                )
                evidence = (
                    f": validation term recall {e['term_recall']:.1%}, general CER "
                    f"{e.get('general_cer_increase', 0.0):+.2f} pt{ci} on {int(e.get('general_clips', 0))} clips"
                )
            steps = [x.get("step") for x in data.get("validation_curve", []) if x.get("step")]
            at = ", ".join(str(x) for x in steps)
            out.append(f"Early stopping kept step {data['best_step']} (checkpoints evaluated at steps {at}){evidence}.")
    return out


def _voice_plan(run_dir: Path) -> dict[str, Any]:
    """The run's voice plan (``voices.json``: training, held-out and unavailable voices), or {}."""
    path = run_dir / VOICES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _import_notes(run_dir: Path) -> list[str]:
    """One note per imported speech set with skipped items or notices (``dataset/stats.json``).

    What an import left out, or followed outside its folder, changes what its numbers mean.
    """
    path = run_dir / DATASET_DIR / "stats.json"
    try:
        imports = json.loads(path.read_text(encoding="utf-8")).get("imports") or []
    except (OSError, ValueError, AttributeError):
        return []
    notes = []
    for imp in imports:
        if not isinstance(imp, dict):
            continue
        parts = [
            f"{v.get('count')} × {kind} (first: {v.get('first')})"
            for group in ("problems", "notices")
            for kind, v in sorted((imp.get(group) or {}).items())
            if isinstance(v, dict)
        ]
        if parts:
            notes.append(
                f"import {imp.get('name')} ({imp.get('clips')} clips from {imp.get('source')}): " + "; ".join(parts)
            )
    return notes


def _machine(device: str) -> dict[str, str]:
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "termadapt": __version__,
        "device": device,
        "threads": str(torch.get_num_threads()),
    }


def _save_regression_audio(report: Report, sets: dict[str, list[EvalClip]], run_dir: Path, limit: int) -> None:
    by_id = {c.clip_id: c for clips in sets.values() for c in clips}
    regressions = sorted((c for c in report.changes if c.change == "regression"), key=lambda c: c.base_cer - c.cer)
    per_condition: dict[str, int] = {}
    for ch in regressions:
        if per_condition.get(ch.condition, 0) >= limit:
            continue
        per_condition[ch.condition] = per_condition.get(ch.condition, 0) + 1
        clip = by_id[ch.clip_id]
        rel = Path(EVAL_DIR) / "audio" / f"{clip.audio_key[:20]}.wav"
        if not (run_dir / rel).is_file():
            write_wav(run_dir / rel, clip.audio)
        ch.audio = rel.as_posix()


def _read_with_run_dictionary(run_dir: Path) -> None:
    """Readings (the reading CER) with the run's user dictionary, as the TTS read the terms."""
    dic = run_user_dictionary(run_dir)
    if dic:
        apply_user_dictionary(dic)
    else:
        reset_user_dictionary()


def evaluate(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    loader: ModelLoader = load_model,
    progress: bool = True,
    device: str | None = None,
) -> Path:
    """Transcribe the evaluation sets with every condition, score them, write ``report.json``.

    Args:
        recipe: The recipe (``[model]``, ``[evaluate]``, ``[report]`` are read).
        run_dir: Run directory with ``dataset/`` (and ``model/``, ``merged/`` when trained).
        loader: ``spec -> (model, processor)``; :func:`load_model` by default.
        progress: Show a progress bar.
        device: Where the models decode (default: a GPU when there is one, else the CPU).

    Returns:
        ``run_dir/report/report.json``.
    """
    from tqdm import tqdm

    run_dir = Path(run_dir)
    cfg = recipe.evaluate
    device = device or default_device()
    backend = _backend(recipe, device)  # a bad compute type fails before any model is loaded
    sets = load_eval_sets(run_dir)
    terms = _terms(run_dir, sets)
    conds, infos = build_conditions(recipe, run_dir, terms, loader, device)
    clips = [c for cl in sets.values() for c in cl]
    groups = len({c.encoder_fingerprint for c in conds})
    with tqdm(total=len(clips) * groups, desc="evaluate", unit="clip", disable=not progress) as bar:
        decoded = decode(
            conds,
            clips,
            HypothesisCache(run_dir / HYPOTHESES_DIR),
            backend,
            batch_size=cfg.batch_size,
            progress=bar.update,
        )
    hyps = {
        c.name: {clip.clip_id: text for clip, text in zip(clips, decoded.texts[c.name], strict=True)} for c in conds
    }
    names = [c.name for c in conds]
    _read_with_run_dictionary(run_dir)
    scores = score(sets, hyps, names, terms, _templates(run_dir), cfg.bootstrap_samples, recipe.seed)
    timing = decoded.stats
    report = Report(
        schema_version=SCHEMA_VERSION,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        run_dir=str(run_dir),
        recipe=recipe.name,
        machine=_machine(device),
        conditions=infos,
        sets=scores.sets,
        terms=scores.terms,
        utterances=scores.utterances,
        changes=scores.changes,
        over_triggers=scores.over_triggers,
        leaks=scores.leaks,
        merge_curve=_merge_curve(run_dir),
        budget=check_budget(recipe, scores.sets, names),
        timing={k: float(v) for k, v in timing.items()},
        settings={
            **Budget.from_config(cfg).as_dict(),
            "bootstrap_samples": cfg.bootstrap_samples,
            "batch_size": cfg.batch_size,
            "max_new_tokens": cfg.max_new_tokens,
            "seed": recipe.seed,
            # the guard minimum the sentences stage made sentences up to (0: it made none)
            "min_homophone_sentences": recipe.sentences.min_homophone_sentences
            if recipe.sentences.include_homophones
            else 0,
            "backend": cfg.backend,
            "ct2_compute_type": cfg.ct2_compute_type,
            # what evaluate.precision resolved to here (transformers: a bf16/fp16 copy of the weights when not fp32)
            "precision": resolve_precision(cfg.precision, device, "evaluate.precision")
            if cfg.backend == "transformers"
            else cfg.ct2_compute_type,
        },
        notes=[i.note for i in infos if i.note] + _import_notes(run_dir),
        voice_plan=_voice_plan(run_dir),
        decisions=_decisions(run_dir),
    )
    if timing["decoded"] and timing["seconds"] > 0:
        report.timing["clips_per_second"] = timing["decoded"] / timing["seconds"]
    _save_regression_audio(report, sets, run_dir, recipe.report.max_regressions_listed)
    save_resolved(recipe, run_dir)
    return save_report(report, run_dir / REPORT_DIR / "report.json")
