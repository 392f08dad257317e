"""The run report (runtime/report.py): one self-contained HTML file holding the model text, the
settings, the summary rows, every warning and the figures as data URIs, with no web address."""

from __future__ import annotations

import base64
import html
import re

import numpy as np
import pytest

from augury.errors import AuguryError
from augury.runtime.plots_context import RunContext
from augury.runtime.posterior import Posterior
from augury.runtime.report import check_report_path, highlight, report_html, write_report

MODEL = """# a <tiny> model & its "prior"
param mu : real
mu ~ normal(0, 5)
infer by nuts(samples = 30)
"""
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def post():
    rng = np.random.default_rng(0)
    return Posterior({"mu": rng.normal(size=(2, 30)), "theta": rng.normal(size=(2, 30, 3))}, chains=2,
                     method="nuts", settings={"samples": 30, "target_accept": 0.8},
                     warnings=["R-hat 1.2 for mu is above 1.01 <bad> & worse", "bulk ESS 12 for theta"],
                     sample_stats={"diverging": np.zeros((2, 30), bool)})


@pytest.fixture(scope="module")
def report(post, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "run.html"
    ctx = RunContext(model_text=MODEL, model_file="tiny.aug", data_source="tiny.json")
    write_report(post, path, ctx, run_info=[("seed", 7)])
    return path.read_text(encoding="utf-8")


def test_the_report_holds_the_run(report, post):
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    assert "<title>Augury run: tiny</title>" in report
    # the model text, escaped, with its comment coloured
    assert '<span class="c"># a &lt;tiny&gt; model &amp; its &quot;prior&quot;</span>' in report
    assert '<span class="k">param</span> mu' in report
    for row in ("method", "nuts", "tiny.aug", "tiny.json", "seed", "target_accept", "0.8"):
        assert f"<td>{row}</td>" in report or f"<th>{row}</th>" in report, row
    # the summary: the headline and a row per element, the same numbers as the text table
    assert "<b>Posterior: nuts, 2 chains × 30 draws, 0 divergences</b>" in report
    means = {"mu": float(post.mean("mu"))} | {f"theta[{i}]": m for i, m in enumerate(post.mean("theta"))}
    for label, mean in means.items():
        row = re.search(rf"<tr><th>{re.escape(label)}</th><td>([^<]+)</td>", report)
        assert row and row.group(1) == f"{mean:.3g}", label
    # every warning, escaped
    assert "<h2>Warnings (2)</h2>" in report
    assert html.escape("R-hat 1.2 for mu is above 1.01 <bad> & worse") in report and "bulk ESS 12 for theta" in report
    assert "<td>complete</td>" in report and "max R-hat" in report


def test_the_report_is_self_contained(report):
    images = IMG.findall(report)
    assert len(images) == 2 == report.count("<img ")  # mu and theta: a figure each
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in report and "https://" not in report
    assert "<script" not in report and "<link" not in report and "@import" not in report and "url(" not in report


def test_an_interrupted_run_is_marked_partial(post):
    partial = Posterior(post.draws, chains=2, method="nuts", interrupted=True)
    text = report_html(partial)
    assert 'class="partial">INTERRUPTED (partial)' in text and "<td>INTERRUPTED (partial)</td>" in text


def test_highlight_escapes_everything():
    src = 'x ~ normal(0, 1) # a < b & "c"\ny = "<s>"'
    out = highlight(src)
    assert html.unescape(re.sub(r"</?span[^>]*>", "", out)) == src
    assert "<s>" not in out and '<span class="o">~</span>' in out and '<span class="n">0</span>' in out


@pytest.mark.parametrize("name, message", [("r.txt", "unknown file type `.txt`"), ("no/r.html", "does not exist")])
def test_bad_report_paths_are_refused(tmp_path, name, message):
    with pytest.raises(AuguryError, match=re.escape(message)):
        check_report_path(tmp_path / name)
