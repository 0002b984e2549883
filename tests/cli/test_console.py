"""The console of a tiny build-and-train: termadapt's own bars and summaries, no third-party bars.

Run as a real ``python -m termadapt.cli`` process (the libraries read their quiet settings
when they are imported, so an in-process runner would not show what a user sees).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# What datasets, transformers and the Trainer print when they are not silenced.
THIRD_PARTY = (
    "Generating train split",
    "Casting the dataset",
    "Saving the dataset",
    "Loading weights",
    "Writing model shards",
    "{'loss'",
    "'train_runtime'",
)

RECIPE = """
name = "tiny"
seed = 0
[dictionary]
paths = ["shipped:demo-product.csv"]
[sentences]
domains = ["general"]
templates_per_term = 2
validation_templates_per_term = 1
test_templates_per_term = 1
max_general_replay = 8
max_general_validation = 4
max_general_test = 6
[synth]
train_voices = ["openjtalk:mei_normal?speed=1.0"]
heldout_voices = ["openjtalk:mei_normal?speed=1.25&half_tone=3"]
fallback_heldout_voices = ["openjtalk:mei_normal?speed=1.25&half_tone=3"]
workers = 1
cache_dir = "{audio}"
[model]
base = "{model}"
[train]
max_steps = 4
batch_size = 4
[evaluate]
bootstrap_samples = 50
"""


def _run(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_DATASETS_DISABLE", "HF_HUB_DISABLE"))}
    env.pop("TRANSFORMERS_VERBOSITY", None)
    env.update(TERMADAPT_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "termadapt.cli", *args], capture_output=True, text=True, env=env, timeout=900
    )


@pytest.mark.slow
def test_tiny_build_and_train_console_has_no_third_party_bars(tmp_path, tiny_model_dir):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE.format(audio=tmp_path / "audio", model=tiny_model_dir), encoding="utf-8")
    run = tmp_path / "run"
    result = _run(["build-and-train", str(recipe), "--run-dir", str(run)], tmp_path)
    assert result.returncode in (0, 3), result.stderr[-3000:]  # a random tiny model breaks the budget: fine
    err = result.stderr
    assert "Traceback" not in err
    for noise in THIRD_PARTY:
        assert noise not in err and noise not in result.stdout, noise
    for stage in ("terms", "sentences", "synth", "dataset", "train", "merge", "evaluate", "report"):
        assert f"[{stage}] done in" in err
    assert "train: 100%" in err and "validation at step 4: term recall" in err  # termadapt's own train bar
    assert "dataset: train " in err and "synth: " in err  # one-line stage summaries
    assert "test_terms: term recall" in result.stdout and "forgetting budget:" in result.stdout

    # --verbose gives the libraries their bars back (so the check above can see them).
    verbose = _run(
        [
            "--verbose",
            "build-and-train",
            str(recipe),
            "--run-dir",
            str(run),
            "--from",
            "dataset",
            "--to",
            "dataset",
            "--force",
        ],
        tmp_path,
    )
    assert verbose.returncode in (0, 3), verbose.stderr[-3000:]
    assert "Saving the dataset" in verbose.stderr
