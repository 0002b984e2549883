"""Every CLI command, fed broken input of each kind, ends in one ``error:`` line and exit 1.

Never a Python traceback, and never the catch-all "internal error" line either: each case
below has a message written for it that names the file, key or option and the fix. A new
command gets its cases here (``test_every_command_has_a_case`` fails until it does).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from termadapt.cli import app

runner = CliRunner()


class Inputs:
    """Broken (and a few good) inputs, made on demand in one temporary folder."""

    def __init__(self, root: Path, tiny_model_dir: Path) -> None:
        self.root, self.tiny = root, tiny_model_dir

    def file(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return str(path)

    def recipe(self, body: str = "", name: str = "r.toml") -> str:
        head = 'name = "bad"\n[dictionary]\npaths = ["shipped:demo-product.csv"]\n'
        return self.file(name, head + body)

    def run_dir(self, name: str = "run") -> str:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return str(path)

    def damaged(self, manifest: str, content: str) -> str:
        """A run directory whose ``manifest`` holds ``content``, made current for its stage."""
        from termadapt.config import load_recipe
        from termadapt.text.terms import build_terms

        run = self.root / "damaged"
        run.mkdir(exist_ok=True)
        build_terms(load_recipe(self.recipe()), run)  # a current terms.jsonl, so the next stage runs
        (run / manifest).write_text(content, encoding="utf-8")
        return str(run)

    def wav(self, name: str = "a.wav") -> str:
        path = self.root / name
        sf.write(path, np.zeros(8000, np.float32), 16000)
        return str(path)

    def model_copy(self, name: str, edit: Callable[[Path], None]) -> str:
        path = self.root / name
        shutil.copytree(self.tiny, path)
        edit(path)
        return str(path)

    def report(self, data: object) -> str:
        run = self.root / "reported"
        self.file("reported/report/report.json", json.dumps(data))
        return str(run)


def _pickled(path: Path) -> None:
    (path / "model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, path / "pytorch_model.bin")


def _not_whisper(path: Path) -> None:
    (path / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")


def _evil_pt(i: Inputs) -> str:
    import argparse

    path = i.root / "evil.pt"
    torch.save({"dims": argparse.Namespace(), "model_state_dict": {}}, path)
    return str(path)


MINIMAL_REPORT = {"schema_version": 1, "created": "", "run_dir": "", "recipe": ""}

# (case id, argv builder, what the one error line must contain)
CASES: list[tuple[str, Callable[[Inputs], list[str]], str]] = [
    # dictionaries
    ("validate-missing", lambda i: ["validate", str(i.root / "nope.csv")], "file not found"),
    ("validate-undecodable", lambda i: ["validate", i.file("d.csv", b"caf\xe9,\x80\xff\n")], "d.csv:1"),
    ("validate-emoji-reading", lambda i: ["validate", i.file("e.csv", "🎉🎉,祝賀\n")], "e.csv:1"),
    ("readings-bad-header", lambda i: ["readings", i.file("h.csv", "target,readng\n嚥下,エンゲ\n")], "h.csv:1"),
    # recipes
    ("terms-bad-toml", lambda i: ["terms", i.file("t.toml", "[train\nepochs = 2\n")], "t.toml"),
    ("terms-unknown-key", lambda i: ["terms", i.recipe("[train]\nepoch = 2\n")], "did you mean"),
    ("terms-out-of-range", lambda i: ["terms", i.recipe("[train]\nepochs = -1\n")], "'train.epochs' = -1"),
    ("terms-nan", lambda i: ["terms", i.recipe("[train]\nlearning_rate = nan\n")], "train.learning_rate"),
    (
        "terms-missing-dictionary",
        lambda i: ["terms", i.file("m.toml", 'name = "m"\n[dictionary]\npaths = ["gone.csv"]\n')],
        "gone.csv",
    ),
    ("voices-missing-recipe", lambda i: ["voices", str(i.root / "none.toml")], "recipe not found"),
    (
        "voices-misspelt-engine",
        lambda i: ["voices", i.recipe('[synth]\nheldout_voices = ["kokor:jf_alpha"]\n')],
        "unknown TTS engine 'kokor'",
    ),
    # stages run out of order
    ("sentences-no-terms", lambda i: ["sentences", i.recipe(), "--run-dir", i.run_dir()], "terms.jsonl"),
    ("synth-no-utterances", lambda i: ["synth", i.recipe(), "--run-dir", i.run_dir()], "utterances.jsonl"),
    ("synth-bad-workers", lambda i: ["synth", i.recipe(), "--workers", "0"], "--workers"),
    (
        "synth-damaged-utterances",
        lambda i: ["synth", i.recipe(), "--run-dir", i.damaged("utterances.jsonl", '{"id": "u1"}\n')],
        "utterances.jsonl:1: text: missing",
    ),
    (
        "dataset-damaged-synth",
        lambda i: ["dataset", i.recipe(), "--run-dir", i.damaged("synth.jsonl", "[1]\n")],
        "synth.jsonl:1: the top level: expected an object (Clip)",
    ),
    ("dataset-no-synth", lambda i: ["dataset", i.recipe(), "--run-dir", i.run_dir()], "synth.jsonl"),
    ("train-no-dataset", lambda i: ["train", i.recipe(), "--run-dir", i.run_dir()], "no dataset for training"),
    ("merge-no-model", lambda i: ["merge", i.recipe(), "--run-dir", i.run_dir()], "no adapted model"),
    ("merge-bad-alpha", lambda i: ["merge", i.recipe(), "--run-dir", i.run_dir(), "--alpha", "2"], "merge α"),
    ("evaluate-no-dataset", lambda i: ["evaluate", i.recipe(), "--run-dir", i.run_dir()], "no dataset for evaluation"),
    (
        "build-and-train-misspelt-voice",
        lambda i: [
            "build-and-train",
            i.recipe('[synth]\nheldout_voices = ["kokoro:jf_alpah"]\n'),
            "--run-dir",
            i.run_dir(),
        ],
        "jf_alpah",
    ),
    (
        "build-and-train-bad-stage",
        lambda i: ["build-and-train", i.recipe(), "--run-dir", i.run_dir(), "--from", "trian"],
        "unknown stage 'trian'",
    ),
    # reports
    ("report-missing", lambda i: ["report", i.run_dir()], "no report.json"),
    ("report-list", lambda i: ["report", i.report([1, 2])], "holds a list, not a report object"),
    ("report-missing-field", lambda i: ["report", i.report({"schema_version": 1})], "field created: missing"),
    (
        "report-wrong-type",
        lambda i: ["report", i.report({**MINIMAL_REPORT, "sets": [{"name": "g", "role": "general", "clips": "9"}]})],
        "field sets[0].clips: expected an integer",
    ),
    ("compare-one-run", lambda i: ["compare", i.run_dir()], "at least two run directories"),
    ("compare-no-report", lambda i: ["compare", i.run_dir("a"), i.run_dir("b")], "no report.json"),
    ("report-bad-max-listed", lambda i: ["report", i.run_dir(), "--max-listed", "-1"], "--max-listed"),
    # transcription
    ("transcribe-directory", lambda i: ["transcribe", i.run_dir("audio_dir")], "is a directory"),
    ("transcribe-not-audio", lambda i: ["transcribe", i.file("x.wav", "text")], "cannot read audio"),
    ("transcribe-zero-beams", lambda i: ["transcribe", i.wav(), "--beams", "0"], "--beams"),
    ("transcribe-negative-max-tokens", lambda i: ["transcribe", i.wav(), "--max-tokens", "-1"], "--max-tokens"),
    (
        "transcribe-pickled-model",
        lambda i: ["transcribe", i.wav(), "--model", i.model_copy("pickled", _pickled)],
        "loads only safetensors",
    ),
    ("transcribe-model-dir-missing", lambda i: ["transcribe", i.wav(), "--model", "nope/"], "no such file"),
    # exports
    ("export-no-extension", lambda i: ["export", str(i.tiny), "--to", "openai", "--out", str(i.root / "m")], ".pt"),
    (
        "export-existing-out",
        lambda i: ["export", str(i.tiny), "--to", "openai", "--out", i.file("m.pt", b"mine")],
        "already exists",
    ),
    (
        "export-ct2-onto-file",
        lambda i: ["export", str(i.tiny), "--to", "ct2", "--out", i.file("f.bin", b"x")],
        "is a file",
    ),
    (
        "export-unwritable",
        lambda i: ["export", str(i.tiny), "--to", "openai", "--out", i.file("blk", b"x") + "/sub/m.pt"],
        "cannot write to",
    ),
    (
        "export-not-whisper",
        lambda i: ["export", i.model_copy("bert", _not_whisper), "--to", "openai", "--out", str(i.root / "o.pt")],
        "not 'whisper'",
    ),
    (
        "export-evil-pickle",
        lambda i: ["export", _evil_pt(i), "--to", "openai", "--out", str(i.root / "o.pt")],
        "only tensors and plain values are loaded",
    ),
    (
        "export-not-a-checkpoint",
        lambda i: ["export", i.file("g.pt", b"hello"), "--to", "openai", "--out", str(i.root / "o.pt")],
        "not a file written by torch.save",
    ),
    ("export-bad-target", lambda i: ["export", str(i.tiny), "--to", "onnx", "--out", str(i.root / "o")], "--to onnx"),
]


@pytest.mark.parametrize("case, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_broken_input_is_one_line(case, argv, expected, tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("TERMADAPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TERMADAPT_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, argv(Inputs(tmp_path, tiny_model_dir)))
    out = result.output
    assert "Traceback" not in out and "internal error" not in out, out
    if result.exit_code == 2:  # click's usage error for an option out of its range
        assert "Invalid value" in out and expected in out, out
        return
    assert result.exit_code == 1, out
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and any(expected in e for e in errors), out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def test_every_command_has_a_case():
    import typer.main

    commands = set(typer.main.get_command(app).commands)
    covered = {
        case.split("-")[0] if not case.startswith("build-and-train") else "build-and-train" for case, *_ in CASES
    }
    aliases = {"build-dataset"}  # the same function as `dataset`
    assert commands - aliases <= covered, sorted(commands - aliases - covered)


def test_an_unexpected_error_is_one_line_with_the_way_to_its_traceback(monkeypatch, tmp_path):
    def broken(*_a, **_k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("termadapt.text.dictionary.check_dictionary", broken)
    monkeypatch.delenv("TERMADAPT_DEBUG", raising=False)
    path = tmp_path / "d.csv"
    path.write_text("エンゲ,嚥下\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 4, result.output
    assert "internal error: ZeroDivisionError: a bug" in result.stderr and "TERMADAPT_DEBUG=1" in result.stderr
    assert "Traceback" not in result.output
    monkeypatch.setenv("TERMADAPT_DEBUG", "1")
    result = runner.invoke(app, ["validate", str(path)])
    assert isinstance(result.exception, ZeroDivisionError)  # re-raised for the developer


def test_readme_lists_every_exit_code():
    import re

    from termadapt.cli import _app

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Errors and exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    codes = {getattr(_app, n) for n in dir(_app) if n.startswith("EXIT_")}
    assert codes | {0, 2} == documented  # 2 is click's own usage error
