"""SMC² against the exact posterior and evidence of test_pmmh_smc2.py's linear-Gaussian chain
(Kalman quadrature).  Only test_four_devices.py runs this file, in a child whose JAX sees 4 forced
host devices, so SMC² splits its θ-particles over them; its name keeps pytest from collecting it
on one device as well (the same test twice cost 30 s of the slow tier; the code is the same)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # kalman.py
from test_pmmh_smc2 import SEED, case  # noqa: E402,F401  (`case`: the fixture)


def test_smc2_log_evidence_and_posterior(case):
    model, data, exact = case
    post = model.sample(data, method="smc2", seed=SEED, particles=400, state_particles=100, resample="multinomial",
                        ess_threshold=0.8)
    sd = post.log_evidence_sd
    assert sd is not None and 0 < sd < 0.5
    # Lee & Whiteley's estimate is consistent for multinomial resampling; 5 estimated sd, with a
    # floor of 0.1 nats for the error of the estimate itself at this particle count
    assert abs(post.log_evidence - exact["log_z"]) < 5 * max(sd, 0.1), (post.log_evidence, exact["log_z"], sd)
    ess = float(post.diagnostics["ess"])
    for name in ("a", "s"):
        # the θ-particles are correlated after resampling and moves: allow an effective sample of
        # a quarter of the weights' ESS, and 5 standard errors
        tol = 5 * exact[f"sd_{name}"] / np.sqrt(ess / 4)
        assert abs(float(post.mean(name)) - exact[f"mean_{name}"]) < tol, (name, float(post.mean(name)), exact, tol)
    T = 30
    assert post.sample_stats["ess"].shape == (T - 1,)
    assert post.sample_stats["filtering_mean"].shape == (T - 1,)
    assert post.sample_stats["resampled"].any()
