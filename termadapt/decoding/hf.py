"""The transformers backend of the decoder: Whisper's encoder and greedy ``generate``.

Runs on the device and in the dtype the model is on (a training model on the GPU decodes
there; evaluation moves its models to :func:`~.core.default_device`). Stored encoder
outputs (float16 in the training cache) are cast to the model's dtype before decoding.

Reads: conditions and audio. Writes: nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE
from .core import Condition

__all__ = ["TransformersBackend", "log_mel", "quiet_generation"]


def log_mel(feature_extractor: Any, audios: Sequence[np.ndarray]) -> Any:
    """Log-mel features ``[batch, mels, 3000]`` of 16 kHz clips (padded to Whisper's 30-s window).

    The one feature computation of the transformers path: fresh decodes and the stored
    encoder outputs (training's cache) are made from it.
    """
    return feature_extractor(list(audios), sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features


@contextlib.contextmanager
def quiet_generation() -> Iterator[None]:
    """Silence transformers' per-call generation warnings (max_length vs max_new_tokens…).

    Every ``generate()`` call repeats them; decoding hundreds of clips would bury the
    progress bar.
    """
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _param(model: Any) -> Any:
    return next(model.parameters())


@contextlib.contextmanager
def _inference(model: Any) -> Iterator[None]:
    """Eval mode without gradients, restoring the model's mode after (validation runs mid-training)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), quiet_generation():
            yield
    finally:
        model.train(was_training)


class TransformersBackend:
    """Decode with transformers' ``WhisperForConditionalGeneration`` (see the module docstring)."""

    name = "transformers"
    takes_stored = True

    def tag(self, cond: Condition) -> str:
        p = _param(cond.model)
        return f"{self.name}:{p.device.type}:{str(p.dtype).removeprefix('torch.')}"

    def prepare(self, conditions: Sequence[Condition]) -> None:
        pass  # the models are loaded and on their device already

    def features(self, cond: Condition, audios: Sequence[np.ndarray]) -> Any:
        """Log-mel features ``[batch, mels, 3000]`` (clips padded to Whisper's 30-s window)."""
        return cond.processor.feature_extractor(
            list(audios), sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features

    def encode(self, cond: Condition, audios: Sequence[np.ndarray]) -> Any:
        p = _param(cond.model)
        feats = log_mel(cond.processor.feature_extractor, audios).to(p.device, p.dtype)
        with _inference(cond.model):
            return cond.model.get_encoder()(feats).last_hidden_state

    def stored(self, cond: Condition, hidden: Any) -> Any:
        p = _param(cond.model)
        return hidden.to(p.device, p.dtype)

    def take(self, encoded: Any, rows: Sequence[int], total: int) -> Any:
        return encoded if len(rows) == total else encoded[list(rows)]

    def generate(self, cond: Condition, encoded: Any, n: int) -> list[str]:
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        opts = cond.options
        kwargs: dict[str, Any] = {
            "language": opts.language,
            "task": opts.task,
            "num_beams": opts.num_beams,
            "do_sample": False,
            "max_new_tokens": opts.token_budget(),
        }
        if opts.prompt_ids:
            kwargs["prompt_ids"] = torch.tensor(
                list(opts.prompt_ids), dtype=torch.long, device=_param(cond.model).device
            )
        with _inference(cond.model):
            out = cond.model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=encoded), **kwargs)
        sequences = out.sequences if hasattr(out, "sequences") else out
        return [t.strip() for t in cond.processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)]
