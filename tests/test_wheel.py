"""The built wheel works on its own: installed into a fresh virtual environment (not an editable
checkout), it finds its shipped dictionaries, templates and general sentences."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_validates_a_shipped_dictionary(tmp_path):
    # Build the wheel from the checkout (no build isolation: the dev extra has setuptools).
    dist = tmp_path / "dist"
    build = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("termadapt-*.whl")

    # A fresh venv holding only the wheel; its dependencies come from this environment's
    # site-packages as plain paths (their .pth files, the editable checkout's among them,
    # are not processed), so only the installed wheel can provide `termadapt`.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)  # ensurepip: offline
    python = env_dir / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    install = _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q", str(wheel)], cwd=tmp_path
    )
    assert install.returncode == 0, install.stderr[-2000:]
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_dependencies.pth").write_text("".join(f"{p}\n" for p in deps), encoding="utf-8")

    where = _run([str(python), "-c", "import termadapt; print(termadapt.__file__)"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    # the console script the wheel installs
    result = _run(
        [str(env_dir / "bin" / "termadapt"), "validate", "shipped:demo-product.csv", "shipped:medical-ja.csv"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo-product.csv: ok — 7 entries" in result.stdout
    assert "medical-ja.csv: ok — 494 entries" in result.stdout
    # the templates and general sentences shipped too
    files = _run(
        [
            str(python),
            "-c",
            "from termadapt.text.templates import shipped_domains; "
            "from termadapt.text.guard_sentences import load_guard_frames; "
            "from termadapt.config import Recipe; print(shipped_domains(), Recipe().general_sentences_path().is_file(), "
            "sorted((k, len(v) >= 10) for k, v in load_guard_frames().items()))",
        ],
        cwd=tmp_path,
    )
    assert files.stdout.strip() == (
        "['general', 'medical', 'tech'] True [('na', True), ('noun', True), ('suru', True)]"
    ), files.stdout + files.stderr
