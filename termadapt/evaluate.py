"""Evaluate stage: base vs prompted base vs adapted vs merged on held-out speech → report.

Reads ``run_dir/dataset`` (splits ``test_terms``, ``general``, ``import_*``),
``run_dir/terms.jsonl`` (terms and homophones), ``run_dir/utterances.jsonl`` (training
templates, for leakage), ``run_dir/model`` (adapted), ``run_dir/merged`` (merged, optional,
with ``merge_curve.json``). Writes ``run_dir/eval/hyps/<condition>.jsonl`` (hypothesis
cache), ``run_dir/eval/audio/*.wav`` (regressed clips), ``run_dir/report/report.json`` and
the rendered report files (:func:`termadapt.report.write_report`).

The forgetting budget (``[evaluate]`` in the recipe) is checked on the delivered model
(merged when present, else adapted); the CLI exits with code 3 when it is broken.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .config import EvaluateConfig, Recipe, save_resolved
from .errors import ConfigError, MissingDependencyError, TermadaptError
from .evaluate_decode import (
    SAMPLE_RATE,
    Condition,
    DecodeOptions,
    EvalClip,
    HypCache,
    build_term_prompt,
    decode_conditions,
    state_fingerprint,
)
from .evaluate_metrics import TermInfo, score
from .records import atomic_write_bytes, iter_jsonl
from .report.schema import (
    SCHEMA_VERSION,
    BudgetCheck,
    BudgetResult,
    ConditionInfo,
    MergePoint,
    Report,
    SetMetrics,
    save_report,
)

__all__ = ["evaluate", "load_eval_sets", "load_model", "build_conditions", "check_budget", "EVAL_SPLITS"]

# Dataset splits evaluated besides imported real sets (import_*); train/validation/general_train
# are never scored (their sentences or voices were seen in training).
EVAL_SPLITS = ("test_terms", "general")
CONDITION_ORDER = ("base", "prompt", "adapted", "merged")

ModelLoader = Callable[[str], tuple[Any, Any]]


def _decode_audio(value: Any) -> np.ndarray:
    """16 kHz float32 mono samples of a dataset ``audio`` cell (read with decode=False)."""
    import soundfile as sf

    if isinstance(value, dict) and value.get("array") is not None:
        wav, sr = np.asarray(value["array"], dtype=np.float32), int(value.get("sampling_rate") or SAMPLE_RATE)
    elif isinstance(value, dict) and value.get("bytes"):
        wav, sr = sf.read(io.BytesIO(value["bytes"]), dtype="float32", always_2d=False)
    elif isinstance(value, dict) and value.get("path") and os.path.isfile(value["path"]):
        wav, sr = sf.read(value["path"], dtype="float32", always_2d=False)
    else:
        raise TermadaptError(f"dataset audio cell has neither bytes nor a readable path: {str(value)[:80]}"
                             " — rebuild the dataset (termadapt dataset RECIPE)")
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if sr != SAMPLE_RATE:
        from scipy.signal import resample_poly

        wav = resample_poly(wav, SAMPLE_RATE, sr).astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)


def load_eval_sets(dataset_dir: str | Path, splits: Sequence[str] | None = None) -> dict[str, list[EvalClip]]:
    """Read the evaluation splits of a saved DatasetDict as :class:`EvalClip` lists.

    Args:
        dataset_dir: ``run_dir/dataset`` (``DatasetDict.save_to_disk``).
        splits: Split names; default: ``test_terms``, ``general`` and every ``import_*``.

    Raises:
        TermadaptError: no dataset, or none of the evaluation splits in it.
    """
    import datasets

    dataset_dir = Path(dataset_dir)
    if not dataset_dir.exists():
        raise TermadaptError(f"{dataset_dir}: no dataset — run `termadapt dataset RECIPE` (or build-and-train) first")
    dd = datasets.load_from_disk(str(dataset_dir))
    names = list(splits) if splits else [s for s in dd if s in EVAL_SPLITS or s.startswith("import_")]
    names = [s for s in names if s in dd]
    if not names:
        raise TermadaptError(f"{dataset_dir}: no evaluation split (test_terms, general, import_*) — rebuild the dataset")
    out: dict[str, list[EvalClip]] = {}
    for name in names:
        ds = dd[name].cast_column("audio", datasets.Audio(decode=False))
        clips = []
        for i, row in enumerate(ds):
            audio = _decode_audio(row["audio"])
            clips.append(EvalClip(
                set=name, index=i, audio_key=hashlib.sha256(audio.tobytes()).hexdigest(), audio=audio,
                text=row.get("text", ""), kind=row.get("kind") or "general", voice=row.get("voice") or "",
                terms=tuple(row.get("terms") or ()), utterance_id=row.get("utterance_id") or "",
                homophone_of=row.get("homophone_of") or "",
                decides=int(row["decides"]) if row.get("decides") is not None else -1,
                duration=float(row.get("duration") or len(audio) / SAMPLE_RATE)))
        out[name] = clips
    return out


def load_model(spec: str) -> tuple[Any, Any]:
    """``(model, processor)`` of a spec via :func:`termadapt.models.resolve_model`.

    Falls back to ``from_pretrained`` for a local Hugging Face directory when the models
    module offers no resolver.
    """
    try:
        from .models import resolve_model  # type: ignore[attr-defined]
    except ImportError:
        resolve_model = None
    if resolve_model is not None:
        model, processor = resolve_model(spec)
    elif (Path(spec) / "config.json").is_file():
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        model = WhisperForConditionalGeneration.from_pretrained(spec)
        processor = WhisperProcessor.from_pretrained(spec)
    else:
        raise MissingDependencyError(f"cannot load model '{spec}': termadapt.models.resolve_model is not available")
    model.eval()
    return model, processor


def _terms(run_dir: Path, sets: dict[str, list[EvalClip]]) -> list[TermInfo]:
    path = run_dir / "terms.jsonl"
    if path.is_file():
        rows = list(iter_jsonl(path))
        rows.sort(key=lambda r: -float(r.get("weight", 1.0)))  # stable: heavier terms first in the prompt
        return [TermInfo(r["target"], tuple(r.get("homophones") or ())) for r in rows]
    seen = dict.fromkeys(t for clips in sets.values() for c in clips for t in c.terms)
    return [TermInfo(t) for t in seen]


def _templates(run_dir: Path) -> list[str]:
    path = run_dir / "utterances.jsonl"
    if not path.is_file():
        return []
    rows = iter_jsonl(path)
    return list(dict.fromkeys(r["template"] for r in rows if r.get("kind") == "term" and r.get("split") == "train"
                              and r.get("template")))


def build_conditions(
    recipe: Recipe, run_dir: Path, terms: Sequence[TermInfo], loader: ModelLoader = load_model
) -> tuple[list[Condition], list[ConditionInfo]]:
    """Load the models of ``recipe.evaluate.conditions`` that exist in ``run_dir``.

    Returns:
        The conditions to decode and their report records (missing ones carry a note).
    """
    cfg = recipe.evaluate
    unknown = [c for c in cfg.conditions if c not in CONDITION_ORDER]
    if unknown:
        raise ConfigError(f"evaluate.conditions: unknown condition {unknown[0]!r} — use {', '.join(CONDITION_ORDER)}")
    if cfg.backend not in ("transformers", "faster-whisper"):
        raise ConfigError(f"evaluate.backend = {cfg.backend!r} — use 'transformers' or 'faster-whisper'")
    if cfg.backend == "faster-whisper":
        from .evaluate_fw import check_compute_type

        check_compute_type(cfg.ct2_compute_type)
    from .evaluate_fw import backend_tag

    base_opts = DecodeOptions(language=recipe.model.language, task=recipe.model.task, max_new_tokens=cfg.max_new_tokens,
                              backend=backend_tag(cfg.backend, cfg.ct2_compute_type))
    fingerprints: dict[int, tuple[str, str]] = {}

    def prints(model: Any) -> tuple[str, str]:
        if id(model) not in fingerprints:
            fingerprints[id(model)] = (state_fingerprint(model), state_fingerprint(model.get_encoder()))
        return fingerprints[id(model)]

    wanted = [c for c in CONDITION_ORDER if c in cfg.conditions or c == "base"]
    conds: list[Condition] = []
    infos: list[ConditionInfo] = []
    base_model, base_proc = loader(recipe.model.base)
    for name in wanted:
        if name in ("base", "prompt"):
            model, proc, source = base_model, base_proc, recipe.model.base
        else:
            d = run_dir / ("model" if name == "adapted" else "merged")
            if not (d / "config.json").is_file():
                infos.append(ConditionInfo(name=name, model=str(d), note=f"not evaluated: no model in {d}"))
                continue
            model, proc = loader(str(d))
            source = str(d)
        opts, info = base_opts, {}
        if name == "prompt":
            ids, fitted = build_term_prompt(proc, [t.target for t in terms])
            opts = DecodeOptions(**{**base_opts.__dict__, "prompt_ids": tuple(ids)})
            info = {"prompt_terms": len(fitted), "prompt_terms_total": len(terms), "prompt_tokens": max(len(ids) - 1, 0),
                    "prompt_text": "、".join(fitted)}
        fp, efp = prints(model)
        cond = Condition(name=name, model=model, processor=proc, options=opts, fingerprint=fp,
                         encoder_fingerprint=efp, source=source, info=info)
        shares = next((c.name for c in conds if c.encoder_fingerprint == efp), "")
        conds.append(cond)
        infos.append(ConditionInfo(name=name, model=source, fingerprint=fp, encoder_fingerprint=efp,
                                   shares_encoder_with=shares, **info))
    return conds, infos


_ADVICE = {
    "general_cer": "General CER rose: add more replay (raise train.replay_ratio, give sentences.general_sentences more "
                   "sentences), train fewer epochs, or lower the merge α (merge.alpha).",
    "term_recall": "Terms are still missed: add more templates (sentences.templates_per_term, more template files) or "
                   "more training voices (synth.train_voices), train longer (train.epochs), or raise the merge α.",
    "invented_terms": "The model writes terms into ordinary speech: add more replay (train.replay_ratio) or lower the "
                      "merge α (merge.alpha).",
    "homophone_swaps": "Homophones are turned into the term: keep sentences.include_homophones and "
                       "train.homophone_guard on, add more replay, or lower the merge α.",
}


def check_budget(cfg: EvaluateConfig, sets: Sequence[SetMetrics], conditions: Sequence[str]) -> BudgetResult:
    """Apply the forgetting budget to the delivered condition (merged, else adapted)."""
    target = next((c for c in ("merged", "adapted") if c in conditions), "")
    if not target:
        return BudgetResult(ok=True, condition="", advice=["no adapted or merged model evaluated: nothing to check"])
    checks: list[BudgetCheck] = []
    invented = swaps = 0
    for s in sets:
        m = s.get(target)
        if m is None:
            continue
        if s.role in ("general", "import") and m.cer_delta is not None:
            pts = m.cer_delta * 100
            ok = pts <= cfg.max_general_cer_increase
            checks.append(BudgetCheck(
                name="general_cer", condition=target, set=s.name, value=pts, limit=cfg.max_general_cer_increase, ok=ok,
                message=f"{s.name}: CER {'+' if pts >= 0 else ''}{pts:.2f} points vs base (limit +{cfg.max_general_cer_increase:g})",
                advice="" if ok else _ADVICE["general_cer"]))
            invented += m.invented_terms
            swaps += m.homophone_swaps
        if s.role == "terms" and m.budget_recall is not None:
            ok = m.budget_recall >= cfg.min_term_recall
            checks.append(BudgetCheck(
                name="term_recall", condition=target, set=s.name, value=m.budget_recall, limit=cfg.min_term_recall, ok=ok,
                message=f"{s.name}: term recall {m.budget_recall:.1%} without neutral homophone sentences "
                        f"(minimum {cfg.min_term_recall:.0%})",
                advice="" if ok else _ADVICE["term_recall"]))
    if any(s.role != "terms" for s in sets):
        for name, value, limit, what in (("invented_terms", invented, cfg.max_invented_terms, "general clips with an invented term"),
                                          ("homophone_swaps", swaps, cfg.max_homophone_swaps, "homophone sentences written with the term")):
            ok = value <= limit
            checks.append(BudgetCheck(name=name, condition=target, set="general", value=float(value), limit=float(limit), ok=ok,
                                      message=f"{what}: {value} (at most {limit})", advice="" if ok else _ADVICE[name]))
    advice = list(dict.fromkeys(c.advice for c in checks if not c.ok))
    return BudgetResult(ok=all(c.ok for c in checks), condition=target, checks=checks, advice=advice)


def _merge_curve(run_dir: Path) -> list[MergePoint]:
    path = run_dir / "merged" / "merge_curve.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TermadaptError(f"{path}:{exc.lineno}: not valid JSON — re-run `termadapt merge`") from None
    chosen = data.get("chosen_alpha", data.get("alpha")) if isinstance(data, dict) else None
    points = data.get("points", data.get("curve", [])) if isinstance(data, dict) else data
    out = []
    for p in points or []:
        if not isinstance(p, dict) or "alpha" not in p:
            continue
        values = {k: float(v) for k, v in p.items() if k != "alpha" and isinstance(v, (int, float)) and not isinstance(v, bool)}
        out.append(MergePoint(alpha=float(p["alpha"]), values=values,
                              chosen=chosen is not None and abs(float(p["alpha"]) - float(chosen)) < 1e-9))
    return sorted(out, key=lambda m: m.alpha)


def _machine() -> dict[str, str]:
    import torch
    import transformers

    return {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": str(os.cpu_count()),
            "torch": torch.__version__, "transformers": transformers.__version__, "termadapt": __version__,
            "device": "cpu", "threads": str(torch.get_num_threads())}


def _save_regression_audio(report: Report, sets: dict[str, list[EvalClip]], run_dir: Path, limit: int) -> None:
    import soundfile as sf

    by_id = {c.clip_id: c for clips in sets.values() for c in clips}
    regressions = sorted((c for c in report.changes if c.change == "regression"), key=lambda c: c.base_cer - c.cer)
    per_condition: dict[str, int] = {}
    for ch in regressions:
        if per_condition.get(ch.condition, 0) >= limit:
            continue
        per_condition[ch.condition] = per_condition.get(ch.condition, 0) + 1
        clip = by_id[ch.clip_id]
        rel = Path("eval") / "audio" / f"{clip.audio_key[:20]}.wav"
        if not (run_dir / rel).is_file():
            buf = io.BytesIO()
            sf.write(buf, clip.audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
            atomic_write_bytes(run_dir / rel, buf.getvalue())
        ch.audio = rel.as_posix()


def evaluate(recipe: Recipe, run_dir: str | Path, *, loader: ModelLoader = load_model, progress: bool = True) -> Path:
    """Transcribe the evaluation sets with every condition, score them, write the report.

    Args:
        recipe: The recipe (``[model]``, ``[evaluate]``, ``[report]`` are read).
        run_dir: Run directory with ``dataset/`` (and ``model/``, ``merged/`` when trained).
        loader: ``spec -> (model, processor)``; :func:`load_model` by default.
        progress: Show a progress bar.

    Returns:
        ``run_dir/report`` (with ``report.json`` and the rendered files).
    """
    from tqdm import tqdm

    from .report import write_report

    run_dir = Path(run_dir)
    cfg = recipe.evaluate
    sets = load_eval_sets(run_dir / "dataset")
    terms = _terms(run_dir, sets)
    conds, infos = build_conditions(recipe, run_dir, terms, loader)
    caches = {c.name: HypCache(run_dir / "eval" / "hyps" / f"{c.name}.jsonl") for c in conds}
    clips = [c for cl in sets.values() for c in cl]
    groups = len({c.encoder_fingerprint for c in conds})
    with tqdm(total=len(clips) * groups, desc="evaluate", unit="clip", disable=not progress) as bar:
        if cfg.backend == "faster-whisper":
            from .evaluate_fw import decode_conditions_fw

            timing = decode_conditions_fw(conds, clips, caches, batch_size=cfg.batch_size,
                                          compute_type=cfg.ct2_compute_type, progress=bar.update)
        else:
            timing = decode_conditions(conds, clips, caches, batch_size=cfg.batch_size, progress=bar.update)
    hyps = {c.name: {clip.clip_id: caches[c.name].get(c.cache_key(clip)) or "" for clip in clips} for c in conds}
    names = [c.name for c in conds]
    scores = score(sets, hyps, names, terms, _templates(run_dir), cfg.bootstrap_samples, recipe.seed)
    report = Report(
        schema_version=SCHEMA_VERSION, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        run_dir=str(run_dir), recipe=recipe.name, machine=_machine(), conditions=infos, sets=scores.sets,
        terms=scores.terms, utterances=scores.utterances, changes=scores.changes, over_triggers=scores.over_triggers,
        leaks=scores.leaks, merge_curve=_merge_curve(run_dir), budget=check_budget(cfg, scores.sets, names),
        timing={k: float(v) for k, v in timing.items()},
        settings={"max_general_cer_increase": cfg.max_general_cer_increase, "min_term_recall": cfg.min_term_recall,
                  "max_invented_terms": cfg.max_invented_terms, "max_homophone_swaps": cfg.max_homophone_swaps,
                  "bootstrap_samples": cfg.bootstrap_samples, "batch_size": cfg.batch_size,
                  "max_new_tokens": cfg.max_new_tokens, "seed": recipe.seed, "backend": cfg.backend,
                  "ct2_compute_type": cfg.ct2_compute_type},
        notes=[i.note for i in infos if i.note])
    if timing["decoded"] and timing["seconds"] > 0:
        report.timing["clips_per_second"] = timing["decoded"] / timing["seconds"]
    _save_regression_audio(report, sets, run_dir, recipe.report.max_regressions_listed)
    save_resolved(recipe, run_dir)
    out = run_dir / "report"
    save_report(report, out / "report.json")
    write_report(run_dir, formats=recipe.report.formats, embed_audio=recipe.report.embed_audio,
                 max_listed=recipe.report.max_regressions_listed)
    return out
