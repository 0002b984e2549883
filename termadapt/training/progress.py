"""The train stage's console: one labelled progress bar and one sentence per validation.

transformers' own :class:`~transformers.ProgressCallback` draws an unlabelled bar and prints
every log dict (``{'loss': '10.86', 'grad_norm': ...}``) and the final runtime dict; the
bars of checkpoint saving come on top. :class:`TrainProgress` replaces it: a ``train`` bar
in optimizer steps with the running loss, and after each validation one line in words
("validation at step 40: term recall 11/12, general CER −0.6 points on 20 clips, …").
The numbers are the Trainer's log (``trainer_state.json`` keeps them all).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["TrainProgress", "validation_line", "install"]


def validation_line(step: int, logs: dict[str, Any]) -> str:
    """One sentence for a validation log (keys ``eval_term_hits``, ``eval_general_cer_increase``…)."""

    def get(key: str) -> float | None:
        value = logs.get(f"eval_{key}")
        return float(value) if isinstance(value, (int, float)) else None

    parts = []
    hits, total = get("term_hits"), get("term_total")
    if hits is not None and total:
        parts.append(f"term recall {int(hits)}/{int(total)}")
    delta, clips = get("general_cer_increase"), get("general_clips")
    if delta is not None:
        low, high = get("general_cer_low"), get("general_cer_high")
        interval = f" [{low:+.2f}, {high:+.2f}]" if low is not None and high is not None else ""
        on = f" on {int(clips)} clips" if clips else ""
        parts.append(f"general CER {delta:+.2f} points{interval}{on}")
    for key, label in (("invented", "invented terms"), ("swaps", "homophone swaps")):
        value = get(key)
        if value is not None:
            parts.append(f"{label} {int(value)}")
    return f"validation at step {step}: " + (", ".join(parts) or "no scores")


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class TrainProgress(_callback_base()):  # type: ignore[misc]
    """A ``train`` progress bar in optimizer steps, and a sentence per validation (main process only)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="train", unit="step")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.bar is None or not logs:
            return
        if "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3g}", refresh=False)
        if any(k.startswith("eval_") for k in logs):
            self.bar.write(validation_line(state.global_step, logs), file=sys.stderr)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def install(trainer: Any, progress: bool) -> None:
    """Swap the Trainer's default console callbacks for :class:`TrainProgress` (or none)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # with disable_tqdm it prints every log dict instead
    if progress:
        trainer.add_callback(TrainProgress())
