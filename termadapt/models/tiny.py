"""A tiny randomly initialized Whisper with the real multilingual tokenizer, for fast tests.

The model has whisper-base's vocabulary, mel bins and context lengths but a 64-wide,
2+2-layer transformer, so it builds in about a second and trains a step in milliseconds.
Its outputs are noise; its shapes, tokenizer, prompts and generation settings are real.
"""

from __future__ import annotations

from typing import Any

from .processor import (
    build_processor,
    ct2_generation_settings,
    offline_base_files,
    whisper_config,
    whisper_generation_config,
)

__all__ = ["TINY_DIMS", "build_tiny_model"]

# Small enough for millisecond steps on 2 CPU cores; vocabulary, mel bins and positions
# match the real multilingual Whisper so prompts, labels and features are real-sized.
TINY_DIMS = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 256,
    "decoder_ffn_dim": 256,
    "vocab_size": 51865,
    "num_mel_bins": 80,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}


def build_tiny_model(seed: int = 0) -> tuple[Any, Any]:
    """Build a random tiny ``WhisperForConditionalGeneration`` and its processor.

    Reads the tokenizer and suppress lists of the offline whisper-base packages
    (``offline-base`` extra). Deterministic for a given ``seed``.

    Returns:
        ``(model, processor)``; the model is in eval mode, float32, on CPU.
    """
    import torch
    from transformers import WhisperForConditionalGeneration

    files = offline_base_files()
    processor = build_processor(files["tokenizer"], num_mel_bins=TINY_DIMS["num_mel_bins"])
    settings = ct2_generation_settings(files["config"])
    settings.pop("alignment_heads", None)  # base's heads do not exist in a 2-layer decoder
    generation_config = whisper_generation_config(processor.tokenizer, **settings)
    config = whisper_config(TINY_DIMS, generation_config)
    generator = torch.random.fork_rng()
    with generator:
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config)
    model.generation_config = generation_config
    model.eval()
    return model, processor
