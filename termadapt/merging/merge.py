"""Stage ``merge``: the adapted model interpolated with its base, θ = (1−α)·θ_base + α·θ_adapted.

With ``alpha = "auto"`` the stage scores the run's ``validation`` split at every α of
``merge.alpha_grid`` (and at α = 0, the base model) and picks the α the forgetting budget
(``[evaluate]``) ranks best (:mod:`.alpha`); a fixed α is applied as given.

Reads: ``run_dir/model/`` (adapted HF model dir written by ``train``), the base model
``recipe.model.base`` (any spec :func:`termadapt.models.resolve_model` accepts) and, for
``auto``, ``run_dir/dataset/`` (its ``validation`` split), the run's encoder cache and
hypothesis cache. Writes: ``run_dir/merged/``: the merged model (safetensors), processor
and the adapted model's generation config; ``merge.json`` (chosen α, written last: its
presence means the directory is complete); for ``auto`` also ``merge_curve.json`` (one point
per α, with the budget it was chosen by). Validation transcripts go to the run's
hypothesis cache, so a rerun decodes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..compute import default_device, resolve_precision
from ..config import Recipe, save_resolved
from ..errors import TermadaptError
from ..models.resolve import quiet_transformers
from ..records import MERGED_DIR, MODEL_DIR, atomic_write_text
from ..scoring.budget import Budget
from ..training.data import SpeechCollator
from ..training.encoder_cache import EncoderCache, precompute_applies
from ..training.trainer import adapted_run_key
from ..training.validation import Validator
from .alpha import curve_points, select_alpha, sweep
from .interpolate import clone_tied, differing_keys, interpolate, is_encoder_key, trim_task_vector

__all__ = ["merge"]


def _parse_alpha(value: Any) -> float | str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise TermadaptError(f'merge α must be "auto" or a number in [0, 1], got {value!r}') from None
    if not 0.0 <= a <= 1.0:
        raise TermadaptError(f'merge α must be "auto" or a number in [0, 1], got {value!r}')
    return a


def _write_model_dir(model: Any, processor: Any, adapted_dir: Path, out_dir: Path) -> None:
    """Save model + processor into ``out_dir`` through a temporary folder, file by file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".model-"))
    try:
        with quiet_transformers():
            model.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        gen = adapted_dir / "generation_config.json"
        if gen.is_file():  # the adapted run's language/task settings, exactly as trained
            shutil.copyfile(gen, tmp / "generation_config.json")
        for old in out_dir.glob("model*.safetensors*"):
            old.unlink()
        for f in tmp.iterdir():
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _encoder_outputs(
    run_dir: Path,
    model: Any,
    processor: Any,
    validator: Validator,
    say: Callable[[str], None],
    train_precision: str = "fp32",
) -> Any:
    """The run's stored encoder outputs of the validation clips (built for those missing), or None.

    Only a frozen encoder's outputs are the same at every α; training stores them (in the
    precision ``train.precision`` resolves to), so the sweep decodes from the outputs (and
    the transcripts) validation during training used.
    """
    if not precompute_applies(model, "encoder")[0]:
        return None
    device = next(model.parameters()).device
    compute = resolve_precision(train_precision, device, "train.precision")
    cache = EncoderCache.for_model(run_dir, model, processor.feature_extractor, compute)
    keys = [c.audio_key for c in validator.clips]
    missing = cache.missing(keys)
    if missing:
        say(f"storing the frozen encoder's outputs of {len(missing)} validation clips (shared by every α)")
        by_key = {c.audio_key: c for c in validator.clips}
        cache.build(
            model,
            missing,
            lambda k: by_key[k].samples(),
            SpeechCollator(processor.feature_extractor).features,
            next(model.parameters()).device,
        )
    return cache


def merge(
    recipe: Recipe,
    run_dir: str | Path,
    alpha: float | str | None = None,
    *,
    adapted_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Merge ``run_dir/model`` with the base model and write ``run_dir/merged/``.

    Args:
        recipe: The recipe (``model.base``, ``merge.alpha``/``alpha_grid``, the ``evaluate``
            budget, batch size and token cap, ``model.language``/``task``).
        run_dir: The run directory.
        alpha: α in [0, 1], ``"auto"``, or None for ``recipe.merge.alpha``.
        adapted_dir: Adapted model dir (default ``run_dir/model``).
        out_dir: Output dir (default ``run_dir/merged``).
        progress: Called with one-line status messages.

    Returns:
        The output directory.

    Raises:
        TermadaptError: missing model/dataset, mismatched models, bad α.
    """
    import torch
    from tqdm.auto import tqdm

    from ..models import resolve_model

    say = progress or (lambda _m: None)
    run_dir = Path(run_dir)
    explicit_model = adapted_dir
    adapted_dir = Path(adapted_dir) if adapted_dir else run_dir / MODEL_DIR
    out = Path(out_dir) if out_dir else run_dir / MERGED_DIR
    choice = _parse_alpha(recipe.merge.alpha if alpha is None else alpha)
    if not adapted_dir.is_dir():
        raise TermadaptError(
            f"{adapted_dir}: no adapted model — run `termadapt train RECIPE` first, or pass the model directory"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "merge.json").unlink(missing_ok=True)  # written last: marks a complete directory

    validator = None
    if choice == "auto":  # check the data before spending time on the models
        validator = Validator(recipe, run_dir, None, needed_by="merge --alpha auto", require_both=True)
    say(f"loading adapted model {adapted_dir} and base model {recipe.model.base}")
    adapted, processor = resolve_model(str(adapted_dir))
    base, _ = resolve_model(recipe.model.base)
    base_state, adapted_state = base.state_dict(), adapted.state_dict()
    changed = differing_keys(base_state, adapted_state)
    base_sub = clone_tied(base_state, changed)
    adapted_sub = trim_task_vector(base_sub, clone_tied(adapted_state, changed), recipe.merge.task_vector_keep)
    del base, base_state
    shared = not any(is_encoder_key(k) for k in changed)
    info: dict[str, Any] = {
        "adapted_run_key": adapted_run_key(adapted_dir),  # evaluate skips a merge of an earlier training
        "base": recipe.model.base,
        "adapted": str(adapted_dir),
        "mode": "fixed",
        "changed_tensors": len(changed),
        "task_vector_keep": float(recipe.merge.task_vector_keep),
        "encoder_shared": shared,
    }

    if validator is not None:
        alphas = sorted({0.0, *(float(a) for a in recipe.merge.alpha_grid)})
        adapted.to(default_device()).eval()
        validator.processor = processor
        if shared:
            validator.encoder_outputs = _encoder_outputs(
                run_dir, adapted, processor, validator, say, recipe.train.precision
            )
        say(
            f"picking α on {len(validator.rows)} validation clips at α ∈ {alphas}"
            + (" (encoder outputs shared by every α)" if shared else "")
        )
        with tqdm(
            total=len(validator.clips) * len(alphas), desc=f"merge: validation × {len(alphas)} α", unit="clip"
        ) as bar:
            scores = sweep(validator, adapted, base_sub, adapted_sub, alphas, bar.update)
        points = curve_points(scores)
        grid = [p for p in points if p.alpha in {float(x) for x in recipe.merge.alpha_grid}] or points
        budget = Budget.from_config(recipe.evaluate)
        chosen, reason = select_alpha(grid, budget, scores if recipe.evaluate.evidence_trade else None)
        base_point = next(p for p in points if p.alpha == 0.0)
        base_point.reason = base_point.reason or "the base model: reference for the CER increase"
        curve = {
            "chosen_alpha": chosen,
            "reason": reason,
            "budget": budget.as_dict(),
            "evidence_trade": bool(recipe.evaluate.evidence_trade),
            "validation_rows": len(validator.rows),
            "base": dataclasses.asdict(base_point),
            "points": [dataclasses.asdict(p) for p in grid],
        }
        atomic_write_text(out / "merge_curve.json", json.dumps(curve, ensure_ascii=False, indent=2) + "\n")
        info.update(
            mode="auto",
            reason=reason,
            within_budget=any(p.qualifies and p.chosen for p in grid),
            traded=any(p.traded for p in grid),
        )
        choice = chosen
        say(f"α = {chosen:g}: {reason}")

    with torch.no_grad():
        full = dict(adapted.state_dict())
        full.update(interpolate(base_sub, adapted_sub, float(choice)))
        adapted.load_state_dict(full, strict=True)
    adapted.to("cpu")
    _write_model_dir(adapted, processor, adapted_dir, out)
    info["alpha"] = float(choice)
    if explicit_model is None:  # a pipeline stage: record the recipe next to the run's other outputs
        save_resolved(recipe, run_dir)
    atomic_write_text(out / "merge.json", json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    return out
