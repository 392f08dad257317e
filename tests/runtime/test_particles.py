"""The particle core (`augury.runtime.particles`): resampling schemes, ESS, conditional ESS,
adaptive tempering's next temperature, weighted moments, and the log evidence variance.

Monte Carlo checks allow 5 standard errors (each fails by chance with probability < 1e-6);
the seed moves with AUGURY_TEST_SEED."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from augury.runtime import particles

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))


# compiled once per shape (eagerly, the bisection's loop compiles at every call)
next_temperature = jax.jit(particles.next_temperature, static_argnames=("target", "iterations"))


def key(i: int):
    return jax.random.fold_in(jax.random.PRNGKey(SEED), i)


@pytest.mark.parametrize("scheme", ["multinomial", "systematic", "stratified", "residual"])
def test_resampling_counts_are_unbiased(scheme):
    """E[number of copies of particle i] = N W_i: the mean counts over K keys within 5 standard
    errors, from the multinomial variance N W_i (1 − W_i), which bounds the others' (stratified
    and residual: Douc, Cappé & Moulines 2005; systematic: its count is N W_i rounded down or up,
    variance f (1 − f) ≤ N W_i (1 − W_i) with f the fractional part)."""
    n, k = 12, 20000
    rng = np.random.default_rng(SEED)
    w = rng.gamma(0.7, size=n)
    w[3] = 0.0  # a particle with no weight is never picked
    w /= w.sum()
    resample = particles.resampler(scheme)
    with jax.enable_x64(True):
        w_j = jnp.asarray(w)
        idx = jax.jit(jax.vmap(lambda kk: resample(kk, w_j, n)))(jax.random.split(key(1), k))
    idx = np.asarray(idx)
    assert idx.shape == (k, n) and idx.min() >= 0 and idx.max() < n
    counts = np.stack([np.bincount(row, minlength=n) for row in idx])
    assert np.all(counts[:, 3] == 0)
    se = np.sqrt(n * w * (1 - w) / k)
    assert np.all(np.abs(counts.mean(0) - n * w) <= 5 * se + 1e-12), (counts.mean(0), n * w, 5 * se)
    if scheme == "systematic":  # every count is N W_i rounded down or up
        assert np.all(np.abs(counts - n * w) < 1 + 1e-9)


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="systematic"):
        particles.resampler("bootstrap")


def test_ess_and_normalize():
    with jax.enable_x64(True):
        log_w = jnp.log(jnp.array([1.0, 1.0, 2.0, 0.0]))
        log_W, total = particles.normalize(log_w)
        assert np.isclose(float(total), math.log(4.0))
        assert np.isclose(float(jnp.sum(jnp.exp(log_W))), 1.0)
        assert np.isclose(float(particles.ess(log_w)), 16.0 / 6.0)  # (Σw)² / Σw²
        assert np.isclose(float(particles.ess(log_w + 1000.0)), 16.0 / 6.0)  # no overflow
        assert np.isclose(float(particles.ess(jnp.zeros(7))), 7.0)


def test_conditional_ess_equals_ess_under_uniform_weights():
    n = 500
    with jax.enable_x64(True):
        incr = 3.0 * jax.random.normal(key(2), (n,))
        uniform = jnp.full(n, -math.log(n))
        assert np.isclose(float(particles.conditional_ess(uniform, incr)), float(particles.ess(incr)), rtol=1e-12)
        # and in general N (Σ W w)² / Σ W w²
        log_W, _ = particles.normalize(jax.random.normal(key(3), (n,)))
        W, w = np.exp(np.asarray(log_W)), np.exp(np.asarray(incr))
        assert np.isclose(float(particles.conditional_ess(log_W, incr)), n * (W @ w) ** 2 / (W @ w ** 2), rtol=1e-10)


@pytest.mark.parametrize("uniform", [True, False])
def test_next_temperature_hits_the_cess_target(uniform):
    n, target = 1000, 0.5
    with jax.enable_x64(True):
        ll = -50.0 * jnp.abs(jax.random.normal(key(4), (n,)))  # far from the prior: several steps
        log_W = jnp.full(n, -math.log(n)) if uniform else particles.normalize(jax.random.normal(key(5), (n,)))[0]
        lam = jnp.float64(0.1)
        new = next_temperature(log_W, ll, lam, target=target)
        assert 0.1 < float(new) < 1.0
        cess = float(particles.conditional_ess(log_W, (new - lam) * ll)) / n
        assert abs(cess - target) < 1e-9  # bisection to float resolution
        assert cess >= target  # from the safe side


def test_next_temperature_returns_one_when_possible():
    n = 200
    with jax.enable_x64(True):
        ll = 1e-3 * jax.random.normal(key(6), (n,))  # a likelihood that barely varies
        new = next_temperature(jnp.full(n, -math.log(n)), ll, jnp.float64(0.3), target=0.5)
        assert float(new) == 1.0
        # a likelihood -inf on some particles: they get weight 0, the rest decide
        ll = jnp.where(jnp.arange(n) < 10, -jnp.inf, 0.0)
        assert float(next_temperature(jnp.full(n, -math.log(n)), ll, jnp.float64(0.0), target=0.5)) == 1.0


def test_next_temperature_never_stands_still():
    n = 100
    with jax.enable_x64(True):
        # one particle keeps all the weight for any step: the CESS is 1 at every λ' > λ
        ll = jnp.where(jnp.arange(n) == 0, 0.0, -1e300)
        for lam in (0.0, 0.5, 1.0 - 1e-10):
            new = float(next_temperature(jnp.full(n, -math.log(n)), ll, jnp.float64(lam), target=0.5))
            assert lam < new <= 1.0
        # and NaN log likelihoods count as −∞, not as a reason to stop
        ll = jnp.where(jnp.arange(n) < 5, jnp.nan, -jnp.abs(jax.random.normal(key(7), (n,))))
        new = float(next_temperature(jnp.full(n, -math.log(n)), ll, jnp.float64(0.0), target=0.5))
        assert 0.0 < new <= 1.0 and math.isfinite(new)


def test_weighted_mean_cov_matches_numpy():
    rng = np.random.default_rng(SEED)
    x, w = rng.normal(size=(50, 3)), rng.random(50)
    w /= w.sum()
    with jax.enable_x64(True):
        mean, cov = particles.weighted_mean_cov(jnp.asarray(x), jnp.asarray(w))
    assert np.allclose(mean, w @ x)
    assert np.allclose(cov, np.cov(x.T, aweights=w, bias=True))


def test_log_evidence_variance_is_zero_for_equal_weights_and_distinct_eves():
    n = 64
    with jax.enable_x64(True):
        v = particles.log_evidence_variance(jnp.full(n, 1.0 / n), jnp.arange(n), 0)
    assert abs(float(v)) < 1e-12


def test_log_evidence_variance_is_the_importance_sampling_one_without_resampling():
    """No resampling: Ẑ is a plain importance-sampling mean of N i.i.d. weights, whose relative
    variance has the unbiased estimate s²/(N w̄²) = (N ΣW² − 1)/(N − 1); Var(log Ẑ) ≈ log(1 + it)."""
    n = 300
    rng = np.random.default_rng(SEED)
    w = rng.lognormal(0.0, 1.0, n)
    rel = w.var(ddof=1) / (n * w.mean() ** 2)
    W = w / w.sum()
    assert np.isclose(rel, (n * np.sum(W ** 2) - 1) / (n - 1))
    with jax.enable_x64(True):
        v = particles.log_evidence_variance(jnp.asarray(W), jnp.arange(n), 0)
        v2 = particles.log_evidence_variance(jnp.asarray(W), jnp.arange(n), 0, log_factor=math.log(n / (n - 1)))
    assert np.isclose(float(v), math.log1p(rel), rtol=1e-10)
    assert np.isclose(float(v2), float(v), rtol=1e-12)


def test_log_evidence_variance_counts_resamplings_and_shared_eves():
    n = 10
    with jax.enable_x64(True):
        W = jnp.full(n, 1.0 / n)
        eve = jnp.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
        # S_k = 0.2 for 5 Eves: Σ S² = 0.2; r = 1: V = 1 − (10/9)² · 0.8
        expected = math.log1p(1 - (10 / 9) ** 2 * 0.8)
        assert np.isclose(float(particles.log_evidence_variance(W, eve, 1)), expected)
        assert int(particles.distinct_eves(eve)) == 5
        assert np.isclose(float(particles.eve_share_squares(W, eve)), 0.2)
        # one Eve left: V = 1, whatever the resamplings (the estimate has collapsed)
        assert np.isclose(float(particles.log_evidence_variance(W, jnp.zeros(n, jnp.int32), 4)), math.log(2.0))
