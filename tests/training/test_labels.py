"""Decoder labels: control-token prefix, timestamps, length limits, the seeded timestamp share."""

from __future__ import annotations

import pytest
import torch

from termadapt.errors import TermadaptError
from termadapt.training.labels import choose_timestamped, make_labels, prompt_tokens, timestamp_token


@pytest.fixture(scope="module")
def tok(tiny_model):
    return tiny_model[1].tokenizer


def test_labels_have_prefix_without_start_token(tok, tiny_model):
    from transformers.models.whisper.modeling_whisper import shift_tokens_right

    model = tiny_model[0]
    t = prompt_tokens(tok)
    assert (t.start, t.language, t.task, t.no_timestamps, t.end) == (50258, 50266, 50359, 50363, 50257)
    labels = make_labels("痙攣が起きました", tok, t)
    assert labels[:3] == [50266, 50359, 50363] and labels[-1] == 50257
    assert 50258 not in labels
    assert tok.decode(labels[3:-1]) == "痙攣が起きました"
    # The model shifts right and inserts <|startoftranscript|>: the decoder sees the full prompt.
    dec = shift_tokens_right(torch.tensor([labels]), model.config.pad_token_id, model.config.decoder_start_token_id)
    assert dec[0, :4].tolist() == [50258, 50266, 50359, 50363]
    # The tokenizer's own prompt agrees with ours.
    full = tok("痙攣が起きました").input_ids
    assert full == [50258, *labels]


def test_timestamp_labels_use_clip_duration(tok):
    t = prompt_tokens(tok)
    labels = make_labels("心電図", tok, t, duration=1.234, timestamps=True)
    assert labels[:3] == [50266, 50359, t.timestamp_begin]
    assert t.timestamp_begin == tok.convert_tokens_to_ids("<|0.00|>")
    assert labels[-2] == t.timestamp_begin + 62 == tok.convert_tokens_to_ids("<|1.24|>")
    assert 50363 not in labels and labels[-1] == 50257
    assert timestamp_token(45.0, t) == tok.convert_tokens_to_ids("<|30.00|>")
    with pytest.raises(TermadaptError, match="duration"):
        make_labels("心電図", tok, t, timestamps=True)


def test_too_long_labels_are_one_line_errors(tok):
    with pytest.raises(TermadaptError, match="too long"):
        make_labels("痙攣、心電図。" * 120, tok, prompt_tokens(tok))


def test_choose_timestamped_is_seeded_share():
    keys = [f"k{i}" for i in range(100)]
    a = choose_timestamped(keys, 0.3, seed=1)
    assert sum(a) == 30 and a == choose_timestamped(keys, 0.3, seed=1)
    assert a != choose_timestamped(keys, 0.3, seed=2)
    assert not any(choose_timestamped(keys, 0.0, seed=1))
