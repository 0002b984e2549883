"""openai-whisper checkpoints (``.pt``): import to and export from transformers.

An openai-whisper checkpoint is ``{"dims": {...}, "model_state_dict": {...}}`` saved with
``torch.save``; its key names follow openai-whisper's ``model.py`` (``blocks``, ``attn.query``,
``mlp.0``, ``ln_post`` ...). The mapping here is the inverse of transformers'
``convert_openai_to_hf.py`` (seed 001). Checkpoints are read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickles.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from ..errors import TermadaptError

__all__ = [
    "hf_to_openai_key",
    "openai_to_hf_key",
    "hf_to_openai",
    "load_openai_checkpoint",
    "openai_to_hf",
    "dims_to_config_kwargs",
    "DIMS_KEYS",
]

# Fragment renames between transformers and openai-whisper names, applied in order.
# Longer/more specific fragments come first so ".encoder_attn.q_proj" is not caught by
# ".self_attn" rules.
_HF_TO_OPENAI = [
    ("model.encoder.embed_positions.weight", "encoder.positional_embedding"),
    ("model.decoder.embed_positions.weight", "decoder.positional_embedding"),
    ("model.decoder.embed_tokens.weight", "decoder.token_embedding.weight"),
    ("model.encoder.layer_norm.", "encoder.ln_post."),
    ("model.decoder.layer_norm.", "decoder.ln."),
    (".layers.", ".blocks."),
    (".encoder_attn.q_proj.", ".cross_attn.query."),
    (".encoder_attn.k_proj.", ".cross_attn.key."),
    (".encoder_attn.v_proj.", ".cross_attn.value."),
    (".encoder_attn.out_proj.", ".cross_attn.out."),
    (".encoder_attn_layer_norm.", ".cross_attn_ln."),
    (".self_attn.q_proj.", ".attn.query."),
    (".self_attn.k_proj.", ".attn.key."),
    (".self_attn.v_proj.", ".attn.value."),
    (".self_attn.out_proj.", ".attn.out."),
    (".self_attn_layer_norm.", ".attn_ln."),
    (".fc1.", ".mlp.0."),
    (".fc2.", ".mlp.2."),
    (".final_layer_norm.", ".mlp_ln."),
    ("model.", ""),
]
# Fragments are made unambiguous by anchoring on the dots around them.
_OPENAI_TO_HF = [(o, h) for h, o in _HF_TO_OPENAI if h != "model."]


def hf_to_openai_key(key: str) -> str | None:
    """Map a transformers key to openai-whisper; ``None`` for keys openai does not store."""
    if key == "proj_out.weight":  # tied to the token embedding
        return None
    for hf, oa in _HF_TO_OPENAI:
        key = key.replace(hf, oa)
    return key


def openai_to_hf_key(key: str) -> str:
    """Map an openai-whisper key to its transformers name."""
    for oa, hf in _OPENAI_TO_HF:
        key = key.replace(oa, hf)
    return "model." + key if re.match(r"^(encoder|decoder)\.", key) else key


def hf_to_openai(model: Any) -> dict[str, Any]:
    """Return an openai-whisper checkpoint dict (``dims`` + ``model_state_dict``) for ``model``.

    Tensors are detached, contiguous CPU copies in the model's dtype.
    """
    cfg = model.config
    dims = {
        "n_mels": int(cfg.num_mel_bins),
        "n_vocab": int(cfg.vocab_size),
        "n_audio_ctx": int(cfg.max_source_positions),
        "n_audio_state": int(cfg.d_model),
        "n_audio_head": int(cfg.encoder_attention_heads),
        "n_audio_layer": int(cfg.encoder_layers),
        "n_text_ctx": int(cfg.max_target_positions),
        "n_text_state": int(cfg.d_model),
        "n_text_head": int(cfg.decoder_attention_heads),
        "n_text_layer": int(cfg.decoder_layers),
    }
    state = {}
    for key, tensor in model.state_dict().items():
        new = hf_to_openai_key(key)
        if new is not None:
            state[new] = tensor.detach().cpu().contiguous().clone()
    return {"dims": dims, "model_state_dict": state}


# The ``dims`` an openai-whisper checkpoint carries (openai-whisper's ``ModelDimensions``).
DIMS_KEYS = (
    "n_mels",
    "n_vocab",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
)


def _load_failure(exc: BaseException) -> str:
    """torch.load's reason in one whole sentence (its weights-only message spans a page)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"it pickles a {found.group(1)} object, and only tensors and plain values are loaded "
            "(torch.load weights_only=True) so no file can run code"
        )
    first = text.strip().splitlines()[0].strip() if text.strip() else type(exc).__name__
    return first if len(first) <= 200 else first[:200].rsplit(" ", 1)[0] + " …"


def load_openai_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load an openai-whisper ``.pt`` safely (``weights_only=True``) and validate its shape.

    Raises:
        TermadaptError: one line naming the file and what is wrong (not loadable, not a
            ``{"dims", "model_state_dict"}`` dict, a missing or non-integer dim, a non-tensor weight).
    """
    import torch

    path = Path(path)
    with open(path, "rb") as fh:
        legacy = fh.read(1) == b"\x80"  # torch.save writes a zip; before torch 1.6, a pickle
    if not legacy and not zipfile.is_zipfile(path):
        raise TermadaptError(f"{path}: not a loadable openai-whisper checkpoint: not a file written by torch.save")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise TermadaptError(f"{path}: not a loadable openai-whisper checkpoint: {_load_failure(exc)}") from None
    want = "expected a dict with 'dims' and 'model_state_dict', as openai-whisper saves"
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        found = f"keys {', '.join(map(repr, list(ckpt)[:5]))}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise TermadaptError(f"{path}: not an openai-whisper checkpoint ({want}; found {found})")
    dims, state = ckpt["dims"], ckpt["model_state_dict"]
    if not isinstance(dims, dict):
        raise TermadaptError(f"{path}: 'dims' is a {type(dims).__name__}, expected a dict of {', '.join(DIMS_KEYS)}")
    for key in DIMS_KEYS:
        value = dims.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problem = "is missing" if key not in dims else f"= {value!r} is not a positive integer"
            raise TermadaptError(f"{path}: dims['{key}'] {problem} (openai-whisper's ModelDimensions)")
    if not isinstance(state, dict) or not state:
        raise TermadaptError(f"{path}: 'model_state_dict' is a {type(state).__name__}, expected a dict of tensors")
    bad = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise TermadaptError(f"{path}: model_state_dict[{bad!r}] is a {type(state[bad]).__name__}, expected a tensor")
    return ckpt


def dims_to_config_kwargs(dims: dict[str, int]) -> dict[str, int]:
    """Translate openai-whisper ``dims`` to ``WhisperConfig`` keyword arguments."""
    try:
        if dims["n_audio_state"] != dims["n_text_state"]:
            raise TermadaptError("openai-whisper checkpoint with different encoder/decoder widths is not supported")
        return {
            "num_mel_bins": int(dims["n_mels"]),
            "vocab_size": int(dims["n_vocab"]),
            "max_source_positions": int(dims["n_audio_ctx"]),
            "d_model": int(dims["n_audio_state"]),
            "encoder_attention_heads": int(dims["n_audio_head"]),
            "encoder_layers": int(dims["n_audio_layer"]),
            "max_target_positions": int(dims["n_text_ctx"]),
            "decoder_attention_heads": int(dims["n_text_head"]),
            "decoder_layers": int(dims["n_text_layer"]),
            "encoder_ffn_dim": 4 * int(dims["n_audio_state"]),
            "decoder_ffn_dim": 4 * int(dims["n_text_state"]),
        }
    except KeyError as exc:
        raise TermadaptError(f"openai-whisper checkpoint dims lack {exc.args[0]!r}") from None


def openai_to_hf(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Map an openai-whisper ``model_state_dict`` to transformers names (float32 tensors)."""
    out = {}
    for key, tensor in ckpt["model_state_dict"].items():
        if key in ("decoder.mask", "alignment_heads"):  # buffers openai recomputes
            continue
        out[openai_to_hf_key(key)] = tensor.float()
    return out
