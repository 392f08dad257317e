"""`augury run --checkpoint PATH [--checkpoint-every N]` and `augury run --resume PATH`, for real:
a run stopped by SIGINT (exit 130, the checkpoint written where it stopped) and one killed by
SIGKILL (the last periodic checkpoint intact: it is written atomically) are resumed, and their
saved draws equal an uninterrupted run's with the same seed, exactly.  The subprocess test is
slow (five runs of NUTS on eight schools); the refusals run in process before any sampling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from augury.cli import main

ROOT = Path(__file__).resolve().parents[2]
EIGHT = str(ROOT / "examples" / "eight_schools.aug")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ctrl_c import run_and_interrupt  # noqa: E402

SETTINGS = ["--seed", "5", "--set", "warmup=1000", "--set", "samples=1000", "--set", "chains=4"]


def _augury(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augury", "run", *map(str, args), "--no-progress"],
                          capture_output=True, text=True, cwd=str(cwd), timeout=600)


def _same_draws(a: Path, b: Path) -> None:
    from augury.runtime.posterior import load_posterior
    pa, pb = load_posterior(a), load_posterior(b)
    assert not pa.interrupted and not pb.interrupted
    assert sorted(pa.names) == sorted(pb.names)
    for v in pa.names:
        np.testing.assert_array_equal(pa.samples(v), pb.samples(v), err_msg=v)


@pytest.mark.slow
def test_sigint_and_sigkill_then_resume_give_the_uninterrupted_draws(tmp_path):
    full = tmp_path / "full.npz"
    done = _augury(EIGHT, *SETTINGS, "--out", full, cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    # SIGINT: exit 130, the partial posterior and the checkpoint of where it stopped
    ck = tmp_path / "run.ckpt.npz"
    code, _, err, _ = run_and_interrupt([EIGHT, *SETTINGS, "--checkpoint", ck], tmp_path / "part.npz")
    assert code == 130, err
    assert ck.is_file() and f"checkpoint: saved step" in err and "Traceback" not in err
    resumed = _augury(EIGHT, *SETTINGS, "--resume", ck, "--out", tmp_path / "resumed.npz", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    _same_draws(full, tmp_path / "resumed.npz")

    # SIGKILL once a periodic checkpoint exists: no handler runs; the file written before is whole
    ck2 = tmp_path / "killed.ckpt.npz"
    p = subprocess.Popen([sys.executable, "-m", "augury", "run", EIGHT, *SETTINGS, "--checkpoint", str(ck2),
                          "--checkpoint-every", "100", "--no-progress", "--out", str(tmp_path / "never.npz")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path))
    try:
        t0 = time.monotonic()
        while not ck2.exists():
            assert p.poll() is None, p.stderr.read().decode()[-2000:]
            assert time.monotonic() - t0 < 300, "no checkpoint written in 300 s"
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        p.stderr.close()
    assert p.returncode == -signal.SIGKILL and not (tmp_path / "never.npz").exists()
    again = _augury(EIGHT, *SETTINGS, "--resume", ck2, "--out", tmp_path / "again.npz", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    _same_draws(full, tmp_path / "again.npz")


def test_a_missing_checkpoint_or_another_seed_is_refused_before_sampling(tmp_path, capsys):
    assert main(["run", EIGHT, "--resume", str(tmp_path / "none.npz"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"no checkpoint `{tmp_path / 'none.npz'}` to resume" in err and "Traceback" not in err
    assert main(["run", EIGHT, "--checkpoint-every", "10", "--no-progress"]) == 1
    assert "`checkpoint_every` needs `checkpoint`" in capsys.readouterr().err
    assert main(["run", EIGHT, "--checkpoint", str(tmp_path / "no" / "c.npz"), "--no-progress"]) == 1
    assert "no folder" in capsys.readouterr().err
