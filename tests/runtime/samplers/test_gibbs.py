"""Gibbs sampling for mixtures against exact posteriors.

Collapsed mode: on N = 7 points the posterior over partitions is enumerated exactly
(tests/runtime/mixtures/exact.py) and the sampler's frequencies of the number of occupied
components and of every pair sharing a component must match it within Monte Carlo error.
Blocked mode: with the labels observed, a blocked chain is a Gibbs chain on the component
parameters alone, whose exact posterior moments are 1-D integrals (computed on a grid here);
plus one end-to-end blocked fit of a well-separated mixture.

Tolerances: 5 Monte Carlo standard errors.  The standard error of a frequency is estimated by
batch means (each chain cut into 25 batches; the batch means' spread over all chains' batches
says how much the autocorrelated draws are worth) and never taken below the i.i.d. error
sqrt(p(1 − p)/M) of the exact probability p over the M draws (a positively correlated chain
cannot do better, and this keeps a rare event the sampler happened not to visit from getting
a zero tolerance).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from augury.runtime.mixtures.problem import GaussianPrior, MixtureProblem, VMFPrior, WeightPrior
from augury.runtime.samplers import gibbs

sys.path.insert(0, str(Path(__file__).parents[1] / "mixtures"))
import exact  # noqa: E402

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
BATCHES = 25
Z = 5.0


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _batch_se(x: np.ndarray) -> float:
    """The Monte Carlo standard error of the mean of x (chains, draws) by batch means."""
    c, d = x.shape
    b = d // BATCHES
    means = x[:, :b * BATCHES].reshape(c, BATCHES, b).mean(axis=2).ravel()
    return float(np.std(means, ddof=1) / np.sqrt(means.size))


def _assert_frequency(ind: np.ndarray, p: float, what: str) -> None:
    """The indicator draws ind (chains, draws) have mean p within Z standard errors."""
    se = max(_batch_se(ind.astype(float)), np.sqrt(p * (1 - p) / ind.size))
    est = float(ind.mean())
    assert abs(est - p) <= Z * se, f"{what}: sampler {est:.4f}, exact {p:.4f}, se {se:.4f}"


def _compare_to_exact(problem: MixtureProblem, res) -> None:
    parts, probs = exact.partition_posterior(problem)
    pmf = exact.num_blocks_pmf(parts, probs)
    co = exact.coclustering(parts, probs)
    z = res.draws["assignment"]                                   # (chains, draws, N)
    blocks = res.stats["num_components"]
    assert z.shape[:2] == blocks.shape
    for b in range(1, problem.N + 1):
        _assert_frequency(blocks == b, pmf.get(b, 0.0), f"P(#components = {b})")
    for i in range(problem.N):
        for j in range(i + 1, problem.N):
            _assert_frequency(z[..., i] == z[..., j], float(co[i, j]), f"P(z_{i} = z_{j})")
    # the responsibilities are the label frequencies
    np.testing.assert_allclose(res.responsibilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(res.responsibilities[:, 0], (z == 0).mean(axis=(0, 1)))


X1 = np.array([-2.1, -1.6, -0.7, 0.3, 1.0, 1.8, 2.3])[:, None]   # a posterior spread over 2–5 components
RUN = {"sweeps": 3000, "warmup": 200, "chains": 4}


def _unlabelled(n):
    return -np.ones(n, np.int32)


def test_collapsed_dp_known_covariance_matches_the_enumerated_posterior():
    N = X1.shape[0]
    prob = MixtureProblem(X=X1, labels=_unlabelled(N), K=N, family="gaussian",
                          weights=WeightPrior("dp", N, alpha=1.0),
                          gaussian=GaussianPrior("known_cov", m0=np.zeros(1), S0=4 * np.eye(1),
                                                 cov=np.tile(0.5 * np.eye(1), (N, 1, 1))))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED), RUN)
    assert res.info["mode"] == "collapsed" and not res.warnings
    assert set(res.draws) == {"assignment", "weights", "means"}
    assert res.draws["means"].shape == (4, RUN["sweeps"], N, 1)
    np.testing.assert_allclose(res.draws["weights"].sum(-1), 1.0)
    _compare_to_exact(prob, res)


@pytest.mark.slow
def test_collapsed_dp_niw_matches_the_enumerated_posterior():
    N = X1.shape[0]
    prob = MixtureProblem(X=X1, labels=_unlabelled(N), K=N, family="gaussian",
                          weights=WeightPrior("dp", N, alpha=1.0),
                          gaussian=GaussianPrior("niw", m0=np.zeros(1), kappa0=0.2, nu0=3.0, Psi0=0.5 * np.eye(1)))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED + 10), RUN)
    assert res.draws["covariances"].shape == (4, RUN["sweeps"], N, 1, 1)
    assert np.all(res.draws["covariances"] > 0)
    _compare_to_exact(prob, res)


def _sphere_points():
    """Seven points on S^2 in two loose groups around two directions 70° apart."""
    ang = np.deg2rad(np.array([0.0, 12.0, 30.0, 48.0, 62.0, 75.0, 88.0]))
    tilt = np.deg2rad(np.array([5.0, -10.0, 15.0, -5.0, 10.0, -15.0, 0.0]))
    X = np.stack([np.cos(ang) * np.cos(tilt), np.sin(ang) * np.cos(tilt), np.sin(tilt)], axis=1)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.slow
def test_collapsed_dp_vmf_fixed_kappa_matches_the_enumerated_posterior():
    X = _sphere_points()
    N = X.shape[0]
    prob = MixtureProblem(X=X, labels=_unlabelled(N), K=N, family="vmf", weights=WeightPrior("dp", N, alpha=1.0),
                          vmf=VMFPrior(m0=np.array([0.0, 0.0, 1.0]), tau0=0.5, kappa=8.0))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED + 20), RUN)
    means = res.draws["means"]
    np.testing.assert_allclose(np.linalg.norm(means, axis=-1), 1.0, atol=1e-9)
    _compare_to_exact(prob, res)


def _cluster_weights(res, point: int = 0):
    """(weight of `point`'s component, mass on the components no point occupies), per draw."""
    z, w = res.draws["assignment"], res.draws["weights"]
    own = np.take_along_axis(w, z[..., point:point + 1], axis=-1)[..., 0]
    occupied = (z[..., None, :] == np.arange(w.shape[-1])[:, None]).any(axis=-1)
    return own, np.where(occupied, 0.0, w).sum(axis=-1)


@pytest.mark.slow  # about 15 s of CPU with its compilation
def test_collapsed_dp_weights_match_the_exact_posterior_weight_of_a_points_cluster():
    """Given the partition the DP's weights are (π_1..π_B, π_new) ~ Dir(n_1..n_B, α), whatever
    the slots' order: E[π_{z_0}] = E[n_{b(0)}] / (N + α) (exact.cluster_weight_mean), and the
    empty slots hold α / (N + α) on average (K = 8 > N = 6: a slot is always free)."""
    X = np.concatenate([np.random.default_rng(SEED).normal(m, 0.7, (3, 2)) for m in (-1.0, 1.0)])
    N, K, alpha = 6, 8, 1.0
    prob = MixtureProblem(X=X, labels=_unlabelled(N), K=K, family="gaussian", weights=WeightPrior("dp", K, alpha=alpha),
                          gaussian=GaussianPrior("niw", m0=np.zeros(2), kappa0=0.5, nu0=4.0, Psi0=0.5 * np.eye(2)))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED + 40), {"sweeps": 1000, "warmup": 100, "chains": 4})
    parts, probs = exact.partition_posterior(prob)
    own, empty = _cluster_weights(res)
    _assert_mean(own, exact.cluster_weight_mean(prob, parts, probs), float(own.std()), "E[π_{z_0}]")
    _assert_mean(empty, alpha / (N + alpha), float(empty.std()), "E[mass of the empty slots]")


@pytest.mark.slow
@pytest.mark.parametrize("collapsed", [True, False])
def test_finite_dirichlet_with_observed_labels_matches_the_enumerated_posterior(collapsed):
    """Collapsed, and blocked on the same conjugate problem (`collapsed: False`: labels given the
    parameters and weights, weights given the labels, parameters given the labels): both exact."""
    N = X1.shape[0]
    labels = _unlabelled(N)
    labels[0], labels[5] = 2, 0                                       # two observed points, fixed
    prob = MixtureProblem(X=X1, labels=labels, K=3, family="gaussian",
                          weights=WeightPrior("dirichlet", 3, concentration=np.array([0.7, 1.0, 1.5])),
                          gaussian=GaussianPrior("niw", m0=np.zeros(1), kappa0=0.2, nu0=3.0, Psi0=0.5 * np.eye(1)))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED + 30), {**RUN, "collapsed": collapsed})
    assert res.info["mode"] == ("collapsed" if collapsed else "blocked")
    z = res.draws["assignment"]
    assert np.all(z[..., 0] == 2) and np.all(z[..., 5] == 0)
    _compare_to_exact(prob, res)
    # the observed components' labels: the frequencies of z_n = k themselves, not just the partition
    parts, probs = exact.partition_posterior(prob)
    for n in (1, 6):
        p_with_0 = sum(q for p, q in zip(parts, probs) if p[n] == p[0])
        _assert_frequency(z[..., n] == 2, p_with_0, f"P(z_{n} = 2)")
    # the weights given the labels, π ~ Dir(a + n): the weight of an unlabelled point's component
    own, _ = _cluster_weights(res, point=1)
    _assert_mean(own, exact.cluster_weight_mean(prob, parts, probs, point=1), float(own.std()), "E[π_{z_1}]")


# --------------------------------------------------------------------------- blocked

def _trapezoid_moments(log_density: np.ndarray, grid: np.ndarray, fs: list[np.ndarray]) -> list[float]:
    w = np.exp(log_density - log_density.max())
    z = np.trapezoid(w, grid)
    return [float(np.trapezoid(w * f, grid) / z) for f in fs]


def _assert_mean(x: np.ndarray, mean: float, sd: float, what: str) -> None:
    se = max(_batch_se(x), sd / np.sqrt(x.size))
    assert abs(float(x.mean()) - mean) <= Z * se, f"{what}: sampler {x.mean():.4f}, exact {mean:.4f}, se {se:.4f}"


@pytest.mark.slow
def test_blocked_gaussian_mu_sigma_gibbs_matches_the_exact_posterior_moments():
    """K = 1, labels observed: the blocked chain alternates μ | σ² and σ² | μ.  With μ ~ N(m0, s0²)
    and σ² ~ InvWishart(ν0, ψ0) = InvGamma(ν0/2, ψ0/2), μ integrates out in closed form, so
    p(σ² | X) ∝ IG(σ²) N(X; m0 1, σ² I + s0² 11ᵀ) is a 1-D integral (on a grid in log σ²) and
    E[μ | X] = E[E[μ | σ², X]]."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(1.5, 2.0, size=12)
    m0, s0, nu0, psi0 = 0.0, 1.0, 3.0, 2.0
    prob = MixtureProblem(X=x[:, None], labels=np.zeros(12, np.int32), K=1, family="gaussian",
                          weights=WeightPrior("fixed", 1, fixed=np.array([1.0])),
                          gaussian=GaussianPrior("independent", m0=np.array([m0]), S0=np.array([[s0 ** 2]]),
                                                 nu0=nu0, Psi0=np.array([[psi0]])))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED + 40), {"sweeps": 4000, "warmup": 100, "chains": 4})
    assert res.info["mode"] == "blocked"
    mu, var = res.draws["means"][..., 0, 0], res.draws["covariances"][..., 0, 0, 0]

    n, S, Q = x.size, x.sum(), (x ** 2).sum()
    lv = np.linspace(np.log(0.2), np.log(60.0), 6001)
    v = np.exp(lv)
    prec = n / v + 1 / s0 ** 2
    b = S / v + m0 / s0 ** 2
    log_lik = -0.5 * n * np.log(v) - Q / (2 * v) - 0.5 * np.log(prec) + b ** 2 / (2 * prec)
    log_ig = -(nu0 / 2 + 1) * np.log(v) - psi0 / (2 * v)
    logd = log_lik + log_ig + lv                                           # + log-grid Jacobian
    cond_mean = b / prec
    c, s = cond_mean, 1 / prec                                            # μ | σ², X ~ N(c, s)
    e_mu, e_mu2, e_mu4, e_v, e_v2 = _trapezoid_moments(
        logd, lv, [c, c ** 2 + s, c ** 4 + 6 * c ** 2 * s + 3 * s ** 2, v, v ** 2])
    _assert_mean(mu, e_mu, np.sqrt(e_mu2 - e_mu ** 2), "E[mu | X]")
    _assert_mean(mu ** 2, e_mu2, np.sqrt(e_mu4 - e_mu2 ** 2), "E[mu^2 | X]")
    _assert_mean(var, e_v, np.sqrt(e_v2 - e_v ** 2), "E[sigma^2 | X]")


def _log_c3(k):
    """log C_3(κ) = log κ − log 4π − log sinh κ (the vMF normalizer on S^2)."""
    k = np.asarray(k, float)
    return np.log(k) - np.log(4 * np.pi) - (k + np.log1p(-np.exp(-2 * k)) - np.log(2))


def _vmf_clouds(rng):
    def cloud(direction, spread, n):
        y = direction[None] + spread * rng.normal(size=(n, 3))
        return y / np.linalg.norm(y, axis=1, keepdims=True)
    X = np.concatenate([cloud(np.array([1.0, 0, 0]), 0.35, 10), cloud(np.array([0, 1.0, 0]), 0.6, 8)])
    return X, np.repeat([0, 1], [10, 8]).astype(np.int32)


KAPPA_GRID = np.linspace(1e-3, 80.0, 40001)


@pytest.mark.slow
def test_blocked_vmf_gamma_kappa_matches_the_exact_posterior_of_kappa():
    """Two components with observed labels, one κ each: the blocked chain alternates μ_k | κ_k and
    the slice step on κ_k | μ_k.  μ_k ~ vMF(m0, τ0) integrates out, so
    p(κ_k | X_k) ∝ Gamma(κ_k; a, b) C(κ_k)^{n_k} C(τ0) / C(|τ0 m0 + κ_k s1_k|), a 1-D grid integral."""
    X, labels = _vmf_clouds(np.random.default_rng(SEED + 1))
    a, b, tau0, m0 = 2.0, 0.2, 1.0, np.array([0.0, 0.0, 1.0])
    prob = MixtureProblem(X=X, labels=labels, K=2, family="vmf", weights=WeightPrior("fixed", 2, fixed=np.array([0.6, 0.4])),
                          vmf=VMFPrior(m0=m0, tau0=tau0, kappa_shape=a, kappa_rate=b))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED + 50), {"sweeps": 3000, "warmup": 100, "chains": 4})
    kap = res.draws["concentration"]                                       # (chains, draws, K)
    assert res.info["mode"] == "blocked" and np.all(kap > 0)
    assert res.draws["means"].shape == (4, 3000, 2, 3) and np.all(np.isfinite(res.stats["log_joint"]))
    for k in range(2):
        Xk = X[labels == k]
        r = np.linalg.norm(tau0 * m0[None] + KAPPA_GRID[:, None] * Xk.sum(0)[None], axis=1)
        logd = (a - 1) * np.log(KAPPA_GRID) - b * KAPPA_GRID + len(Xk) * _log_c3(KAPPA_GRID) - _log_c3(r)
        m, m2 = _trapezoid_moments(logd, KAPPA_GRID, [KAPPA_GRID, KAPPA_GRID ** 2])
        _assert_mean(kap[..., k], m, np.sqrt(m2 - m ** 2), f"E[kappa_{k} | X]")


def test_pooled_kappa_slice_step_leaves_its_conditional_invariant():
    """`kappa_shared`: one κ for both components.  With μ fixed, iterating the pooled slice step
    alone must sample p(κ | μ, X) ∝ Gamma(κ; a, b) C(κ)^N exp(κ Σ_k μ_kᵀ s1_k) (a 1-D integral)."""
    X, labels = _vmf_clouds(np.random.default_rng(SEED + 3))
    a, b = 2.0, 0.2
    vp = VMFPrior(m0=np.array([0.0, 0.0, 1.0]), tau0=1.0, kappa_shape=a, kappa_rate=b, kappa_shared=True)
    mu = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    n = np.bincount(labels).astype(float)
    s1 = np.stack([X[labels == k].sum(0) for k in range(2)])

    @jax.jit
    def chain(key):
        def step(kap, k):
            kap = gibbs._kappa_update(vp, 3, jax.numpy.asarray(n), jax.numpy.asarray(s1), jax.numpy.asarray(mu), kap, k)
            return kap, kap[0]
        return jax.lax.scan(step, jax.numpy.full(2, 5.0), jax.random.split(key, 4000))[1]
    draws = np.asarray(jax.vmap(chain)(jax.random.split(jax.random.PRNGKey(SEED + 70), 4)))[:, 100:]
    t = float(np.sum(mu * s1))
    logd = (a - 1) * np.log(KAPPA_GRID) - b * KAPPA_GRID + n.sum() * _log_c3(KAPPA_GRID) + KAPPA_GRID * t
    m, m2 = _trapezoid_moments(logd, KAPPA_GRID, [KAPPA_GRID, KAPPA_GRID ** 2])
    _assert_mean(draws, m, np.sqrt(m2 - m ** 2), "E[kappa | mu, X] (shared)")
