"""The validation split, decoded and scored for the decisions made on it.

Early stopping (which checkpoint training keeps) and the merge α sweep (how far the merged
model leans to the adapted one) are both decisions on the run's ``validation`` split:
held-out voices speaking validation templates and general sentences. :class:`Validator`
decodes a model on it through the one decoder (:func:`termadapt.decoding.decode`: the
run's hypothesis cache, stored encoder outputs when training made them), scores it with
:func:`termadapt.scoring.validation.score_validation` and ranks it with the recipe's
:class:`~termadapt.scoring.budget.Budget`, against the base model's score on the same clips.

Reads: ``run_dir/dataset`` (split ``validation``), ``run_dir/terms.jsonl``, the run's
hypothesis cache. Writes: the hypothesis cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import Recipe
from ..dataset import check_columns, open_dataset, split_rows, undecoded
from ..decoding import DatasetClip, DecodeOptions, HypothesisCache, TransformersBackend, decode, make_condition
from ..errors import TermadaptError
from ..records import HYPOTHESES_DIR, TERMS_FILE, read_jsonl
from ..scoring.budget import Budget, Outcome
from ..scoring.terms import GENERAL_KINDS, TERM_KINDS
from ..scoring.validation import ValidationScore, score_validation, traded_over

__all__ = ["Validator", "decode_options", "dictionary_homophones", "dictionary_terms"]

# Columns of the dataset contract validation reads besides the audio.
NEEDED_COLUMNS = ("audio", "text", "kind", "terms")


def decode_options(recipe: Recipe) -> DecodeOptions:
    """The decode options of every validation and evaluation decode of a recipe."""
    return DecodeOptions(
        language=recipe.model.language, task=recipe.model.task, max_new_tokens=recipe.evaluate.max_new_tokens
    )


def dictionary_homophones(run_dir: str | Path) -> dict[str, list[str]]:
    """``term -> its known homophones and sound-alikes`` from ``terms.jsonl`` (empty without one)."""
    manifest = Path(run_dir) / TERMS_FILE
    if not manifest.is_file():
        return {}
    return {
        str(e["target"]): list(
            dict.fromkeys(str(h) for h in (*(e.get("homophones") or ()), *(e.get("sound_alikes") or ())))
        )
        for e in read_jsonl(manifest)
    }


def dictionary_terms(run_dir: str | Path, rows: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Targets of every term: ``terms.jsonl`` when present, plus terms named in ``rows``."""
    terms: dict[str, None] = {}
    manifest = Path(run_dir) / TERMS_FILE
    if manifest.is_file():
        for entry in read_jsonl(manifest):
            terms[str(entry["target"])] = None
    for row in rows:
        for t in row.get("terms") or ():
            terms[str(t)] = None
        if row.get("homophone_of"):
            terms[str(row["homophone_of"])] = None
    return list(terms)


class Validator:
    """Decodes and scores models on a run's validation split (see the module docstring).

    Args:
        recipe: The recipe (``[model]`` language/task, ``[evaluate]`` budget, batch size, token cap).
        run_dir: The run directory.
        processor: The models' ``WhisperProcessor`` (may be set later, before decoding).
        encoder_outputs: Stored encoder outputs covering the validation clips (training's cache).
        needed_by: What the split is needed for, for error messages.
        require_both: Refuse a split without term sentences or without general sentences.

    Raises:
        TermadaptError: no dataset, no usable validation split.
    """

    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path,
        processor: Any,
        encoder_outputs: Any = None,
        needed_by: str = "validation",
        require_both: bool = False,
    ) -> None:
        dd = open_dataset(run_dir, needed_by)
        if "validation" not in dd or len(dd["validation"]) == 0:
            raise TermadaptError(
                f"{Path(run_dir) / 'dataset'}: no 'validation' split with rows for {needed_by} — "
                "rebuild the dataset (sentences.validation_template_fraction, general_validation_fraction)"
            )
        check_columns(dd["validation"], "validation", NEEDED_COLUMNS)
        split = undecoded(dd, "validation")
        self.rows = split_rows(split)
        if require_both:
            for kinds, what in (
                (TERM_KINDS, "term sentences (recall)"),
                (GENERAL_KINDS, "general sentences (forgetting)"),
            ):
                if not any(r["kind"] in kinds for r in self.rows):
                    raise TermadaptError(
                        f"dataset/validation has no {what}, so {needed_by} cannot decide on it — "
                        "rebuild the dataset (sentences.validation_template_fraction / "
                        "general_validation_fraction) or pass a fixed --alpha"
                    )
        self.clips = [DatasetClip(split, i, r["key"], f"validation/{i}") for i, r in enumerate(self.rows)]
        self.terms = dictionary_terms(run_dir, self.rows)
        self.homophones = dictionary_homophones(run_dir)
        self.processor = processor
        self.options = decode_options(recipe)
        self.budget = Budget.from_config(recipe.evaluate)
        self.evidence_trade = bool(recipe.evaluate.evidence_trade)
        self.cache = HypothesisCache(Path(run_dir) / HYPOTHESES_DIR)
        self.encoder_outputs = encoder_outputs
        self.batch_size = max(1, int(recipe.evaluate.batch_size))
        self.backend = TransformersBackend(recipe.evaluate.precision)
        self.base: ValidationScore | None = None

    def transcribe(self, model: Any, progress: Callable[[int], None] | None = None) -> list[str]:
        """The model's transcripts of the validation clips (cached ones are not decoded again)."""
        cond = make_condition("validation", model, self.processor, self.options)
        return decode(
            [cond],
            self.clips,
            self.cache,
            self.backend,
            batch_size=self.batch_size,
            encoder_outputs=self.encoder_outputs,
            progress=progress,
        ).texts["validation"]

    def measure(self, model: Any, progress: Callable[[int], None] | None = None) -> ValidationScore:
        """Score ``model`` on the validation split."""
        return score_validation(self.rows, self.transcribe(model, progress), self.terms, self.homophones)

    def outcome(self, score: ValidationScore) -> Outcome:
        """The budget's view of ``score``: recall, CER rise over the base model, over-triggering."""
        return score.outcome(self.base if self.base is not None else score)

    def rank(self, score: ValidationScore) -> float:
        """The budget's ranking of ``score`` (:meth:`~termadapt.scoring.budget.Budget.score`)."""
        return self.budget.score(self.outcome(score))

    def log_values(self, score: ValidationScore) -> dict[str, float]:
        """The numbers logged per evaluation (training's validation curve)."""
        part = self.outcome(score).sets[0]
        rise, ci = part.cer_increase, part.cer_interval
        return {
            "term_recall": score.term_recall,
            "term_hits": float(score.term_hits),
            "term_total": float(score.term_total),
            "general_cer": score.general_cer,
            "general_cer_increase": rise if rise is not None else 0.0,
            "invented": float(score.invented),
            "swaps": float(score.swaps),
            "general_clips": float(score.general_rows),
            "score": self.rank(score),
            # The paired 95% interval of the increase: the evidence the decision was made with.
            **({"general_cer_low": ci[0], "general_cer_high": ci[1]} if ci else {}),
        }

    def prefers(self, new: ValidationScore, best: ValidationScore) -> bool:
        """Whether early stopping keeps ``new`` over ``best``, the checkpoint kept so far.

        The budget's pick (:meth:`rank`; ties to ``new``, the model that learned more) — unless,
        with ``evaluate.evidence_trade``, the other has more recall the clips resolve at extra
        forgetting they cannot (:func:`~termadapt.scoring.validation.traded_over`), as in the α choice.
        """
        new_first = self.rank(new) >= self.rank(best)
        pick, other = (new, best) if new_first else (best, new)
        if self.evidence_trade and traded_over(other, pick, self.base, self.budget):
            return not new_first
        return new_first
