"""openai-whisper checkpoints (``.pt``): import to and export from transformers.

An openai-whisper checkpoint is ``{"dims": {...}, "model_state_dict": {...}}`` saved with
``torch.save``; its key names follow openai-whisper's ``model.py`` (``blocks``, ``attn.query``,
``mlp.0``, ``ln_post`` ...). The mapping here is the inverse of transformers'
``convert_openai_to_hf.py`` (seed 001). Checkpoints are read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickles.
"""

from __future__ import annotations

import re
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


def load_openai_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load an openai-whisper ``.pt`` safely (``weights_only=True``) and validate its shape."""
    import torch

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TermadaptError(f"{path}: not a loadable openai-whisper checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        raise TermadaptError(
            f"{path}: not an openai-whisper checkpoint (expected a dict with 'dims' and 'model_state_dict')"
        )
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
