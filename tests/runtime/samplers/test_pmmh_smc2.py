"""PMMH and SMC² on a linear-Gaussian chain with two static parameters, against the exact
posterior: for fixed (a, s) the Kalman filter gives p(y | a, s) exactly, so the posterior of
(a, s) and the evidence follow by quadrature on a grid.  SMC²'s test is in smc2_exact_cases.py,
run on four devices only (test_four_devices.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

import augury
from kalman import kalman

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))

# the smc2 example: a noisy AR(1) with unknown coefficient `a` and innovation scale `s`
MODEL = (Path(__file__).resolve().parents[3] / "examples" / "ar1_noisy.aug").read_text()


def _scalar_kalman_log_likelihood(y, a, q):
    """log p(y | a, q) of x0 ~ N(0, 1), x[t] = a x[t-1] + N(0, q), y[t] = x[t] + N(0, 1), for arrays
    of (a, q) at once."""
    m, P = np.zeros(np.broadcast(a, q).shape), np.ones(np.broadcast(a, q).shape)
    total = np.zeros_like(m)
    for t, yt in enumerate(y):
        if t:
            m, P = a * m, a * a * P + q
        S = P + 1.0
        total += -0.5 * (np.log(2 * np.pi * S) + (yt - m) ** 2 / S)
        K = P / S
        m, P = m + K * (yt - m), (1 - K) * P
    return total


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(123)
    T = 30
    x = np.zeros(T)
    x[0] = rng.normal()
    for t in range(1, T):
        x[t] = 0.8 * x[t - 1] + 0.6 * rng.normal()
    y = x + rng.normal(size=T)
    A = np.linspace(0.0005, 0.9995, 200)
    S = np.linspace(0.002, 4.0, 200)
    L = _scalar_kalman_log_likelihood(y, A[:, None], S[None, :] ** 2)
    # the vectorized filter agrees with the general one (tests/runtime/kalman.py) at a grid point
    assert L[50, 60] == pytest.approx(kalman(y, [[A[50]]], [[S[60] ** 2]], [[1.0]], [[1.0]], [0.0], [[1.0]]).log_likelihood)
    J = L + st.beta(2, 2).logpdf(A)[:, None] + st.halfnorm().logpdf(S)[None, :]
    top = J.max()
    w = np.exp(J - top)
    cell = (A[1] - A[0]) * (S[1] - S[0])
    pa, ps = w.sum(1) / w.sum(), w.sum(0) / w.sum()
    exact = dict(log_z=float(np.log(w.sum() * cell) + top),
                 mean_a=float(pa @ A), sd_a=float(np.sqrt(pa @ A ** 2 - (pa @ A) ** 2)),
                 mean_s=float(ps @ S), sd_s=float(np.sqrt(ps @ S ** 2 - (ps @ S) ** 2)))
    return augury.compile(MODEL), {"y": y}, exact


@pytest.mark.slow
def test_pmmh_matches_the_exact_posterior(case):
    model, data, exact = case
    post = model.sample(data, method="pmmh", seed=SEED, particles=100, warmup=400, samples=800, chains=4)
    assert post.draws["a"].shape == (4, 800) and post.draws["x"].shape == (4, 800, 30)
    stats = post.element_stats()
    for name in ("a", "s"):
        ess = float(np.asarray(stats[name]["ess_bulk"]).min())
        assert ess > 100, (name, ess)
        # 5 Monte Carlo standard errors (sd/√ESS) plus the grid's quadrature error (< 1e-3)
        tol = 5 * exact[f"sd_{name}"] / np.sqrt(ess) + 1e-3
        assert abs(float(post.mean(name)) - exact[f"mean_{name}"]) < tol, (name, float(post.mean(name)), exact, tol)
    assert 0.05 < post.sample_stats["accepted"].mean() < 0.8
    assert post.settings["log_likelihood_sd"] < 1.5
