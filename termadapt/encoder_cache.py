"""Stored outputs of a frozen Whisper encoder, computed once per clip.

When the encoder is frozen and the audio is fixed, the encoder's output for a clip never
changes during training, yet a plain Trainer recomputes it at every step (most of a step's
cost on CPU: DESIGN.md §4, 3.75 s vs 0.99 s per batch-4 step on whisper-base). This module
runs the encoder once per clip (no grad, eval mode), stores the outputs as float16
safetensors shards under ``run_dir/encoder_cache/<fingerprint>/`` and loads them for the
decoder-only training steps (``model(encoder_outputs=(hidden,), labels=...)``).

The fingerprint hashes the encoder's weights, so a different base model (or a trained
encoder) never reuses stale outputs; shards are keyed by clip content
(:func:`termadapt.train_data.clip_key`) and written atomically, so an interrupted build
resumes where it stopped.

Reads: a model and clips. Writes: ``shard-*.safetensors`` (one tensor per clip key).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TermadaptError

__all__ = ["EncoderCache", "encoder_fingerprint", "precompute_applies"]

# Clips per shard file: about 100 MB per shard for whisper-base (1500 × 512 float16 per clip),
# small enough to write atomically, large enough to keep file counts low.
CLIPS_PER_SHARD = 64
# Clips per encoder call while building: bounded memory (30 s log-mel inputs are large).
BUILD_BATCH = 8


def encoder_fingerprint(model: Any, extra: str = "") -> str:
    """Hash of the encoder's parameters and buffers (and ``extra``): names the cache folder."""
    h = hashlib.sha256(extra.encode())
    encoder = model.get_encoder()
    for name, tensor in sorted(encoder.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().to("cpu").contiguous().float().numpy().tobytes())
    return h.hexdigest()[:20]


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
        fingerprint: :func:`encoder_fingerprint` of the model whose encoder is stored.
        dtype: Storage dtype name, ``float16`` (default, half the disk) or ``float32``
            (bit-exact with the per-step path).
    """

    def __init__(self, root: str | os.PathLike[str], fingerprint: str, dtype: str = "float16") -> None:
        self.dir = Path(root) / f"{fingerprint}-{dtype}"
        self.dtype = dtype
        self._index: dict[str, Path] = {}
        self._handles: dict[Path, Any] = {}
        self._scan()

    def _scan(self) -> None:
        from safetensors import safe_open

        self._index.clear()
        if not self.dir.is_dir():
            return
        for shard in sorted(self.dir.glob("shard-*.safetensors")):
            try:
                with safe_open(str(shard), framework="pt") as f:
                    for key in f.keys():
                        self._index[key] = shard
            except Exception:  # a truncated shard (killed mid-write) is rebuilt
                shard.unlink(missing_ok=True)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

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
                chunk = todo[s:s + CLIPS_PER_SHARD]
                tensors: dict[str, Any] = {}
                for b in range(0, len(chunk), BUILD_BATCH):
                    part = chunk[b:b + BUILD_BATCH]
                    feats = features([get_audio(k) for k in part])
                    param = next(encoder.parameters())
                    with torch.no_grad():
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
                raise TermadaptError(f"encoder cache {self.dir}: no stored output for clip {k} — delete the folder to rebuild it")
            handle = self._handles.get(shard)
            if handle is None:
                handle = self._handles[shard] = safe_open(str(shard), framework="pt")
            rows.append(handle.get_tensor(k))
        return torch.stack(rows).float()

    def __getstate__(self) -> dict[str, Any]:
        # Open safetensors handles cannot cross process boundaries (DataLoader workers).
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state
