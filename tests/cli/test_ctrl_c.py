"""Ctrl-C on `augury run`, for real: a subprocess per method family gets SIGINT once it is
sampling (its progress bar has moved, AUGURY_PROGRESS=1) and must exit 130 within seconds, with
no traceback, its --out file written and marked partial where the method had made draws.

The default tier runs NUTS twice (while sampling, and while compiling: where Python's own
handler made the process crash at exit); the other families are @slow (each run imports JAX
and compiles its sampler: about 10 s apiece here).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
# a moved bar: "| 250/8000 [" (a known total) or ": 3it [" (smc's adaptive count)
MOVED = re.compile(r"\|\s*[1-9]\d*/\d+ \[|: [1-9]\d*it \[")
ANSWER_S = 20.0  # from SIGINT to exit: the current block, the posterior's summary and file (a loaded CI machine)


def run_and_interrupt(args: list[str], out: Path, *, when=MOVED, timeout: float = 300.0):
    """Start `augury run ARGS --out OUT`, send SIGINT once stderr matches `when` (a regex; a
    float: that many seconds after the start); return (exit code, stdout, stderr, seconds from
    the signal to the exit)."""
    env = dict(os.environ, AUGURY_PROGRESS="1")
    cmd = [sys.executable, "-m", "augury", "run", *[str(a) for a in args], "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(out.parent))
    err = b""
    try:
        t0 = time.monotonic()
        while isinstance(when, float) and time.monotonic() - t0 < when and p.poll() is None:
            time.sleep(0.05)
        while not isinstance(when, float) and not when.search(err.decode(errors="replace")):
            assert time.monotonic() - t0 < timeout, f"no progress in {timeout} s: {err.decode()[-2000:]}"
            ready, _, _ = select.select([p.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(p.stderr.fileno(), 65536)
                assert chunk or p.poll() is None, f"ended before sampling: {err.decode()[-2000:]}"
                err += chunk
        assert p.poll() is None, f"ended before the signal: {err.decode()[-2000:]}"
        t1 = time.monotonic()
        p.send_signal(signal.SIGINT)
        stdout, rest = p.communicate(timeout=ANSWER_S + 60)
        elapsed = time.monotonic() - t1
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return p.returncode, stdout.decode(), (err + rest).decode(errors="replace"), elapsed


def assert_stopped(rc: int, stdout: str, stderr: str, elapsed: float, out: Path, has_draws: bool):
    assert rc == 130, (rc, stdout[-1000:], stderr[-3000:])
    assert elapsed < ANSWER_S, elapsed
    assert "Traceback" not in stderr and "internal error" not in stderr and "Exception ignored" not in stderr, \
        stderr[-3000:]
    if has_draws:
        import augury
        assert "INTERRUPTED (partial)" in stdout.splitlines()[0], stdout[:500]
        post = augury.load_posterior(out)
        assert post.interrupted and post.num_samples > 0
    else:
        assert not out.exists()


def test_nuts_keeps_the_draws_made(tmp_path):
    out = tmp_path / "post.npz"
    rc, stdout, stderr, elapsed = run_and_interrupt(
        [EX / "eight_schools.aug", "--set", "warmup=100", "--set", "samples=300000", "--set", "chains=1"], out)
    assert_stopped(rc, stdout, stderr, elapsed, out, has_draws=True)
    kept = int(stdout.split("1 chain × ")[1].split(" draws")[0])
    assert 0 < kept < 300_000 and "warning: interrupted:" in stderr
    import augury
    assert augury.load_posterior(out).draws["mu"].shape == (1, kept)


def test_nuts_stopped_while_compiling_exits_130_at_once(tmp_path):
    """SIGINT as the sampler starts compiling (the bar is drawn at 0): nothing to keep, exit
    130 within the watchdog's few seconds (the compilation is not waited for) and no crash."""
    out = tmp_path / "post.npz"
    rc, stdout, stderr, elapsed = run_and_interrupt(
        [EX / "eight_schools.aug", "--set", "samples=100000"], out, when=re.compile(r"\| 0/\d+ \["))
    assert_stopped(rc, stdout, stderr, elapsed, out, has_draws=False)
    assert elapsed < 10.0 and "interrupted" in stderr


SLOW_CASES = {
    # method: (arguments, whether the run has draws when the signal comes[, when to send it])
    "smc": ([EX / "regression_evidence.aug", "--set", "particles=20000", "--set", "target_ess=0.995",
             "--set", "max_temperatures=100000"], True),
    # after the first block of 50 time steps (the bar's first move is the initial step alone)
    "particle_filter": ([EX / "stochastic_volatility.aug", "--set", "particles=50000", "--set", "paths=1000"], True,
                        re.compile(r"\|\s*51/200 \[")),
    "pmmh": ([EX / "stochastic_volatility_params.aug", "--data", EX / "stochastic_volatility.json",
              "--set", "particles=100", "--set", "warmup=1000000", "--set", "chains=2"], False),  # in its warmup
    "gibbs": ([EX / "iris.aug", "--method", "gibbs", "--set", "sweeps=1000000", "--set", "warmup=10",
               "--set", "chains=1"], True),
    # the diffusion methods: the guidance (ddrm, dps, ...) and weighted-particle (tds, mcgdiff, ensemble)
    # loops share one block runner (runtime/reverse.py run_blocks) and its Ctrl-C; the denoised estimate is kept
    "ensemble": ([EX / "deblur_digits.aug", "--set", "steps=100000", "--set", "particles=16"], True),
    "prior": ([EX / "eight_schools.aug", "--method", "prior", "--set", "samples=50000000"], True),
}


@pytest.mark.slow  # and extended: tests/conftest.py, CI_LEAVES_OUT
@pytest.mark.parametrize("method", list(SLOW_CASES))
def test_every_method_family_stops_on_ctrl_c(method, tmp_path):
    args, has_draws, *when = SLOW_CASES[method]
    out = tmp_path / "post.nc"
    rc, stdout, stderr, elapsed = run_and_interrupt(args, out, when=when[0] if when else MOVED)
    assert_stopped(rc, stdout, stderr, elapsed, out, has_draws)
    if method in ("smc", "particle_filter", "ensemble"):  # stopped part-way: that normalizer is not the evidence
        assert "log evidence" not in stdout.splitlines()[0], stdout[:300]
