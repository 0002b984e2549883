"""The transformers backend of the decoder: Whisper's encoder and greedy ``generate``.

Runs on the device the model is on (a training model on the GPU decodes there; evaluation
moves its models to :func:`~termadapt.compute.default_device`), in its dtype — or, for a
float32 model whose ``evaluate.precision`` resolves to bf16/fp16 there
(:func:`~termadapt.compute.resolve_precision`), with a copy of its weights in that dtype.
Stored encoder outputs (float16 in the training cache) are cast to the decoding dtype.

Reads: conditions and audio. Writes: nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..compute import resolve_precision
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
    """Decode with transformers' ``WhisperForConditionalGeneration`` (see the module docstring).

    Args:
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``, resolved on each model's device
            (``evaluate.precision``). A float32 model that resolves lower decodes with a copy of
            its weights in that dtype, made when a decode starts and kept while its weights are
            unchanged: greedy decoding reads every weight and the cross-attention cache at each
            step, so halving those bytes halves a CPU step (autocast would re-cast the weights
            at every step: docs/design.md, "Measured on these machines").
    """

    name = "transformers"
    takes_stored = True

    def __init__(self, precision: str = "fp32") -> None:
        self.precision = precision
        self._copies: dict[str, Any] = {}  # condition fingerprint -> low-precision copy of its model

    def _low(self, cond: Condition) -> str:
        """The precision ``cond`` decodes in: ``fp32`` (the model as it is) unless its float32 weights run lower."""
        p = _param(cond.model)
        if str(p.dtype) != "torch.float32":
            return "fp32"  # weights already in a low precision: run as they are
        return resolve_precision(self.precision, p.device, "evaluate.precision")

    def _model(self, cond: Condition) -> Any:
        return self._copies.get(cond.fingerprint, cond.model)

    def tag(self, cond: Condition) -> str:
        p = _param(cond.model)
        base = f"{self.name}:{p.device.type}:{str(p.dtype).removeprefix('torch.')}"
        low = self._low(cond)
        return base if low == "fp32" else f"{base}:as-{low}"

    def prepare(self, conditions: Sequence[Condition]) -> None:
        import copy

        import torch

        copies: dict[str, Any] = {}
        for cond in conditions:
            low = self._low(cond)  # an impossible precision fails before any decoding
            if low == "fp32" or cond.fingerprint in copies:
                continue
            model = self._copies.get(cond.fingerprint)
            if model is None:
                model = copy.deepcopy(cond.model).eval().requires_grad_(False)
                model.to(torch.bfloat16 if low == "bf16" else torch.float16)
            copies[cond.fingerprint] = model
        self._copies = copies  # copies of models no longer decoded are released

    def features(self, cond: Condition, audios: Sequence[np.ndarray]) -> Any:
        """Log-mel features ``[batch, mels, 3000]`` (clips padded to Whisper's 30-s window)."""
        return cond.processor.feature_extractor(
            list(audios), sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features

    def encode(self, cond: Condition, audios: Sequence[np.ndarray]) -> Any:
        model = self._model(cond)
        p = _param(model)
        feats = log_mel(cond.processor.feature_extractor, audios).to(p.device, p.dtype)
        with _inference(model):
            return model.get_encoder()(feats).last_hidden_state

    def stored(self, cond: Condition, hidden: Any) -> Any:
        p = _param(self._model(cond))
        return hidden.to(p.device, p.dtype)

    def take(self, encoded: Any, rows: Sequence[int], total: int) -> Any:
        return encoded if len(rows) == total else encoded[list(rows)]

    def generate(self, cond: Condition, encoded: Any, n: int) -> list[str]:
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        opts = cond.options
        model = self._model(cond)
        p = _param(model)
        kwargs: dict[str, Any] = {
            "language": opts.language,
            "task": opts.task,
            "num_beams": opts.num_beams,
            "do_sample": False,
            "max_new_tokens": opts.token_budget(),
        }
        if opts.prompt_ids:
            kwargs["prompt_ids"] = torch.tensor(list(opts.prompt_ids), dtype=torch.long, device=p.device)
        with _inference(model):
            out = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=encoded.to(p.dtype)), **kwargs)
        sequences = out.sequences if hasattr(out, "sequences") else out
        return [t.strip() for t in cond.processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)]
