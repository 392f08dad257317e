"""The exact test of SMC² (against Kalman quadrature, smc2_exact_cases.py) passes on four
devices: it runs here in a child process whose JAX sees 4 forced host
devices, so SMC² splits its parameter particles over them (PMMH runs one chain on one device,
so its test is not repeated here).  (smc and particle_filter compare their 4-device runs with 1-device runs number by
number in their own test files.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

CHILD = """
import augury, jax, sys, pytest
assert jax.device_count() == 4, jax.devices()
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-m", "", "--rootdir", {root!r}, {target!r}]))
"""


@pytest.mark.extended  # 55 s; smc's and the particle filter's four-device tests run in CI
def test_smc2_passes_its_exact_test_on_four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    code = CHILD.format(root=str(ROOT), target=str(HERE / "smc2_exact_cases.py"))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                         cwd=str(ROOT))
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "1 passed" in res.stdout
