"""Device and precision choices: what each setting means on which hardware, and autocast."""

from __future__ import annotations

import pytest
import torch

from termadapt import compute
from termadapt.compute import autocast, resolve_precision
from termadapt.errors import ConfigError


@pytest.mark.parametrize("native,want", [(True, "bf16"), (False, "fp32")])
def test_auto_is_bf16_only_on_a_cpu_that_multiplies_bf16_natively(monkeypatch, native, want):
    monkeypatch.setattr(compute, "cpu_has_bf16", lambda: native)
    assert resolve_precision("auto", "cpu") == want
    assert resolve_precision("auto", torch.device("cpu")) == want
    # Explicit settings are kept on any CPU (bf16 is emulated, slower, where not native).
    assert resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("fp32", "cpu") == "fp32"


def test_gpu_settings_follow_what_the_gpu_supports(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda:0") == "bf16"
    assert resolve_precision("fp16", "cuda") == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "fp32"
    with pytest.raises(ConfigError, match=r'train.precision = "bf16" but this GPU has no bfloat16'):
        resolve_precision("bf16", "cuda", "train.precision")


def test_impossible_or_unknown_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match=r'evaluate.precision = "fp16" needs a GPU'):
        resolve_precision("fp16", "cpu", "evaluate.precision")
    with pytest.raises(ConfigError, match=r"train.precision = 'half': use one of auto, fp32, bf16, fp16"):
        resolve_precision("half", "cpu", "train.precision")


def test_autocast_runs_matrix_products_in_the_resolved_precision():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (a @ b).dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")  # left as it was


def test_cpu_bf16_detection_reads_torch_cpu_capabilities(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert compute.cpu_has_bf16()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert not compute.cpu_has_bf16()
