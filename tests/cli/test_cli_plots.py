"""`augury run --plots DIR --report FILE`: the figures and the report of a run, paths that cannot
be written refused before sampling, and an interrupted run's report marked partial."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from augury.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EIGHT = str(EXAMPLES / "eight_schools.aug")


@pytest.mark.parametrize("option, path, message", [
    ("--report", "no/r.html", "cannot save a report to `{tmp}/no/r.html`: the folder `{tmp}/no` does not exist"),
    ("--report", "r.pdf", "cannot save a report to `{tmp}/r.pdf`: unknown file type `.pdf`"),
    ("--report", "/proc/r.html", "cannot save a report to `/proc/r.html`: "),
    ("--plots", "d.json", "cannot write figures to `{tmp}/d.json`: it is a file, not a folder"),
    ("--plots", "no/figs", "cannot write figures to `{tmp}/no/figs`: the folder `{tmp}/no` does not exist"),
    ("--plots", "/proc/figs", "cannot save figures to `/proc/figs.png`: "),
])
def test_unwritable_report_and_plots_are_refused_before_sampling(tmp_path, capsys, monkeypatch, option, path,
                                                                 message):
    from augury.model import Model
    (tmp_path / "d.json").write_text("{}")
    target = path if path.startswith("/") else str(tmp_path / path)
    monkeypatch.setattr(Model, "sample", lambda *a, **k: pytest.fail("sampled before checking the outputs"))
    assert main(["run", EIGHT, option, target, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err and "internal error" not in err, err
    assert not (tmp_path / "no").exists()


@pytest.mark.slow  # ≈ 14 s on a loaded 2-core CPU (the default tier has the interrupted run's files below)
def test_run_writes_the_figures_and_the_report(tmp_path, capsys):
    # the settings of test_cli's warnings test (4 chains of 20 draws): compiled once for both
    figs, report = tmp_path / "figs", tmp_path / "run.html"
    assert main(["run", EIGHT, "--set", "warmup=20", "--set", "samples=20", "--no-progress",
                 "--plots", str(figs), "--report", str(report)]) == 0
    err = capsys.readouterr().err
    assert f"wrote 4 figures to {figs}" in err and f"wrote {report}" in err
    assert sorted(p.name for p in figs.iterdir()) == ["mu_trace.png", "tau_trace.png", "theta_trace.png",
                                                      "theta_trans_trace.png"]
    text = report.read_text(encoding="utf-8")
    assert text.count('<img src="data:image/png;base64,') == 4
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warnings and f"<h2>Warnings ({len(warnings)})</h2>" in text
    assert "eight_schools.json" in text and "<th>seed</th><td>0</td>" in text
    assert '<span class="k">model</span> eight_schools' in text and "<th>theta[7]</th>" in text
    assert "http://" not in text and "https://" not in text


def test_an_interrupted_run_still_writes_its_report_marked_partial(tmp_path, capsys, monkeypatch):
    """Ctrl-C during sampling: the driver keeps the draws and marks the posterior interrupted;
    `run` then writes the report (and figures) and exits 130."""
    from augury.model import Model
    from augury.runtime.posterior import Posterior
    rng = np.random.default_rng(0)
    partial = Posterior({"mu": rng.normal(size=(4, 7)), "tau": rng.exponential(size=(4, 7))}, chains=4,
                        method="nuts", interrupted=True,
                        warnings=["nuts was interrupted after 7 of 1000 draws: the draws made are kept"])
    monkeypatch.setattr(Model, "sample", lambda *a, **k: partial)
    report = tmp_path / "run.html"
    assert main(["run", EIGHT, "--no-progress", "--report", str(report), "--plots", str(tmp_path / "f")]) == 130
    assert f"wrote {report} (partial: interrupted)" in capsys.readouterr().err
    text = report.read_text(encoding="utf-8")
    assert "INTERRUPTED (partial): the run was stopped" in text and "interrupted after 7 of 1000" in text
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 2
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["mu_trace.png", "tau_trace.png"]
