"""The mixture methods on four devices: the points are sharded over 4 forced host devices
(a child process, since the device count is fixed when JAX starts) and the N = 8 exact tests of
gibbs and split_merge (exact_sharded_cases.py) pass there too; EM gives the same fit as on one device, and the
data really were split across the devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mixture_models import GAUSSIAN_MIXTURE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

SAME_ANSWER = r"""
import json, sys
import jax, numpy as np
import augury
from augury.runtime.mixtures.sharding import shard_points
x = shard_points(np.zeros((16, 2)))
devices = len(x.sharding.device_set) if hasattr(x, "sharding") else 1
rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(size=(40, 2)) + c for c in ([0, 0], [6, 0], [0, 6])])
src = GAUSSIAN_MIXTURE_TEXT
m = augury.compile(src)
out = {"devices": devices}
for method in ("em",):
    post = m.sample({"X": X}, method=method, seed=3)
    order = np.argsort(post.mean("mu")[:, 0])
    out[method] = {"mu": post.mean("mu")[order].tolist(), "w": post.mean("w")[order].tolist()}
print("RESULT" + json.dumps(out))
"""


def _child(code: str, devices: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                          cwd=str(ROOT))


def _result(res) -> dict:
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(s for s in res.stdout.splitlines() if s.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.mark.extended  # 25 s
def test_em_fits_the_same_on_one_and_four_devices():
    code = SAME_ANSWER.replace("GAUSSIAN_MIXTURE_TEXT", repr(GAUSSIAN_MIXTURE))
    one, four = _result(_child(code, 1)), _result(_child(code, 4))
    assert one["devices"] == 1 and four["devices"] == 4
    for method in ("em",):
        for key in ("mu", "w"):
            a, b = one[method][key], four[method][key]
            # only the order of floating-point sums differs
            assert max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra if isinstance(ra, list) else [ra],
                                                                          rb if isinstance(rb, list) else [rb])) < 1e-6


EXACT = """
import augury, jax, sys, pytest
assert jax.device_count() == 4, jax.devices()
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-m", "", "--rootdir", {root!r}, {target!r}]))
"""


@pytest.mark.extended  # 130 s; smc's and the particle filter's four-device tests run in CI
def test_the_exact_tests_of_gibbs_and_split_merge_pass_on_four_devices():
    code = EXACT.format(root=str(ROOT), target=str(HERE / "exact_sharded_cases.py"))
    res = _child(code, 4)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "3 passed" in res.stdout
