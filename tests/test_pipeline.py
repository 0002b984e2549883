"""Orchestration of build-and-train: skipping, forcing, ranges, invalidation.

The stage functions are replaced by small recorders here; the real stages run end to end
in tests/test_end_to_end.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from termadapt import pipeline
from termadapt.config import recipe_from_dict
from termadapt.errors import TermadaptError

CALLS: list[str] = []


def _make_stage(name: str, output: str):
    def run(recipe, run_dir: Path) -> Path:
        CALLS.append(name)
        out = run_dir / output
        if "." in Path(output).name:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(name, encoding="utf-8")
        else:
            out.mkdir(parents=True, exist_ok=True)
        return out

    return run


@pytest.fixture()
def fake_stages(monkeypatch):
    CALLS.clear()
    specs = []
    for spec in pipeline.STAGES:
        fn = _make_stage(spec.name, spec.output)
        specs.append(pipeline.StageSpec(spec.name, f"fake:{spec.name}", spec.sections, spec.output, spec.inputs))
        monkeypatch.setitem(FAKE, spec.name, fn)
    monkeypatch.setattr(pipeline, "STAGES", tuple(specs))
    real = pipeline._resolve  # the stages' own input_files stay real: they decide the keys
    monkeypatch.setattr(
        pipeline, "_resolve", lambda target: FAKE[target[5:]] if target.startswith("fake:") else real(target)
    )
    return specs


FAKE: dict = {}


def _recipe(tmp_path: Path, **train):
    dic = tmp_path / "d.csv"
    if not dic.exists():
        dic.write_text("ケイレン , 痙攣\n", encoding="utf-8")
    return recipe_from_dict({"name": "t", "dictionary": {"paths": [str(dic)]}, "train": train})


def test_second_run_skips_everything(tmp_path, fake_stages):
    recipe, run = _recipe(tmp_path), tmp_path / "run"
    first = pipeline.run_pipeline(recipe, run, log=lambda m: None)
    assert [s["status"] for s in first["stages"]] == ["ran"] * 8
    assert CALLS == list(pipeline.STAGE_NAMES)
    CALLS.clear()
    second = pipeline.run_pipeline(recipe, run, log=lambda m: None)
    assert CALLS == []
    assert all(s["status"] == "skipped" for s in second["stages"])
    assert (run / "config.resolved.toml").is_file()


def test_changed_train_setting_reruns_train_and_later_only(tmp_path, fake_stages):
    run = tmp_path / "run"
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    CALLS.clear()
    pipeline.run_pipeline(_recipe(tmp_path, epochs=5.0), run, log=lambda m: None)
    assert CALLS == ["train", "merge", "evaluate", "report"]


def test_changed_dictionary_file_reruns_from_terms(tmp_path, fake_stages):
    run = tmp_path / "run"
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    (tmp_path / "d.csv").write_text("ケイレン , 痙攣\nドウキ , 動悸\n", encoding="utf-8")
    CALLS.clear()
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    assert CALLS == list(pipeline.STAGE_NAMES)


def test_stage_is_current_follows_the_files(tmp_path, fake_stages):
    run = tmp_path / "run"
    assert not pipeline.stage_is_current(_recipe(tmp_path), run, "terms")
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    assert pipeline.stage_is_current(_recipe(tmp_path), run, "terms")
    assert pipeline.stage_is_current(_recipe(tmp_path), run, "train")
    assert not pipeline.stage_is_current(_recipe(tmp_path, epochs=5.0), run, "train")
    (tmp_path / "d.csv").write_text("ケイレン , 痙攣\nドウキ , 動悸\n", encoding="utf-8")
    assert not pipeline.stage_is_current(_recipe(tmp_path), run, "terms")
    with pytest.raises(TermadaptError, match="unknown stage"):
        pipeline.stage_is_current(_recipe(tmp_path), run, "nope")


def test_missing_output_reruns_that_stage(tmp_path, fake_stages):
    run = tmp_path / "run"
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    (run / "synth.jsonl").unlink()
    CALLS.clear()
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    assert CALLS == ["synth"]


def test_from_to_and_force(tmp_path, fake_stages):
    run = tmp_path / "run"
    pipeline.run_pipeline(_recipe(tmp_path), run, stop="dataset", log=lambda m: None)
    assert CALLS == ["terms", "sentences", "synth", "dataset"]
    CALLS.clear()
    pipeline.run_pipeline(_recipe(tmp_path), run, start="synth", stop="dataset", force=True, log=lambda m: None)
    assert CALLS == ["synth", "dataset"]
    marker = json.loads((run / ".stages" / "synth.json").read_text(encoding="utf-8"))
    assert len(marker["key"]) == 64


def test_interrupted_stage_is_not_marked_done(tmp_path, fake_stages, monkeypatch):
    run = tmp_path / "run"

    def boom(recipe, run_dir):
        raise KeyboardInterrupt

    monkeypatch.setitem(FAKE, "train", boom)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    assert not (run / ".stages" / "train.json").exists()
    monkeypatch.setitem(FAKE, "train", _make_stage("train", "model"))
    CALLS.clear()
    pipeline.run_pipeline(_recipe(tmp_path), run, log=lambda m: None)
    assert CALLS == ["train", "merge", "evaluate", "report"]


def test_bad_stage_names_are_one_line_errors():
    with pytest.raises(TermadaptError, match="unknown stage 'trian'"):
        pipeline.select_stages("trian", None)
    with pytest.raises(TermadaptError, match="comes after"):
        pipeline.select_stages("report", "terms")


def test_disabled_merge_is_reported(tmp_path, fake_stages):
    recipe = recipe_from_dict({"name": "t", "merge": {"enabled": False}})
    result = pipeline.run_pipeline(recipe, tmp_path / "run", log=lambda m: None)
    assert {s["name"]: s["status"] for s in result["stages"]}["merge"] == "disabled"
    assert "merge" not in CALLS


def test_misspelt_voice_fails_before_any_stage_runs(tmp_path):
    from termadapt.errors import ConfigError
    from termadapt.records import TERMS_FILE

    data = {"dictionary": {"paths": ["shipped:demo-product.csv"]}, "synth": {"heldout_voices": ["kokor:jf_alpha"]}}
    recipe = recipe_from_dict(data, str(tmp_path / "r.toml"))
    with pytest.raises(ConfigError, match="unknown TTS engine .kokor."):
        pipeline.run_pipeline(recipe, tmp_path / "run", log=lambda _m: None)
    assert not (tmp_path / "run" / TERMS_FILE).exists()  # the terms stage never started
    # Without synth among the selected stages the voices are not needed, so not checked.
    pipeline.run_pipeline(recipe, tmp_path / "run", stop="terms", log=lambda _m: None)
    assert (tmp_path / "run" / TERMS_FILE).is_file()
