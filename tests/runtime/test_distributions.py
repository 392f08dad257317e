"""Distributions (LANGUAGE.md §5): log densities against scipy or closed forms, and the
proper uniform distributions behind `flat()`.  Draws and truncation: test_draws.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

from augury.runtime.analytic import WholeArrayGaussian
from augury.runtime.distributions import draw, make_distribution as md, uniform_on
from monte_carlo import N, SEED, Z, assert_mean, jdraw, key


def lkj_cholesky_log_density(L, eta):
    """log p(L) = Σ_{i=2..D} (D − i + 2η − 2) log L_ii − log c_D(η), with
    c_D(η) = 2^{Σ_k (D−k)(2η−2+D−k)} Π_k B(η + (D−k−1)/2, η + (D−k−1)/2)^{D−k}, k = 1..D−1
    (Lewandowski, Kurowicka & Joe 2009; the L_ii powers include the Jacobian of C = L Lᵀ)."""
    d = L.shape[-1]
    ks = np.arange(1, d)
    log_c = np.sum((d - ks) * (2 * eta - 2 + d - ks)) * math.log(2) + \
        np.sum((d - ks) * sp.betaln(eta + (d - ks - 1) / 2, eta + (d - ks - 1) / 2))
    i = np.arange(2, d + 1)
    return np.sum((d - i + 2 * eta - 2) * np.log(np.diagonal(L, axis1=-2, axis2=-1)[..., 1:]), axis=-1) - log_c


# ----------------------------------------------------------------- (a) log densities
S3 = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]])
LOC3 = np.array([0.5, -1.0, 2.0])


@pytest.mark.parametrize("param", ["cov", "scale_tril", "precision"])
def test_mvnormal_log_density(param):
    mat = {"cov": S3, "scale_tril": np.linalg.cholesky(S3), "precision": np.linalg.inv(S3)}[param]
    x = st.multivariate_normal(LOC3, S3).rvs(4, random_state=1)
    with jax.enable_x64(True):
        lp = md("mvnormal", {"loc": jnp.asarray(LOC3), param: jnp.asarray(mat)}).log_prob(jnp.asarray(x))
    np.testing.assert_allclose(lp, st.multivariate_normal(LOC3, S3).logpdf(x), rtol=1e-10)


def random_cholesky_corr(d: int, n: int, seed: int = 0):
    """Cholesky factors of n random d × d correlation matrices."""
    a = np.random.default_rng(seed).normal(size=(n, d, d + 2))
    c = a @ np.swapaxes(a, 1, 2)
    s = 1 / np.sqrt(np.diagonal(c, axis1=1, axis2=2))
    return np.linalg.cholesky(c * s[:, :, None] * s[:, None, :])


@pytest.mark.parametrize("d, eta", [(3, 2.5), (4, 0.7)])
def test_lkj_cholesky_log_density(d, eta):
    L = random_cholesky_corr(d, 3)
    with jax.enable_x64(True):
        lp = md("lkj_cholesky", {"D": d, "eta": eta}).log_prob(jnp.asarray(L))
    np.testing.assert_allclose(lp, lkj_cholesky_log_density(L, eta), rtol=1e-10)


@pytest.mark.parametrize("name, ref", [("wishart", st.wishart), ("inv_wishart", st.invwishart)])
def test_wishart_log_densities(name, ref):
    x = st.wishart(7, S3).rvs(random_state=2)
    with jax.enable_x64(True):
        lp = md(name, {"df": 7.0, "scale": jnp.asarray(S3)}).log_prob(jnp.asarray(x))
    np.testing.assert_allclose(lp, ref(7, S3).logpdf(x), rtol=1e-10)


@pytest.mark.parametrize("d, kappa", [(2, 0.5), (3, 4.0), (5, 20.0), (10, 50.0)])
def test_von_mises_fisher_log_density(d, kappa):
    rng = np.random.default_rng(d)
    mu = rng.normal(size=d)
    mu /= np.linalg.norm(mu)
    x = rng.normal(size=(4, d))
    x = np.concatenate([x / np.linalg.norm(x, axis=1, keepdims=True), mu[None]])
    with jax.enable_x64(True):
        lp = md("von_mises_fisher", {"mu": jnp.asarray(mu), "kappa": kappa}).log_prob(jnp.asarray(x))
    np.testing.assert_allclose(lp, st.vonmises_fisher(mu, kappa).logpdf(x), rtol=1e-9)


X5 = np.array([-3.0, -0.4, 0.0, 1.3, 7.5])
POS5 = np.array([0.05, 0.4, 1.0, 2.5, 9.0])
INT5 = np.array([0, 1, 3, 7, 10])


@pytest.mark.parametrize("name, params, x, ref", [
    ("student_t", {"df": 3.5, "loc": 1.0, "scale": 2.0}, X5, st.t(3.5, 1.0, 2.0).logpdf),
    ("laplace", {"loc": -1.0, "scale": 0.7}, X5, st.laplace(-1.0, 0.7).logpdf),
    ("inv_gamma", {"concentration": 2.5, "rate": 1.5}, POS5, st.invgamma(2.5, scale=1.5).logpdf),
    ("binomial", {"n": 10, "probs": 0.3}, INT5, st.binom(10, 0.3).logpmf),
    # NumPyro's NegativeBinomial2(mean, c) is scipy's nbinom(n = c, p = c / (c + mean))
    ("negative_binomial", {"mean": 4.0, "concentration": 2.5}, INT5, st.nbinom(2.5, 2.5 / 6.5).logpmf),
])
def test_scalar_log_densities(name, params, x, ref):
    with jax.enable_x64(True):
        lp = md(name, {k: jnp.asarray(v) for k, v in params.items()}).log_prob(jnp.asarray(x))
    # NumPyro's gamma-Poisson goes through jax's betaln, accurate to ~5e-7 even in float64
    np.testing.assert_allclose(lp, ref(x), rtol=1e-6 if name == "negative_binomial" else 1e-9)


@pytest.mark.parametrize("name", ["dirichlet_process", "stick_breaking"])
def test_stick_breaking_log_density(name):
    """p(w) = Π_k Beta(v_k | 1, α) · |∂v/∂w|, v_k = w_k / r_k, r_k = 1 − Σ_{j<k} w_j:
    the Jacobian is triangular with diagonal 1/r_k."""
    alpha = 1.7
    w = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.6, 0.05, 0.25]])
    r = 1 - np.cumsum(w, axis=1) + w
    v = w[:, :-1] / r[:, :-1]
    exact = np.sum(st.beta(1, alpha).logpdf(v) - np.log(r[:, :-1]), axis=1)
    with jax.enable_x64(True):
        lp = md(name, {"alpha": alpha}).log_prob(jnp.asarray(w))
    np.testing.assert_allclose(lp, exact, rtol=1e-9)


def test_whole_array_gaussian_and_gmm_log_densities():
    shape = (2, 3)
    rng = np.random.default_rng(3)
    x, mean = rng.normal(size=shape), rng.normal(size=shape)
    var = rng.uniform(0.5, 2.0, size=shape)
    a = rng.normal(size=(6, 6))
    full = a @ a.T + np.eye(6)
    with jax.enable_x64(True):
        def lp(name, **p):
            return float(md(name, {k: jnp.asarray(v) for k, v in p.items()}).log_prob(jnp.asarray(x)))
        ref = st.multivariate_normal
        assert lp("gaussian", mean=mean, cov=0.7) == pytest.approx(
            ref(mean.ravel(), 0.7 * np.eye(6)).logpdf(x.ravel()), rel=1e-10)
        assert lp("gaussian", mean=mean, cov=var) == pytest.approx(
            ref(mean.ravel(), np.diag(var.ravel())).logpdf(x.ravel()), rel=1e-10)
        assert lp("gaussian", mean=mean, cov=full) == pytest.approx(
            ref(mean.ravel(), full).logpdf(x.ravel()), rel=1e-10)
        w, means = np.array([0.3, 0.7]), rng.normal(size=(2,) + shape)
        covs = np.stack([var, 2 * var])
        exact = np.logaddexp(*[math.log(w[c]) + ref(means[c].ravel(), np.diag(covs[c].ravel())).logpdf(x.ravel())
                               for c in range(2)])
        assert lp("gmm", weights=w, means=means, covs=covs) == pytest.approx(exact, rel=1e-10)
        exact = np.logaddexp(*[math.log(w[c]) + ref(means[c].ravel(), full).logpdf(x.ravel()) for c in range(2)])
        assert lp("gmm", weights=w, means=means, covs=full) == pytest.approx(exact, rel=1e-10)


def _largest_array(fn, *args) -> int:
    """The number of elements of the largest value computed in `fn`'s jaxpr (sub-jaxprs included)."""
    def walk(jaxpr) -> int:
        big = 0
        for eqn in jaxpr.eqns:
            big = max([big] + [math.prod(v.aval.shape) for v in eqn.outvars])
            for p in eqn.params.values():
                for sub in p if isinstance(p, (list, tuple)) else [p]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        big = max(big, walk(inner))
        return big
    return walk(jax.make_jaxpr(fn)(*args).jaxpr)


@pytest.mark.parametrize("cov", [1.0, np.full((1, 28, 28), 0.5)])
def test_whole_array_gaussian_diagonal_cov_is_linear_in_size(cov):
    """`gaussian(zeros(1, 28, 28), 1)`: density and draw never build a D × D matrix (D = 784)."""
    dist = WholeArrayGaussian(jnp.zeros((1, 28, 28)), jnp.asarray(cov))
    x = jnp.zeros((1, 28, 28))
    assert _largest_array(dist.log_prob, x) <= 784
    assert _largest_array(lambda k: draw(dist, k, (1, 28, 28)), key(0)) <= 784



# ----------------------------------------------------------------- (b) flat() made proper
@pytest.mark.parametrize("k", [2, 3])
def test_uniform_on_simplex_integrates_to_one(k):
    """Density (K−1)! on the first K−1 coordinates, whose region {w ≥ 0, Σw ≤ 1} has volume 1/(K−1)!:
    checked by the fraction of uniform points of the unit cube that fall in it. (It is NumPyro's
    Dirichlet(1), whose draws test_draws.py's test_dirichlet_draw_moments checks.)"""
    dist = uniform_on("simplex", (k,))
    assert dist.event_shape == (k,)
    density = math.exp(float(dist.log_prob(jnp.full(k, 1 / k))))
    assert density == pytest.approx(math.factorial(k - 1), rel=1e-5)
    cube = np.random.default_rng(SEED).uniform(size=(N, k - 1))
    inside = cube.sum(-1) <= 1
    vol = 1 / math.factorial(k - 1)
    # the float32 density is exact to ~1e-6; for K = 2 the region is the whole cube and the error is 0
    assert abs(density * inside.mean() - 1.0) < Z * density * math.sqrt(vol * (1 - vol) / N) + 1e-5


@pytest.mark.parametrize("d, area", [(2, 2 * math.pi), (3, 4 * math.pi), (4, 2 * math.pi ** 2)])
def test_uniform_on_sphere(d, area):
    dist = uniform_on("sphere", (d,))
    x = np.asarray(jdraw(dist, 58, (N, d)))
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, rtol=1e-5)
    assert_mean(x, np.zeros(d), math.sqrt(1 / d))  # E x_i² = 1/D
    assert_mean(x ** 2, np.full(d, 1 / d))
    lp = np.asarray(dist.log_prob(jnp.asarray(x[:3])))
    np.testing.assert_allclose(lp, -math.log(area), rtol=1e-6)


def test_uniform_on_cholesky_corr_and_intervals():
    L = random_cholesky_corr(3, 4)
    with jax.enable_x64(True):
        lp = uniform_on("cholesky_corr", (3, 3)).log_prob(jnp.asarray(L))
    np.testing.assert_allclose(lp, lkj_cholesky_log_density(L, 1.0), rtol=1e-9)
    u = uniform_on("real", (), 1.0, 3.0)
    assert float(u.log_prob(2.0)) == pytest.approx(-math.log(2.0))
    assert float(uniform_on("unit").log_prob(0.3)) == 0.0
    x = np.asarray(jdraw(uniform_on("positive", (), None, jnp.array([1.0, 4.0])), 60, (N, 2)))
    assert np.all((x >= 0) & (x <= np.array([1.0, 4.0])))
    assert_mean(x, np.array([0.5, 2.0]), np.array([1.0, 4.0]) / math.sqrt(12))


@pytest.mark.parametrize("support, low, high", [("real", None, None), ("real", 0.0, None), ("positive", None, None),
                                                ("spd", None, None), ("ordered", None, None)])
def test_uniform_on_unbounded_support_is_refused(support, low, high):
    with pytest.raises(ValueError, match="improper"):
        uniform_on(support, (3,), low, high)
