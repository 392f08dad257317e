"""augury.oracle: the exact Gaussian-mixture posterior under a linear-Gaussian
likelihood, and the sliced Wasserstein distance.  Seeds from AUGURY_TEST_SEED."""

import math
import os

import jax
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from augury.oracle import GMMPosterior, gmm_posterior, sliced_wasserstein

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
Z = 5.0  # standard errors allowed in Monte Carlo checks (a chance failure < 1e-6 per check)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def rng(i):
    return np.random.default_rng([SEED, i])


def key(i):
    return jax.random.fold_in(jax.random.PRNGKey(SEED), i)


def spd(r, d, lo=0.3, hi=1.0):
    """A random SPD matrix with eigenvalues in [lo, hi]."""
    q, _ = np.linalg.qr(r.normal(size=(d, d)))
    return q @ np.diag(r.uniform(lo, hi, d)) @ q.T


def test_single_gaussian_textbook():
    r = rng(1)
    d, m = 2, 3
    mu, cov = r.normal(size=d), spd(r, d, 0.5, 2.0)
    A, sigma = r.normal(size=(m, d)), 0.4
    y = A @ r.multivariate_normal(mu, cov) + sigma * r.normal(size=m)
    post = gmm_posterior(np.ones(1), mu[None], cov[None], A, y, sigma)
    assert isinstance(post, GMMPosterior) and post.means.dtype == np.float64
    # information form
    prec = np.linalg.inv(cov) + A.T @ A / sigma ** 2
    cov_post = np.linalg.inv(prec)
    mean_post = cov_post @ (A.T @ y / sigma ** 2 + np.linalg.solve(cov, mu))
    np.testing.assert_allclose(post.weights, [1.0])
    np.testing.assert_allclose(post.mean(), mean_post, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(post.cov(), cov_post, rtol=1e-10, atol=1e-12)
    ev = multivariate_normal(A @ mu, A @ cov @ A.T + sigma ** 2 * np.eye(m)).logpdf(y)
    np.testing.assert_allclose(post.log_evidence, ev, rtol=1e-12)
    # the single-Gaussian shorthand (means (D,), covs (D, D)) and log_prob
    post1 = gmm_posterior(1.0, mu, cov, A, y, sigma)
    np.testing.assert_allclose(post1.means[0], mean_post, rtol=1e-10)
    xs = r.normal(size=(4, d))
    np.testing.assert_allclose(post.log_prob(xs), multivariate_normal(mean_post, cov_post).logpdf(xs), rtol=1e-10)


def mixture_problem(i, d=3, k=3, m=2, sigma=0.5):
    r = rng(i)
    w = r.dirichlet(np.full(k, 3.0))
    means = r.uniform(-1.5, 1.5, (k, d))
    covs = np.stack([spd(r, d, 0.3 ** 2, 0.8 ** 2) for _ in range(k)])
    A = r.normal(size=(m, d)) / math.sqrt(d)
    c = r.choice(k, p=w)
    y = A @ r.multivariate_normal(means[c], covs[c]) + sigma * r.normal(size=m)
    return w, means, covs, A, y, sigma


def test_mixture_against_grid_quadrature():
    """K = 3, D = 3, M = 2 against a Riemann sum on a uniform grid.  The integrands are
    Gaussians times a Gaussian likelihood with sd ≥ ~0.2 in every direction (posterior sd
    ≥ σ/‖A‖ and ≥ the prior's smallest sd 0.3 elsewhere) and the trapezoid/Riemann rule on a
    uniform grid of step h errs by O(exp(−2π² s²/h²)) for a Gaussian of sd s (Poisson
    summation): the sharpest direction is checked below to give < 1e-9; the box [−7.5, 7.5]³
    leaves out what lies beyond 7.5 prior sds (|m| ≤ 1.5, sd ≤ 0.8), < 1e-12 of the mass."""
    w, means, covs, A, y, sigma = mixture_problem(2)
    post = gmm_posterior(w, means, covs, A, y, sigma)
    min_sd = float(np.sqrt(np.linalg.eigvalsh(post.covs).min()))
    h = 0.15
    assert math.exp(-2 * math.pi ** 2 * min_sd ** 2 / h ** 2) < 1e-9, min_sd  # quadrature error bound
    g = np.arange(-7.5, 7.5 + h / 2, h)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    lik = -0.5 * np.sum((pts @ A.T - y) ** 2, 1) / sigma ** 2 - np.log(2 * np.pi * sigma ** 2)

    def log_normal(mean, cov):  # log N(pts; mean, cov), vectorised over the grid
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (pts - mean).T)
        return -0.5 * np.sum(z * z, 0) - np.log(np.diag(chol)).sum() - 1.5 * np.log(2 * np.pi)

    comp = np.stack([np.exp(np.log(w[j]) + log_normal(means[j], covs[j]) + lik)
                     for j in range(3)])  # (K, N) unnormalised posterior per component
    mass = comp.sum(1) * h ** 3  # π_k ∫ N(x; m_k, Σ_k) N(y; Ax, σ²I) dx
    evidence = mass.sum()
    dens = comp.sum(0) / comp.sum()
    mean = dens @ pts
    cov = (pts - mean).T @ ((pts - mean) * dens[:, None])
    np.testing.assert_allclose(post.weights, mass / evidence, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(post.log_evidence, np.log(evidence), atol=1e-6)
    np.testing.assert_allclose(post.mean(), mean, atol=1e-6)
    np.testing.assert_allclose(post.cov(), cov, atol=1e-6)
    # log evidence by direct evaluation of Σ_k π_k N(y; A m_k, A Σ_k Aᵀ + σ² I)
    direct = np.log(sum(w[j] * multivariate_normal(A @ means[j], A @ covs[j] @ A.T + sigma ** 2 * np.eye(2)).pdf(y)
                        for j in range(3)))
    np.testing.assert_allclose(post.log_evidence, direct, rtol=1e-12)
    # log_prob integrates the posterior density: it matches the grid's normalised density
    sub = pts[:: 997]
    np.testing.assert_allclose(np.exp(post.log_prob(sub)), dens[:: 997] / h ** 3, rtol=1e-6, atol=1e-12)


def test_exact_draws_match_moments():
    w, means, covs, A, y, sigma = mixture_problem(3)
    post = gmm_posterior(w, means, covs, A, y, sigma)
    n = 20000
    x = np.asarray(jax.jit(post.sample, static_argnums=1)(key(3), n))
    assert x.shape == (n, 3)
    mu, cov = np.asarray(post.mean()), np.asarray(post.cov())
    # mean: |x̄ − μ| < 5 sd/√n with the exact sd
    assert np.all(np.abs(x.mean(0) - mu) < Z * np.sqrt(np.diag(cov) / n)), (x.mean(0), mu)
    # covariance: the products (x_i − μ_i)(x_j − μ_j) have mean Σ_ij; their sample sd gives the se
    c = x - mu
    prod = c[:, :, None] * c[:, None, :]
    se = prod.std(0) / math.sqrt(n)
    assert np.all(np.abs(prod.mean(0) - cov) < Z * se), (prod.mean(0), cov)


def test_diagonal_and_isotropic_equal_full():
    r = rng(4)
    k, d, m = 3, 4, 2
    w, means = r.dirichlet(np.ones(k)), r.normal(size=(k, d))
    A, y, sigma = r.normal(size=(m, d)), r.normal(size=m), 0.3
    var = r.uniform(0.2, 2.0, (k, d))
    cases = [(var, np.stack([np.diag(v) for v in var])),
             (var[:, 0], np.stack([v * np.eye(d) for v in var[:, 0]])),
             (np.float64(0.7), np.broadcast_to(0.7 * np.eye(d), (k, d, d)))]
    for compact, full in cases:
        a, b = gmm_posterior(w, means, compact, A, y, sigma), gmm_posterior(w, means, full, A, y, sigma)
        for f in ("weights", "means", "covs", "log_evidence"):
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-12, atol=1e-14)


def test_bad_shapes_raise():
    w, means, covs, A, y, sigma = mixture_problem(5)
    with pytest.raises(ValueError, match="`means`"):
        gmm_posterior(w, means[:2], covs, A, y, sigma)
    with pytest.raises(ValueError, match="`weights`"):
        gmm_posterior(w[None], means, covs, A, y, sigma)
    with pytest.raises(ValueError, match=r"`covs` has shape \(3, 3, 2\)"):
        gmm_posterior(w, means, covs[:, :, :2], A, y, sigma)
    with pytest.raises(ValueError, match=r"`A` must have shape .* got \(2, 4\)"):
        gmm_posterior(w, means, covs, np.ones((2, 4)), y, sigma)
    with pytest.raises(ValueError, match=r"`y` must have shape \(M,\) = \(2,\)"):
        gmm_posterior(w, means, covs, A, np.ones(3), sigma)
    with pytest.raises(ValueError, match="`sigma`"):
        gmm_posterior(w, means, covs, A, y, np.ones(2))
    with pytest.raises(ValueError, match="`x` must have shape"):
        gmm_posterior(w, means, covs, A, y, sigma).log_prob(np.ones(2))
    with pytest.raises(ValueError, match="same dimension"):
        sliced_wasserstein(np.ones((5, 2)), np.ones((5, 3)), key(0))


@pytest.mark.slow
def test_sliced_wasserstein():
    r = rng(6)
    n, d = 2000, 3
    cov = spd(r, d, 0.5, 1.5)
    a = r.multivariate_normal(np.zeros(d), cov, n)
    b = r.multivariate_normal(np.zeros(d), cov, n)
    c = r.multivariate_normal(np.zeros(d), cov, 3000)
    shift = np.array([1.0, 0.0, 0.0])
    sw = jax.jit(sliced_wasserstein)
    assert float(sw(a, a, key(6))) == 0.0
    # same distribution: a Monte Carlo floor of order sd·n^(-1/2) ≈ 0.03 (n = 2000, sd ≤ 1.2)
    same, same_unequal = float(sw(a, b, key(6))), float(sliced_wasserstein(a, c, key(6)))
    # a unit shift: W₂ of each projection ≥ |u·shift|, whose mean over the sphere in R³ is ½
    shifted = float(sw(a, b + shift, key(6)))
    assert same < 0.1 and same_unequal < 0.1, (same, same_unequal)
    assert shifted > 0.4, shifted
    # in 1-D every direction is ±1: a translation by c is exactly |c|
    np.testing.assert_allclose(sliced_wasserstein(a[:, 0], a[:, 0] + 0.7, key(7), projections=5), 0.7, rtol=1e-12)
