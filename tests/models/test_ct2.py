"""CTranslate2 import/export: reader, writer, dtypes, round trips (tiny model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from termadapt.errors import TermadaptError
from termadapt.models import resolve_model
from termadapt.models.ct2 import read_model_bin, whisper_dims, write_model_bin
from termadapt.models.export import export_ct2

pytest.importorskip("ctranslate2")


def _state(model):
    return {k: v.detach().float() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def ct2_dirs(tiny_model, tmp_path_factory):
    """The tiny model exported by ctranslate2's converter in several quantizations."""
    model, processor = tiny_model
    root = tmp_path_factory.mktemp("ct2")
    return {
        q: export_ct2(model, processor, root / q, quantization=q) for q in ("float32", "float16", "bfloat16", "int8")
    }


def test_reader_writer_byte_identical(ct2_dirs, tmp_path):
    for q in ("float32", "float16", "bfloat16", "int8"):
        src = ct2_dirs[q] / "model.bin"
        parsed = read_model_bin(src)
        assert parsed.spec == "WhisperSpec"
        # ctranslate2 stores identical tensors once (here also the freshly initialized
        # layer norms), so reading must follow aliases.
        assert parsed.aliases["decoder/projection/weight"] == "decoder/embeddings/weight"
        write_model_bin(parsed, tmp_path / f"{q}.bin")
        assert (tmp_path / f"{q}.bin").read_bytes() == src.read_bytes(), q
    dims = whisper_dims(read_model_bin(ct2_dirs["float16"] / "model.bin"))
    assert dims == {
        "d_model": 64,
        "num_mel_bins": 80,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 256,
        "decoder_ffn_dim": 256,
        "vocab_size": 51865,
        "max_source_positions": 1500,
        "max_target_positions": 448,
    }
    int8 = read_model_bin(ct2_dirs["int8"] / "model.bin")
    assert int8.variables["encoder/layer_0/ffn/linear_0/weight"].dtype == np.int8
    assert "encoder/layer_0/ffn/linear_0/weight_scale" in int8.variables


@pytest.mark.parametrize(
    ("quantization", "atol"), [("float32", 0.0), ("float16", 1e-3), ("bfloat16", 8e-3), ("int8", 2e-3)]
)
def test_ct2_import_matches_source(tiny_model, ct2_dirs, tmp_path, quantization, atol):
    model, _ = tiny_model
    loaded, processor = resolve_model(ct2_dirs[quantization], cache_dir=tmp_path)
    want, got = _state(model), _state(loaded)
    assert set(got) == set(want)
    worst = max((got[k] - want[k]).abs().max().item() for k in want)
    assert worst <= atol, (quantization, worst)
    if quantization == "float32":
        assert all(torch.equal(got[k], want[k]) for k in want)
    # int8 weights are not all exact: the check above is meaningful only if dequantization ran.
    if quantization == "int8":
        assert worst > 0
    assert processor.tokenizer.encode(" the", add_special_tokens=False) == [264]
    assert loaded.generation_config.lang_to_id["<|ja|>"] == 50266
    assert loaded.generation_config.suppress_tokens == model.generation_config.suppress_tokens


def test_ct2_hf_ct2_hf_round_trip(ct2_dirs, tmp_path):
    first, proc = resolve_model(ct2_dirs["float16"], cache_dir=tmp_path / "cache")
    again = export_ct2(first, proc, tmp_path / "again", quantization="float16")
    # Same weights, same converter: the re-exported model.bin is byte-identical.
    assert (again / "model.bin").read_bytes() == (ct2_dirs["float16"] / "model.bin").read_bytes()
    second, _ = resolve_model(again, cache_dir=tmp_path / "cache")
    a, b = _state(first), _state(second)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_conversion_is_cached_by_content(ct2_dirs, tmp_path):
    from termadapt.models.resolve import convert_ct2_dir

    first = convert_ct2_dir(ct2_dirs["float32"], cache_dir=tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert convert_ct2_dir(ct2_dirs["float32"], cache_dir=tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert convert_ct2_dir(ct2_dirs["float16"], cache_dir=tmp_path) != first
    assert (first / ".complete").is_file() and first.parent == tmp_path / "models"


def test_truncated_model_bin_is_one_clear_error(ct2_dirs, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    data = (ct2_dirs["float16"] / "model.bin").read_bytes()
    (bad / "model.bin").write_bytes(data[: len(data) // 2])
    (bad / "tokenizer.json").write_bytes((ct2_dirs["float16"] / "tokenizer.json").read_bytes())
    with pytest.raises(TermadaptError, match="not a complete CTranslate2 model.bin"):
        resolve_model(bad, cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache" / "models").glob("*/.complete"))
