"""report.html renders in real headless Chromium and the screenshot shows the plots."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from termadapt.report import write_report
from termadapt.report.html import CONDITION_COLORS, MERGE_COLORS
from termadapt.report.schema import save_report

from .helpers import sample_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Pixels of a condition's exact bar colour that prove its bars were drawn (a bar is
# ~20×40 px at minimum; legend swatches alone are 14×14 = 196 px).
MIN_BAR_PIXELS = 600


def _hex(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_html_renders_with_plots_in_chromium(tmp_path) -> None:
    from PIL import Image

    rep = sample_report(tmp_path)
    save_report(rep, tmp_path / "report" / "report.json")
    out = write_report(tmp_path)
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        (out / "report.html").as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (2000, 1200)
    counts = {}
    for cond in ("base", "adapted"):
        counts[cond] = int(np.all(img == np.array(_hex(CONDITION_COLORS[cond]), dtype=np.uint8), axis=-1).sum())
    assert all(v >= MIN_BAR_PIXELS for v in counts.values()), counts
    # The merge curve: its first metric's line and markers in their exact colour.
    red = int(np.all(img == np.array(_hex(MERGE_COLORS[0]), dtype=np.uint8), axis=-1).sum())
    assert red >= 50, red
