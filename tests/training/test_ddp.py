"""Multi-process training (Trainer DDP) on CPU: two gloo processes launched by torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_fixtures import build_run_dir

# The worker goes through the real CLI, exactly as
# `torchrun --nproc_per_node 2 --no-python termadapt train RECIPE --run-dir RUN` would.
WORKER = "import sys\nfrom termadapt.cli import app\napp(sys.argv[1:], prog_name='termadapt')\n"


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path, ja_speech, tiny_model_dir):
    run = build_run_dir(tmp_path / "run", ja_speech)
    recipe = tmp_path / "ddp.toml"
    recipe.write_text(
        f'name = "ddp"\nseed = 0\n[model]\nbase = "{tiny_model_dir}"\n'
        "[train]\nbatch_size = 2\nlearning_rate = 1e-3\nmax_steps = 3\nwarmup_ratio = 0.0\n"
        "early_stopping = false\nreplay_ratio = 0.5\n",
        encoding="utf-8",
    )
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        str(worker),
        "train",
        str(recipe),
        "--run-dir",
        str(run),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = json.loads((run / "model" / "training_log.json").read_text())
    assert log["global_step"] == 3
    args = json.loads((run / "model" / "training_args.json").read_text())
    assert args["ddp_backend"] == "gloo"
    base = load_file(str(Path(tiny_model_dir) / "model.safetensors"))
    new = load_file(str(run / "model" / "model.safetensors"))
    assert all(torch.equal(base[k], new[k]) for k in base if ".encoder." in k)
    assert any(not torch.equal(base[k], new[k]) for k in base if ".decoder." in k)
    assert log["world_size"] == 2  # both ranks trained (stored encoder outputs built once, by rank 0)
    assert len(list((run / "encoder_cache").glob("*/shard-*.safetensors"))) >= 1
