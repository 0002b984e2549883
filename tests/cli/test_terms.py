"""CLI: termadapt validate / readings (termadapt.cli.terms)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from termadapt.cli import app
from termadapt.config import SHIPPED_DIR
from termadapt.text.dictionary import load_dictionary

DATA = Path(__file__).parent.parent / "data" / "dictionaries"
runner = CliRunner()


def test_validate_accepts_shipped_dictionaries():
    result = runner.invoke(
        app, ["validate", str(SHIPPED_DIR / "demo-product.csv"), str(SHIPPED_DIR / "medical-ja.csv")]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{SHIPPED_DIR / 'medical-ja.csv'}: ok — ") and "entries" in line for line in lines)
    assert any("demo-product.csv: ok — 7 entries, 0 warning(s)" in line for line in lines)


def test_validate_lists_every_problem_one_line_each(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('target,readng\n嚥下,エンゲ\n,x\n"open\n', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad), str(DATA / "header.tsv")])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(":")[2] for e in errors] == ["1", "3", "4"]
    assert all(f"{bad}:" in e and " — " in e for e in errors)
    assert "did you mean 'reading'?" in errors[0]
    assert f"{bad}: INVALID — 3 error(s)" in result.stdout
    assert "header.tsv: ok — 2 entries" in result.stdout
    assert "Traceback" not in result.output


def test_validate_binary_and_missing_files(tmp_path):
    blob = tmp_path / "model.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    result = runner.invoke(app, ["validate", str(blob), str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert f"error: {blob}:1: binary data" in result.stderr
    assert f"error: {tmp_path / 'missing.csv'}: file not found" in result.stderr
    assert "Traceback" not in result.output


def test_validate_prints_warnings_and_strict_fails_on_them():
    path = str(DATA / "warnings-only.csv")
    result = runner.invoke(app, ["validate", path])
    assert result.exit_code == 0
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and "2 warning(s)" in result.stdout
    assert runner.invoke(app, ["validate", "--strict", path]).exit_code == 1


def test_validate_reports_conflicts_between_files(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("エンゲ,嚥下\n", encoding="utf-8")
    b.write_text("エンカ,嚥下\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(a), str(b)])
    assert result.exit_code == 1
    assert f"error: {b}:1: target '嚥下' has reading 'エンカ' here but 'エンゲ' at {a}:1" in result.stderr


def test_readings_table_and_write(tmp_path):
    out = tmp_path / "filled.csv"
    result = runner.invoke(app, ["readings", str(DATA / "seed-style.csv"), "--write", str(out)])
    assert result.exit_code == 0, result.output
    assert "ケイレン" in result.stdout and "auto" in result.stdout and "given" in result.stdout
    assert "4 entries: 2 readings given, 2 derived automatically" in result.stdout
    filled = load_dictionary(out)
    assert [(e.target, e.reading) for e in filled.entries] == [
        ("ailia SDK", "アイリアエスディーケー"),
        ("嚥下", "エンゲ"),
        ("痙攣", "ケイレン"),
        ("目覚ましい発展", "メザマシイハッテン"),
    ]
    assert out.read_text(encoding="utf-8").startswith("target,reading,category,context,weight\n")


def test_readings_shows_homophones():
    result = runner.invoke(app, ["readings", str(DATA / "header.tsv")])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "動悸" in line)
    assert "動機" in row


def test_readings_error_is_one_line(tmp_path):
    result = runner.invoke(app, ["readings", str(DATA / "too-many-columns.csv")])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "too-many-columns.csv:1: 3 columns" in result.stderr
    assert "Traceback" not in result.output


def test_help_texts():
    for cmd in ("validate", "readings"):
        result = runner.invoke(app, [cmd, "--help"])
        assert result.exit_code == 0
        assert "DICT" in result.stdout
    assert "--write" in runner.invoke(app, ["readings", "--help"]).stdout
