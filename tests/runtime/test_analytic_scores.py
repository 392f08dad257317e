"""runtime/analytic_scores.py: exact noised log densities, scores and Tweedie means of a
Gaussian mixture under x_t = α x_0 + σ ε.  Seeds from AUGURY_TEST_SEED."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from augury.oracle import gmm_posterior
from augury.runtime.analytic_scores import gmm_noised_log_prob, gmm_noised_score, gmm_tweedie_mean

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
# VP-like, nearly pure noise, VE-like
PAIRS = [(0.9, math.sqrt(1 - 0.81)), (0.1, math.sqrt(1 - 0.01)), (1.0, 10.0)]


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def rng(i):
    return np.random.default_rng([SEED, i])


def prior(kind, r, k=3, d=3):
    w, means = r.dirichlet(np.full(k, 2.0)), r.normal(size=(k, d)) * 1.5
    if kind == "full":
        covs = []
        for _ in range(k):
            q, _ = np.linalg.qr(r.normal(size=(d, d)))
            covs.append(q @ np.diag(r.uniform(0.1, 1.5, d)) @ q.T)
        covs = np.stack(covs)
    elif kind == "diag":
        covs = r.uniform(0.1, 1.5, (k, d))
    elif kind == "iso":
        covs = r.uniform(0.1, 1.5, k)
    else:  # one shared scalar
        covs = np.float64(0.4)
    return w, means, covs


def noised_points(r, w, means, alpha, sigma, n=6):
    """Points near p_t's mass: α m_k + (α + σ) ε, so that several responsibilities matter."""
    comp = r.choice(len(w), n, p=w)
    return alpha * means[comp] + (alpha + sigma) * r.normal(size=(n, means.shape[1]))


@pytest.mark.parametrize("kind", ["full", "diag", "iso", "scalar"])
def test_score_is_gradient_of_log_prob(kind):
    r = rng(1)
    w, means, covs = prior(kind, r)
    grad = jax.jit(jax.vmap(jax.grad(lambda x, a, s: gmm_noised_log_prob(x, a, s, w, means, covs)),
                            in_axes=(0, None, None)))
    score = jax.jit(lambda x, a, s: gmm_noised_score(x, a, s, w, means, covs))
    for alpha, sigma in PAIRS:
        x = noised_points(r, w, means, alpha, sigma)
        exact, auto = np.asarray(score(x, alpha, sigma)), np.asarray(grad(x, alpha, sigma))
        assert exact.shape == x.shape and exact.dtype == np.float64
        np.testing.assert_allclose(exact, auto, rtol=1e-8, atol=1e-8 * np.abs(auto).max())


@pytest.mark.parametrize("kind", ["full", "diag", "iso"])
def test_log_prob_is_the_noised_mixture(kind):
    r = rng(2)
    w, means, covs = prior(kind, r)
    d = means.shape[1]
    full = {"full": covs, "diag": np.stack([np.diag(c) for c in covs]) if kind == "diag" else None,
            "iso": np.stack([c * np.eye(d) for c in np.atleast_1d(covs)]) if kind == "iso" else None}[kind]
    alpha, sigma = PAIRS[0]
    x = noised_points(r, w, means, alpha, sigma)
    direct = np.log(sum(w[j] * multivariate_normal(alpha * means[j], alpha ** 2 * full[j] + sigma ** 2 * np.eye(d))
                        .pdf(x) for j in range(len(w))))
    np.testing.assert_allclose(gmm_noised_log_prob(x, alpha, sigma, w, means, covs), direct, rtol=1e-10)


@pytest.mark.parametrize("kind", ["full", "diag", "iso"])
def test_tweedie_mean_is_the_oracle_posterior_mean(kind):
    """x_t = α x_0 + σ ε is the linear-Gaussian observation y = A x_0 + σ ε with A = α I:
    E[x_0 | x_t] from Tweedie's formula must equal gmm_posterior's mean."""
    r = rng(3)
    w, means, covs = prior(kind, r)
    d = means.shape[1]
    for alpha, sigma in PAIRS:
        x = noised_points(r, w, means, alpha, sigma, n=3)
        tweedie = np.asarray(gmm_tweedie_mean(x, alpha, sigma, w, means, covs))
        oracle = np.stack([np.asarray(gmm_posterior(w, means, covs, alpha * np.eye(d), xi, sigma).mean())
                           for xi in x])
        np.testing.assert_allclose(tweedie, oracle, rtol=1e-8, atol=1e-10 * (1 + np.abs(oracle).max()))


def test_single_gaussian():
    """K = 1 through the same functions, also in the shorthand means (D,), covs (D, D)."""
    r = rng(4)
    d = 3
    m = r.normal(size=d)
    q, _ = np.linalg.qr(r.normal(size=(d, d)))
    cov = q @ np.diag(r.uniform(0.2, 2.0, d)) @ q.T
    alpha, sigma = PAIRS[0]
    x = r.normal(size=(4, d))
    c = alpha ** 2 * cov + sigma ** 2 * np.eye(d)
    expected = -np.linalg.solve(c, (x - alpha * m).T).T
    for args in [(1.0, m, cov), (np.ones(1), m[None], cov[None])]:
        np.testing.assert_allclose(gmm_noised_score(x, alpha, sigma, *args), expected, rtol=1e-10)
        np.testing.assert_allclose(gmm_noised_log_prob(x, alpha, sigma, *args),
                                   multivariate_normal(alpha * m, c).logpdf(x), rtol=1e-10)
    # Tweedie for one Gaussian: m + α Σ C⁻¹ (x − α m)
    np.testing.assert_allclose(gmm_tweedie_mean(x, alpha, sigma, 1.0, m, cov),
                               m + alpha * (cov @ np.linalg.solve(c, (x - alpha * m).T)).T, rtol=1e-10)


def test_batched_alpha_sigma():
    """alpha and sigma as arrays over the batch axis give the per-row scalar results."""
    r = rng(5)
    w, means, covs = prior("full", r)
    x = r.normal(size=(3, 3))
    alphas, sigmas = np.array([p[0] for p in PAIRS]), np.array([p[1] for p in PAIRS])
    batched = gmm_tweedie_mean(x, alphas, sigmas, w, means, covs)
    rows = [gmm_tweedie_mean(x[i], alphas[i], sigmas[i], w, means, covs) for i in range(3)]
    np.testing.assert_allclose(batched, np.stack(rows), rtol=1e-12)


def _avals(jaxpr):
    """Every intermediate's abstract value, recursing into sub-programs (pjit, custom_jvp, ...)."""
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            yield v.aval
        for p in eqn.params.values():
            for sub in (p if isinstance(p, (tuple, list)) else (p,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _avals(inner)


@pytest.mark.parametrize("kind", ["diag", "iso", "scalar"])
def test_high_dimensional_diagonal_stays_linear(kind):
    """D = 784 with a diagonal or isotropic covariance: checked by jax.make_jaxpr that no
    intermediate of the score (nor of its autodiff gradient) holds more than B·K·D numbers,
    so no D × D (= 614 656) matrix is ever built; and the score still equals the gradient."""
    r = rng(6)
    k, d, b = 3, 784, 2
    w, means, covs = prior(kind, r, k=k, d=d)
    alpha, sigma = PAIRS[0]
    x = noised_points(r, w, means, alpha, sigma, n=b)
    score = lambda x: gmm_noised_score(x, alpha, sigma, w, means, covs)
    grad = jax.vmap(jax.grad(lambda x: gmm_noised_log_prob(x, alpha, sigma, w, means, covs)))
    for f in (score, grad, lambda x: gmm_tweedie_mean(x, alpha, sigma, w, means, covs)):
        sizes = [math.prod(a.shape) for a in _avals(jax.make_jaxpr(f)(x).jaxpr) if hasattr(a, "shape")]
        assert sizes and max(sizes) <= b * k * d, max(sizes)
    exact, auto = np.asarray(jax.jit(score)(x)), np.asarray(jax.jit(grad)(x))
    np.testing.assert_allclose(exact, auto, rtol=1e-8, atol=1e-8 * np.abs(auto).max())
