"""Stored outputs of a frozen Whisper encoder, computed once per clip.

When the encoder is frozen and the audio is fixed, the encoder's output for a clip never
changes during training, yet a plain Trainer recomputes it at every step (most of a step's
cost on CPU: 3.75 s vs 0.99 s per batch-4 step on whisper-base; docs/design.md, "Measured
on these machines"). This module
runs the encoder once per clip (no grad, eval mode), stores the outputs as float16
safetensors shards under ``run_dir/encoder_cache/<fingerprint>/`` and loads them for the
decoder-only training steps (``model(encoder_outputs=(hidden,), labels=...)``).

The folder is named by the encoder's weights (:func:`termadapt.decoding.module_fingerprint`),
the feature extractor's settings and the precision the encoder ran in (``train.precision``:
bf16 outputs differ from fp32 ones by about 1% — docs/design.md, "Measured on these
machines"), so a different base model (or a trained encoder) never reuses stale outputs;
shards are keyed by clip content (:func:`termadapt.audio.cell_key`) and written atomically,
so an interrupted build resumes where it stopped. The cache is also the decoder's
:class:`~termadapt.decoding.core.EncoderOutputs`: validation during training and the merge
α sweep decode from it.

Reads: a model and clips. Writes: ``shard-*.safetensors`` (one tensor per clip key).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..compute import autocast
from ..decoding.cache import module_fingerprint
from ..errors import TermadaptError
from ..records import ENCODER_CACHE_DIR

__all__ = ["EncoderCache", "cache_name", "precompute_applies"]

# Clips per shard file: about 100 MB per shard for whisper-base (1500 × 512 float16 per clip),
# small enough to write atomically, large enough to keep file counts low.
CLIPS_PER_SHARD = 64
# Clips per encoder call while building: bounded memory (30 s log-mel inputs are large).
BUILD_BATCH = 8
# Shard files kept open for reading (least recently used closed first): every DataLoader
# worker has its own handles, and a large cache must not exhaust the open-file limit.
MAX_OPEN_SHARDS = 32


def cache_name(model: Any, feature_extractor: Any) -> tuple[str, str]:
    """``(encoder fingerprint, folder name)``: the encoder's weights and the features fed to it."""
    import json

    efp = module_fingerprint(model.get_encoder())
    settings = json.dumps(feature_extractor.to_dict(), sort_keys=True, default=str)
    return efp, f"{efp}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"


def precompute_applies(model: Any, freeze: str, augment_on_the_fly: bool = False) -> tuple[bool, str]:
    """Whether stored encoder outputs give the same training as running the encoder each step.

    Returns:
        ``(applies, reason)``; reason explains a refusal (for logs and errors).
    """
    config = model.config
    if freeze not in ("encoder", "lora"):
        return False, f"the encoder is trained (train.freeze = {freeze!r})"
    if augment_on_the_fly:
        return False, "audio is augmented on the fly"
    if getattr(config, "apply_spec_augment", False):
        return False, "SpecAugment (config.apply_spec_augment) changes encoder inputs each step"
    if float(getattr(config, "dropout", 0.0) or 0.0) > 0 or float(getattr(config, "encoder_layerdrop", 0.0) or 0.0) > 0:
        return False, "encoder dropout/layerdrop makes its training-mode output random"
    return True, "encoder frozen and audio fixed"


class EncoderCache:
    """Frozen-encoder outputs of clips, stored as float16 safetensors shards.

    Args:
        root: ``run_dir/encoder_cache``.
        encoder_fingerprint: The encoder whose outputs are stored (:func:`cache_name`).
        name: The folder name (:func:`cache_name`).
        dtype: Storage dtype name, ``float16`` (default, half the disk) or ``float32``
            (bit-exact with the per-step path).
        compute: The resolved precision the encoder runs in when building (``fp32``, ``bf16``,
            ``fp16``: :func:`termadapt.compute.resolve_precision`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        encoder_fingerprint: str,
        name: str,
        dtype: str = "float16",
        compute: str = "fp32",
    ) -> None:
        suffix = f"{dtype}" if compute == "fp32" else f"{dtype}-{compute}"
        self.dir = Path(root) / f"{name}-{suffix}"
        self.dtype = dtype
        self.compute = compute
        self.encoder_fingerprint = encoder_fingerprint
        self.tag = f"stored-{suffix}"  # decoded transcripts from stored outputs are cached apart
        self._index: dict[str, Path] = {}
        self._handles: dict[Path, Any] = {}
        self._scan()

    @classmethod
    def for_model(
        cls, run_dir: str | os.PathLike[str], model: Any, feature_extractor: Any, compute: str = "fp32"
    ) -> EncoderCache:
        """The cache of ``model``'s encoder in a run directory (``run_dir/encoder_cache/<name>-float16[-bf16]``)."""
        encoder_fingerprint, name = cache_name(model, feature_extractor)
        return cls(Path(run_dir) / ENCODER_CACHE_DIR, encoder_fingerprint, name, compute=compute)

    def _scan(self) -> None:
        from safetensors import SafetensorError, safe_open

        self._index.clear()
        if not self.dir.is_dir():
            return
        for shard in sorted(self.dir.glob("shard-*.safetensors")):
            try:
                with safe_open(str(shard), framework="pt") as f:
                    for key in f.keys():
                        self._index[key] = shard
            except SafetensorError:  # a truncated shard (killed mid-write) is rebuilt; other errors are raised
                shard.unlink(missing_ok=True)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def covers(self, keys: Iterable[str]) -> bool:
        """Whether every key has a stored output."""
        return all(k in self._index for k in keys)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """Keys (deduplicated, in order) without a stored output."""
        seen: set[str] = set()
        out = []
        for k in keys:
            if k not in self._index and k not in seen:
                seen.add(k)
                out.append(k)
        return out

    def build(
        self,
        model: Any,
        keys: Sequence[str],
        get_audio: Callable[[str], np.ndarray],
        features: Callable[[Sequence[np.ndarray]], Any],
        device: Any = "cpu",
        progress: bool = True,
    ) -> int:
        """Compute and store the outputs of clips not stored yet.

        Args:
            model: The Whisper model (its encoder is run in eval mode without gradients).
            keys: Clip keys to cover.
            get_audio: Returns the samples of a key.
            features: Turns a list of clips into ``input_features``.
            device: Where the encoder runs.
            progress: Show a progress bar.

        Returns:
            The number of clips computed now.
        """
        import torch
        from safetensors.torch import save_file
        from tqdm.auto import tqdm

        todo = self.missing(keys)
        if not todo:
            return 0
        self.dir.mkdir(parents=True, exist_ok=True)
        encoder = model.get_encoder()
        was_training = encoder.training
        encoder.eval()
        store = getattr(torch, self.dtype)
        bar = tqdm(total=len(todo), desc="encoder outputs (once per clip)", unit="clip", disable=not progress)
        try:
            for s in range(0, len(todo), CLIPS_PER_SHARD):
                chunk = todo[s : s + CLIPS_PER_SHARD]
                tensors: dict[str, Any] = {}
                for b in range(0, len(chunk), BUILD_BATCH):
                    part = chunk[b : b + BUILD_BATCH]
                    feats = features([get_audio(k) for k in part])
                    param = next(encoder.parameters())
                    with torch.no_grad(), autocast(param.device, self.compute):
                        hidden = encoder(feats.to(device=param.device, dtype=param.dtype)).last_hidden_state
                    for k, h in zip(part, hidden):
                        tensors[k] = h.to("cpu", store).contiguous()
                    bar.update(len(part))
                name = hashlib.sha256("".join(chunk).encode()).hexdigest()[:16]
                shard = self.dir / f"shard-{name}.safetensors"
                tmp = shard.with_suffix(".tmp")
                save_file(tensors, str(tmp))
                os.replace(tmp, shard)
                for k in tensors:
                    self._index[k] = shard
        finally:
            bar.close()
            encoder.train(was_training)
        return len(todo)

    def load(self, keys: Sequence[str]) -> Any:
        """Stored outputs of ``keys`` as one float32 tensor ``[len(keys), frames, d_model]``."""
        import torch
        from safetensors import safe_open

        rows = []
        for k in keys:
            shard = self._index.get(k)
            if shard is None:
                raise TermadaptError(
                    f"encoder cache {self.dir}: no stored output for clip {k} — delete the folder to rebuild it"
                )
            handle = self._handles.pop(shard, None)
            if handle is None:
                handle = safe_open(str(shard), framework="pt")
            self._handles[shard] = handle  # most recently used last
            while len(self._handles) > MAX_OPEN_SHARDS:
                del self._handles[next(iter(self._handles))]  # dropping the handle closes the file
            rows.append(handle.get_tensor(k))
        return torch.stack(rows).float()

    def __getstate__(self) -> dict[str, Any]:
        # Open safetensors handles cannot cross process boundaries (DataLoader workers).
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state
