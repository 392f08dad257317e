"""The run report in a real browser: headless Chromium opens the file with no network, logs no
console error, and draws a real page (the screenshot is not blank).  Skipped only where Chromium
is missing and not under CI (there a skip fails: tests/conftest.py; .ci/run installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import augury
from augury.runtime.plots_context import run_context
from augury.runtime.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
MODEL = """
# a small, fast model: a mean and three group effects
data  y : real[N]
param mu : real
param theta : real[3]
mu ~ normal(0, 5)
theta ~ normal(mu, 1)
y ~ normal(mu, 1)
infer by nuts(warmup = 100, samples = 100, chains = 2)
"""
# what Chromium's log says of a script error or a console.error call
CONSOLE_ERROR = re.compile(r"Uncaught|CONSOLE\(\d+\)\].*(error|Error)|:ERROR:CONSOLE")


def _browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium here (apt-get install chromium)")


def _open(browser: str, page: Path, shot: Path, profile: Path) -> str:
    """Screenshot `page` in headless Chromium; returns its log (stderr)."""
    cmd = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1200,3000",
           "--proxy-server=127.0.0.1:9", page.resolve().as_uri()]  # any fetch would fail (and show in the log)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stderr


@pytest.mark.slow  # a NUTS compile and two browser starts: ≈ 20 s on a loaded 2-core CPU
def test_the_report_opens_cleanly_in_chromium(tmp_path):
    browser = _browser()
    from PIL import Image
    # the detector sees a script error (else a clean log proves nothing)
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction()</script></body></html>")
    assert CONSOLE_ERROR.search(_open(browser, bad, tmp_path / "bad.png", tmp_path / "p0"))

    model = augury.compile(MODEL)
    data = {"y": np.random.default_rng(0).normal(1.0, 1.0, size=12)}
    post = model.sample(data, seed=0)
    page = write_report(post, tmp_path / "run.html", run_context(model, data, post))
    text = page.read_text(encoding="utf-8")
    assert "<table" in text and "<th>theta[2]</th>" in text
    assert text.count('<img src="data:image/png;base64,') == 2  # mu and theta
    shot = tmp_path / "run.png"
    log = _open(browser, page, shot, tmp_path / "p1")
    assert not CONSOLE_ERROR.search(log), [line for line in log.splitlines() if CONSOLE_ERROR.search(line)]
    assert "net::ERR" not in log  # nothing was fetched
    rgb = np.asarray(Image.open(shot).convert("RGB"), np.float64)
    pixels = rgb.mean(axis=2)
    assert pixels.shape == (3000, 1200)
    # a real page: text, tables and figures, not a blank or a single colour
    assert pixels.std() > 20 and np.mean(pixels < 128) > 0.01
    # the embedded figures were decoded and drawn: matplotlib's first colour (tab:blue, the first
    # chain's lines), which nothing else on the page uses, covers many pixels
    blue = np.all(np.abs(rgb - [31, 119, 180]) < 20, axis=2)
    assert blue.sum() > 500, blue.sum()


def test_the_console_error_pattern():
    assert CONSOLE_ERROR.search('[1:1:0101/000000:INFO:CONSOLE(1)] "Uncaught ReferenceError: f is not defined"')
    assert not CONSOLE_ERROR.search("[1:1:0101/000000:ERROR:dbus/bus.cc:405] Failed to connect to the bus")
    assert run_context().truth == {}
