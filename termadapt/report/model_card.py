"""Model cards: ``README.md`` in ``model/`` and ``merged/`` with what the model is and how it did.

A user who shares an adapted model (or pushes it to a hub) needs the card a hub shows: the
base model, the glossary, the recipe, how the training speech was made and which voices
were held out, and the held-out results with their intervals. The YAML front matter is the
Hugging Face hub's model-card metadata with a ``model-index`` (written with
``huggingface_hub.ModelCardData``, so the hub and ``ModelCard.load`` read it back).

Reads: the :class:`~termadapt.report.schema.Report`, ``dataset/stats.json`` and
``terms.jsonl`` of the run. Writes: ``<model dir>/README.md`` for each evaluated adapted or
merged condition whose folder is in the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..records import DATASET_DIR, MERGED_DIR, MODEL_DIR, RESOLVED_RECIPE, TERMS_FILE, atomic_write_text, iter_jsonl
from ..scoring.table import pct, pts
from .schema import Report
from .summary import budget_counts

__all__ = ["CARD_FILE", "model_card", "write_model_cards"]

CARD_FILE = "README.md"
# Model folders of a run, by the condition evaluated from them.
CONDITION_DIRS = {"adapted": MODEL_DIR, "merged": MERGED_DIR}
# Terms named in the card's text (all of them are in the run's terms.jsonl).
TERMS_LISTED = 30
# OpenAI's Whisper checkpoints on the Hugging Face hub are Apache-2.0.
WHISPER_LICENSE = "apache-2.0"
DATASET_TYPE = "termadapt-synthetic"  # the held-out sets are made by the run, not a public dataset


def _hub_id(spec: str) -> str:
    """The hub id of a base-model spec ("" for a local path)."""
    from ..models import SHORT_NAMES

    if spec in SHORT_NAMES:
        return SHORT_NAMES[spec]
    looks_local = spec.startswith((".", "/", "~")) or spec.count("/") != 1 or Path(spec).exists()
    return "" if looks_local else spec


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _terms(run_dir: Path) -> list[str]:
    path = run_dir / TERMS_FILE
    return [str(row.get("target", "")) for row in iter_jsonl(path)] if path.is_file() else []


def _eval_results(report: Report, condition: str, heldout: list[str]) -> list[Any]:
    from huggingface_hub import EvalResult

    voices = ", ".join(heldout) or "held-out voices"
    out = []
    for s in report.sets:
        m = s.get(condition)
        if m is None:
            continue
        name = f"{s.name} ({s.clips} clips, {voices})"
        common = dict(
            task_type="automatic-speech-recognition",
            task_name="Speech recognition",
            dataset_type=DATASET_TYPE,
            dataset_name=name,
            dataset_split=s.name,
        )
        if s.role == "terms" and m.budget_recall is not None:
            out.append(
                EvalResult(
                    **common,
                    metric_type="recall",
                    metric_name="Term recall (without neutral homophone sentences)",
                    metric_value=round(100 * m.budget_recall, 2),
                )
            )
        elif s.role != "terms":
            out.append(EvalResult(**common, metric_type="cer", metric_name="CER", metric_value=round(100 * m.cer, 2)))
            if m.cer_delta is not None:
                low, high = m.cer_delta_ci or (None, None)
                args = {"ci95_low": round(100 * low, 2), "ci95_high": round(100 * high, 2)} if low is not None else None
                out.append(
                    EvalResult(
                        **common,
                        metric_type="cer_increase",
                        metric_name="CER change vs the base model (points)",
                        metric_value=round(100 * m.cer_delta, 2),
                        metric_args=args,
                    )
                )
    return out


def _results_rows(report: Report, condition: str) -> list[str]:
    rows = ["| set | clips | metric | base | this model |", "|---|---|---|---|---|"]
    for s in report.sets:
        b, m = s.get("base"), s.get(condition)
        if b is None or m is None:
            continue
        if s.role == "terms":
            hits, total = budget_counts(m)
            rows.append(
                f"| {s.name} | {s.clips} | term recall | {pct(b.budget_recall)} | {pct(m.budget_recall)} "
                f"({hits}/{total}) |"
            )
        else:
            ci = f" (95% CI {pts(m.cer_delta_ci[0])} to {pts(m.cer_delta_ci[1])})" if m.cer_delta_ci else ""
            rows.append(f"| {s.name} | {s.clips} | CER | {pct(b.cer)} | {pct(m.cer)}: {pts(m.cer_delta)} points{ci} |")
            rows.append(
                f"| {s.name} | {s.clips} | invented terms / homophone swaps | — | "
                f"{m.invented_terms} / {m.homophone_swaps} of {m.homophone_clips} |"
            )
    return rows


def model_card(report: Report, run_dir: str | Path, condition: str) -> str:
    """The model card (front matter + Markdown) of ``condition`` (``adapted`` or ``merged``)."""
    from huggingface_hub import ModelCardData

    run_dir = Path(run_dir)
    base = next((c for c in report.conditions if c.name == "base"), None)
    base_spec = base.model if base is not None else ""
    hub = _hub_id(base_spec)
    terms = _terms(run_dir) or [t.term for t in report.terms]
    stats = _read_json(run_dir / DATASET_DIR / "stats.json")
    plan = report.voice_plan or stats.get("voice_plan") or {}
    train = stats.get("splits", {}).get("train", {})
    replay = stats.get("splits", {}).get("general_train", {})
    data = ModelCardData(
        language="ja",
        license=WHISPER_LICENSE if hub.startswith("openai/whisper") else None,
        base_model=hub or None,
        library_name="transformers",
        pipeline_tag="automatic-speech-recognition",
        tags=["whisper", "termadapt", "custom-vocabulary", "synthetic-speech"],
        model_name=f"{report.recipe} ({condition})",
        eval_results=_eval_results(report, condition, list(plan.get("heldout", []))) or None,
    )
    budget = report.budget
    verdict = ""
    if budget.condition == condition:
        verdict = f"Forgetting budget: **{'kept' if budget.ok else 'BROKEN'}**. " + "; ".join(
            c.message for c in budget.checks
        )
    shown = "、".join(terms[:TERMS_LISTED]) + (
        f" … ({len(terms) - TERMS_LISTED} more)" if len(terms) > TERMS_LISTED else ""
    )
    lines = [
        f"# {report.recipe} — Whisper adapted to {len(terms)} terms ({condition})",
        "",
        f"Made with termadapt from `{base_spec or 'a Whisper model'}`"
        f"{' (' + hub + ')' if hub and hub != base_spec else ''}: fine-tuned with the encoder frozen on "
        "synthesized speech of the glossary, with general-sentence replay and homophone guards"
        + (
            ", then merged with the base weights (merged/merge_curve.json has the α it was chosen at)"
            if condition == "merged"
            else ""
        )
        + ".",
        "",
        f"**Glossary ({len(terms)} terms):** {shown}",
        "",
        "## Training data",
        "",
        f"- {train.get('clips', '?')} term clips ({train.get('hours', '?')} h) and {replay.get('clips', '?')} general "
        f"replay clips ({replay.get('hours', '?')} h), all synthesized by TTS voices: "
        f"{', '.join(plan.get('train', [])) or 'see dataset/stats.json'}.",
        (
            f"- Held out (never trained on; the test): {', '.join(plan.get('heldout', [])) or '—'}; validation "
            f"(early stopping, merge α) by other voices, also never trained on: {', '.join(plan['validation'])}"
            if plan.get("validation")
            else f"- Held out (never trained on; validation and test only): {', '.join(plan.get('heldout', [])) or '—'}"
        )
        + (" — a fallback, the recipe's held-out engine was not installed." if plan.get("fallback_used") else "."),
        f"- Recipe: `{RESOLVED_RECIPE}` in the run directory (name `{report.recipe}`).",
        "",
        "## Results on held-out voices and unseen sentences",
        "",
        *_results_rows(report, condition),
        "",
        verdict,
        "",
        "Term recall leaves out neutral homophone sentences (either spelling fits there). The test sets are "
        "synthetic and small: read the CER change with its interval.",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import pipeline",
        'asr = pipeline("automatic-speech-recognition", model="PATH_OR_HUB_ID")',
        'print(asr("audio.wav", generate_kwargs={"language": "ja", "task": "transcribe"})["text"])',
        "```",
        "",
        "or `termadapt transcribe audio.wav --model PATH`; `termadapt export` writes openai-whisper and "
        "faster-whisper (CTranslate2) copies.",
        "",
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


def write_model_cards(report: Report, run_dir: str | Path) -> list[Path]:
    """Write ``README.md`` into the run's ``model/`` and ``merged/`` folders that were evaluated."""
    run_dir = Path(run_dir)
    evaluated = {c.name for c in report.conditions if c.fingerprint}
    written = []
    for condition, folder in CONDITION_DIRS.items():
        model_dir = run_dir / folder
        if condition in evaluated and (model_dir / "config.json").is_file():
            atomic_write_text(model_dir / CARD_FILE, model_card(report, run_dir, condition))
            written.append(model_dir / CARD_FILE)
    return written
