"""The particle diffusion samplers split their particles over four devices and give the same
answer: a child process whose JAX sees 4 forced host devices runs tds and ensemble on the
two-mode problem (mcgdiff runs in the same weighted loop), and its draws, weights and log evidence match this process's one-device
runs (the random numbers do not depend on the sharding; float32 sums may round differently
across devices, hence the tolerances)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
import two_modes  # noqa: E402

# the loop (weights, resampling, evidence) is shared: two methods with different steps cover it
RUNS = [("tds", {}), ("ensemble", {"variant": "sde"})]

CHILD = """
import json, sys
sys.path.insert(0, {here!r})
import jax, numpy as np, augury, two_modes
assert jax.device_count() == 4, jax.devices()
model = augury.compile(two_modes.SOURCE)
out = []
for method, extra in {runs!r}:
    post = model.sample(two_modes.DATA, method=method, particles=256, steps=40, seed=3, **extra)
    out.append({{"x": post.samples("x").tolist(), "w": post.weights.tolist(), "z": post.log_evidence,
                 "devices": post.settings.get("devices")}})
print("RESULT" + json.dumps(out))
"""


@pytest.mark.extended  # 70 s; smc's and the particle filter's four-device tests run in CI
def test_particle_methods_give_the_same_answer_on_four_devices():
    import augury
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", CHILD.format(here=str(HERE), runs=RUNS)], env=env,
                         capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr[-3000:]
    four = json.loads(res.stdout.split("RESULT", 1)[1])
    model = augury.compile(two_modes.SOURCE)
    for (method, extra), other in zip(RUNS, four):
        post = model.sample(two_modes.DATA, method=method, particles=256, steps=40, seed=3, **extra)
        w4, x4 = np.asarray(other["w"]), np.asarray(other["x"])
        # the same posterior: mode weights and log evidence, to float32 rounding of the particles' paths
        m1 = two_modes.mode_weights(post.samples("x"), post.weights)
        m4 = two_modes.mode_weights(x4, w4)
        assert np.allclose(m1, m4, atol=1e-3), (method, extra, m1, m4)
        assert abs(post.log_evidence - other["z"]) < 1e-3, (method, extra, post.log_evidence, other["z"])
        close = np.mean(np.all(np.abs(post.samples("x") - x4) < 1e-3, axis=1))
        assert close > 0.99, (method, extra, close)  # the same particles, not only the same distribution
