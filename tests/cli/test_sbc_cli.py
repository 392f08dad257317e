"""`augury sbc`: refusals before anything runs, the table and files, loud failures, Ctrl-C.

The default tier replaces the method by a test double (exact or too narrow conjugate posterior
draws made with NumPy; tests/runtime/test_sbc.py has the statistics); the slow tier runs NUTS
for real in a subprocess and interrupts it.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from augury.cli import main
from augury import sbc_loop
from augury.runtime.posterior import Posterior

ROOT = Path(__file__).resolve().parents[2]
MODEL = """model normal_normal
data y : real[N]
param mu : real
mu ~ normal(1, 2)
y ~ normal(mu, 1.5)
"""


def exact(y: np.ndarray) -> tuple[float, float]:
    prec = 1 / 4 + len(y) / 1.5 ** 2
    return (1 / 4 + np.sum(y) / 1.5 ** 2) / prec, prec ** -0.5


def double(scale: float):
    """A stand-in for the method: conjugate posterior draws with the sd times `scale`."""
    def runner(model, method, prior, drawn, base, consts, precision, settings):
        def run(i, seed):
            m, s = exact(prior.samples("y")[i])
            return Posterior({"mu": np.random.default_rng(seed).normal(m, scale * s, 200)}, method=method)
        return run, False, "test double"
    return runner


@pytest.fixture
def model_file(tmp_path):
    f = tmp_path / "nn.aug"
    f.write_text(MODEL)
    (tmp_path / "nn.json").write_text(json.dumps({"N": 5}))  # the default data: the size only
    return f


def test_refused_before_anything_runs(model_file, tmp_path, capsys):
    assert main(["sbc", str(model_file), "--runs", "1"]) == 1
    assert "SBC needs `runs` to be an integer of at least 2" in capsys.readouterr().err
    assert main(["sbc", str(model_file), "--draws", "0"]) == 1
    assert "`draws`" in capsys.readouterr().err
    (tmp_path / "afile").write_text("")
    assert main(["sbc", str(model_file), "--out", str(tmp_path / "afile")]) == 1
    assert "is a file" in capsys.readouterr().err
    assert main(["sbc", str(ROOT / "examples" / "inpaint_digits.aug"), "--method", "ddrm"]) == 1
    err = capsys.readouterr().err
    assert "SBC cannot draw from this model's prior" in err and "only implicit" in err and "Traceback" not in err
    assert main(["sbc", str(model_file), "--set", "samplez=3"]) == 1
    assert "samplez" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["sbc", str(model_file), "--runs", "many"])
    assert e.value.code == 2


def test_table_files_and_loud_failures(model_file, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(sbc_loop, "_runner", double(1.0))
    out = tmp_path / "sbc"
    assert main(["sbc", str(model_file), "--runs", "60", "--draws", "19", "--no-progress", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("SBC of `nuts`: 60 runs, 19 draws per run ranked, 12 bins")
    assert re.search(r"^mu\s+\S+\s+ok$", cap.out, re.M), cap.out
    assert "using data from" in cap.err and "SBC FAILED" not in cap.err
    z = np.load(out / "ranks.npz")
    assert z["ranks.mu"].shape == (60,) and z["ranks.mu"].max() <= 19 and int(z["draws"]) == 19
    assert (out / "ranks.png").stat().st_size > 1000
    # a posterior half as wide: ranks piled at both ends, failed and explained on stderr, still exit 0
    monkeypatch.setattr(sbc_loop, "_runner", double(0.5))
    assert main(["sbc", str(model_file), "--runs", "60", "--draws", "19", "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert re.search(r"^mu\s+\S+\s+FAIL: too narrow$", cap.out, re.M), cap.out
    assert "warning: SBC FAILED for 1 of 1 parameter elements" in cap.err
    assert "under-dispersed" in cap.err


MOVED = re.compile(r"sbc \(nuts\):\s+\d+%\|[^|]*\|\s*([1-9]\d*)/")


@pytest.mark.extended
def test_ctrl_c_keeps_the_runs_done(tmp_path):
    """SIGINT once some runs are done: exit 130 within seconds, the table of the runs done marked
    partial, ranks.npz written, no traceback."""
    env = dict(os.environ, AUGURY_PROGRESS="1")
    cmd = [sys.executable, "-m", "augury", "sbc", str(ROOT / "examples" / "eight_schools.aug"), "--method", "nuts",
           "--runs", "2000", "--draws", "19", "--set", "warmup=100", "--set", "samples=100", "--set", "chains=1",
           "--out", str(tmp_path / "out")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path))
    err = b""
    try:
        t0 = time.monotonic()
        while not MOVED.search(err.decode(errors="replace")):
            assert time.monotonic() - t0 < 300 and p.poll() is None, err.decode()[-2000:]
            if select.select([p.stderr], [], [], 1.0)[0]:
                err += os.read(p.stderr.fileno(), 65536)
        t1 = time.monotonic()
        p.send_signal(signal.SIGINT)
        stdout, rest = p.communicate(timeout=120)
        elapsed = time.monotonic() - t1
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    stderr = (err + rest).decode(errors="replace")
    assert p.returncode == 130, (stdout.decode()[-1000:], stderr[-3000:])
    assert elapsed < 20, elapsed
    assert "Traceback" not in stderr and "internal error" not in stderr
    first = stdout.decode().splitlines()[0]
    done = int(re.search(r"(\d+) runs of 2000 \(INTERRUPTED: partial\)", first).group(1))
    assert done >= 1
    assert np.load(tmp_path / "out" / "ranks.npz")["ranks.mu"].shape == (done,)
