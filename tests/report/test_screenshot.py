"""The report in a real browser (headless Chromium): the page renders, every image loads, and the first
screen (1400 × 1000) shows the run's metadata and the findings table. Skipped without Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
WIDTH, HEIGHT = 1400, 1000

# Run in the page once everything has loaded: images that failed, and the text whose box lies within the
# first screen, appended to the DOM as JSON for --dump-dom to carry out.
PROBE = """<script>
window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute('src'));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = [];
  while (walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(walker.currentNode);
    const box = range.getBoundingClientRect();
    if (box.height > 0 && box.top < window.innerHeight && box.bottom > 0) seen.push(walker.currentNode.textContent.trim());
  }
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({height: window.innerHeight, images: document.images.length, broken,
                                    text: seen.join(' ')});
  document.body.appendChild(pre);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    cmd += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    cmd += [f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WIDTH},{HEIGHT}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_first_screen_shows_metadata_and_findings_and_every_image_loads(report, tmp_path):
    import matplotlib.image

    screenshot = tmp_path / "first_screen.png"
    _chromium(tmp_path, f"--screenshot={screenshot}", report.as_uri())
    assert screenshot.is_file() and screenshot.stat().st_size > 20_000
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH) and float(pixels[..., :3].std()) > 0.05  # not a blank page

    probe_page = report.parent / "probe.html"  # beside index.html: the same relative image paths
    probe_page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    done = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe_page.as_uri())
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", done.stdout, re.S)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    probe = json.loads(
        found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )
    assert probe["images"] >= 10 and probe["broken"] == []
    first = probe["text"]
    for text in (
        "protxai report: run run-model",
        "model",
        "synthetic",
        "release",
        "2024_01",
        "convergence",
        "1 of 60",
    ):
        assert text in first, text
    for text in (
        "Contents:",
        "Significant heads",
        "median r",
        "p_adj",
        "L1 H2",
        "active_site",
        "EC 1",
        "EC 2",
    ):
        assert text in first, text
    assert np.isfinite(probe["height"]) and probe["height"] <= HEIGHT
