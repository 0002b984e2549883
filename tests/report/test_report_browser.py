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


def _japanese_fonts() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    out = subprocess.run([fc_list, ":lang=ja", "family"], capture_output=True, text=True, timeout=30).stdout
    return bool(out.strip())


# Draws a Japanese label and two unassigned code points (which no font has: the fallback
# box) with the font the page gives the label, and compares the pixels. Without a Japanese
# font both come out as the same boxes.
PROBE = """<script>
function ink(text, font) {
  const c = document.createElement('canvas'); c.width = 240; c.height = 60;
  const x = c.getContext('2d'); x.font = font; x.fillStyle = '#000'; x.fillText(text, 10, 40);
  const d = x.getImageData(0, 0, 240, 60).data; let bits = '', n = 0;
  for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; bits += d[i] > 127 ? '1' : '0'; }
  return {width: x.measureText(text).width, ink: n, bits: bits};
}
const out = {};
for (const [name, el] of [['table', document.querySelector('td.ja')], ['svg', document.querySelector('svg text.ja')]]) {
  const cs = getComputedStyle(el);
  const font = cs.fontSize + ' ' + cs.fontFamily;
  const label = ink(el.textContent, font), box = ink('\\u0378\\u0379', font);
  out[name] = {family: cs.fontFamily, width: label.width, ink: label.ink, same_as_box: label.bits === box.bits};
}
document.body.setAttribute('data-probe', JSON.stringify(out));
</script>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
@pytest.mark.skipif(not _japanese_fonts(), reason="no Japanese font (apt-get install -y fonts-ipafont-gothic)")
def test_japanese_text_renders_in_chromium(tmp_path) -> None:
    import html as html_lib
    import json
    import re

    rep = sample_report(tmp_path)
    save_report(rep, tmp_path / "report" / "report.json")
    page = (write_report(tmp_path) / "report.html").read_text(encoding="utf-8")
    # Mark one Japanese table cell and one Japanese SVG label, then add the probe.
    page = page.replace("<td>痙攣</td>", "<td class='ja'>痙攣</td>", 1)
    page = re.sub(r"(<text [^>]*)(>痙攣</text>)", r"\1 class='ja'\2", page, count=1)
    assert "class='ja'>痙攣</td>" in page and "class='ja'>痙攣</text>" in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    dom = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, dom[-2000:]
    result = json.loads(html_lib.unescape(found.group(1)))
    for where in ("table", "svg"):
        r = result[where]
        assert "IPAPGothic" in r["family"] or "Noto Sans CJK JP" in r["family"], r  # the page's Japanese stack
        assert r["width"] > 0 and r["ink"] > 0 and not r["same_as_box"], (where, r)
