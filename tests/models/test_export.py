"""Exports never overwrite without --force; model files that are not safe or not Whisper are refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
import torch

from termadapt.errors import TermadaptError
from termadapt.models import resolve_model
from termadapt.models.export import export_ct2, export_model, export_openai
from termadapt.models.openai import load_openai_checkpoint


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_openai_export_refuses_to_overwrite_without_force(tiny_model, tmp_path):
    model, processor = tiny_model
    out = tmp_path / "m.pt"
    export_openai(model, processor, out)
    side = tmp_path / "m.tokenizer.json"
    before = (out.read_bytes(), side.read_bytes())
    with pytest.raises(TermadaptError, match="m.pt already exists; choose another --out or pass --force"):
        export_openai(model, processor, out)
    assert (out.read_bytes(), side.read_bytes()) == before  # nothing touched
    out.unlink()  # the tokenizer file alone is also someone's data
    with pytest.raises(TermadaptError, match="m.tokenizer.json already exists"):
        export_openai(model, processor, out)
    export_openai(model, processor, out, force=True)
    assert out.is_file() and side.is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_export_destinations_are_checked_before_the_model_loads(tmp_path):
    # A spec that cannot load: if --out were checked after loading, the model error would come first.
    missing = str(tmp_path / "nomodel")
    with pytest.raises(TermadaptError, match=r"is a \.pt file; give a name like .*noext\.pt"):
        export_model(missing, "openai", tmp_path / "noext")
    (tmp_path / "taken.pt").write_bytes(b"mine")
    with pytest.raises(TermadaptError, match="already exists"):
        export_model(missing, "openai", tmp_path / "taken.pt")
    assert (tmp_path / "taken.pt").read_bytes() == b"mine"
    with pytest.raises(TermadaptError, match="is a file; --to ct2 writes a directory"):
        export_model(missing, "ct2", tmp_path / "taken.pt")
    with pytest.raises(TermadaptError, match="is a directory; give a .pt file name"):
        (tmp_path / "dir.pt").mkdir()
        export_model(missing, "openai", tmp_path / "dir.pt")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(TermadaptError, match=r"cannot write to .*blocker.*choose a writable folder"):
        export_model(missing, "openai", blocker / "sub" / "m.pt")


def test_ct2_export_refuses_non_empty_dir_and_respects_umask(tiny_model, tmp_path):
    pytest.importorskip("ctranslate2")
    model, processor = tiny_model
    out = tmp_path / "ct2"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(TermadaptError, match="not empty; choose another --out or pass --force"):
        export_ct2(model, processor, out, quantization="float32")
    assert (out / "notes.txt").read_text() == "keep me"
    old = os.umask(0o022)
    try:
        export_ct2(model, processor, out, quantization="float32", force=True)
    finally:
        os.umask(old)
    assert not (out / "notes.txt").exists() and (out / "model.bin").is_file()
    assert _mode(out) == 0o755 and _mode(out / "model.bin") == 0o644


def test_pickled_transformers_weights_are_refused(tiny_model_dir, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, pickled / "pytorch_model.bin")
    with pytest.raises(TermadaptError) as info:
        resolve_model(pickled, cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "pytorch_model.bin (a pickle)" in msg and "loads only safetensors" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "config, expected",
    [
        ("{not json", "is not readable JSON"),
        ("[1, 2]", "holds a list, expected a JSON object"),
        (json.dumps({"model_type": "bert"}), "describes a 'bert' model, not 'whisper'"),
    ],
)
def test_config_that_is_not_whispers_is_one_line(tiny_model_dir, tmp_path, config, expected):
    d = tmp_path / "model"
    shutil.copytree(tiny_model_dir, d)
    (d / "config.json").write_text(config, encoding="utf-8")
    with pytest.raises(TermadaptError, match=expected):
        resolve_model(d, cache_dir=tmp_path / "cache")


def test_damaged_weights_and_tokenizer_are_one_line(tiny_model_dir, tmp_path):
    trunc = tmp_path / "trunc"
    shutil.copytree(tiny_model_dir, trunc)
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(TermadaptError, match="cannot load transformers weights"):
        resolve_model(trunc, cache_dir=tmp_path / "cache")
    tok = tmp_path / "tok"
    shutil.copytree(tiny_model_dir, tok)
    (tok / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TermadaptError, match="cannot load the tokenizer / processor files"):
        resolve_model(tok, cache_dir=tmp_path / "cache")


def test_openai_checkpoint_messages_are_whole_sentences(tiny_model, tmp_path):
    import argparse

    evil = tmp_path / "evil.pt"
    torch.save({"dims": argparse.Namespace(n_mels=80), "model_state_dict": {}}, evil)
    with pytest.raises(TermadaptError) as info:
        load_openai_checkpoint(evil)
    msg = str(info.value)
    assert "pickles a argparse.Namespace object" in msg and "weights_only=True" in msg
    assert "\x1b" not in msg and "\n" not in msg and msg.endswith("no file can run code")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"hello, not a checkpoint")
    with pytest.raises(TermadaptError, match="not a file written by torch.save$"):
        load_openai_checkpoint(garbage)

    model, processor = tiny_model
    good = export_openai(model, processor, tmp_path / "good.pt")
    ckpt = torch.load(good, weights_only=True)
    cases = [
        ({**ckpt, "dims": 5}, "'dims' is a int, expected a dict"),
        ({**ckpt, "dims": {k: v for k, v in ckpt["dims"].items() if k != "n_vocab"}}, r"dims\['n_vocab'\] is missing"),
        ({**ckpt, "dims": {**ckpt["dims"], "n_mels": "80"}}, r"dims\['n_mels'\] = '80' is not a positive integer"),
        ({**ckpt, "model_state_dict": {"x": 5}}, r"model_state_dict\['x'\] is a int, expected a tensor"),
    ]
    for i, (bad, expected) in enumerate(cases):
        path = tmp_path / f"bad{i}.pt"
        torch.save(bad, path)
        with pytest.raises(TermadaptError, match=expected):
            load_openai_checkpoint(path)

    state = dict(ckpt["model_state_dict"])
    state["encoder.ln_post.weight"] = torch.zeros(7)
    shutil.copyfile(tmp_path / "good.tokenizer.json", tmp_path / "shape.tokenizer.json")
    torch.save({**ckpt, "model_state_dict": state}, tmp_path / "shape.pt")
    with pytest.raises(TermadaptError, match=r"has shape \(7,\) but its dims call for .*dims and weights disagree"):
        resolve_model(tmp_path / "shape.pt", cache_dir=tmp_path / "cache")
