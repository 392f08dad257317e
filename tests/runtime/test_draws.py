"""Distributions (LANGUAGE.md §5): moments of `draw` for every distribution of the
table, and exact truncation (draws, normalizers and their gradients, rejection).
Log densities and `flat()`: test_distributions.py; the Monte Carlo tolerances and
the seed: monte_carlo.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

from augury.dsl.signatures import DISTRIBUTIONS
from augury.runtime.distributions import Flat, draw, make_distribution as md, truncate
from monte_carlo import N, Z, assert_cdf_at, assert_mean, assert_var, jdraw, key


# ----------------------------------------------------------------- (a) moments of draw
MOMENTS = {  # name: (params, mean, variance, support check)
    "normal": ({"loc": 1.0, "scale": 2.0}, 1.0, 4.0, None),
    "lognormal": ({"loc": 0.2, "scale": 0.5}, math.exp(0.325), (math.exp(0.25) - 1) * math.exp(0.65), "pos"),
    "half_normal": ({"scale": 2.0}, 2 * math.sqrt(2 / math.pi), 4 * (1 - 2 / math.pi), "pos"),
    "student_t": ({"df": 5.0, "loc": 1.0, "scale": 2.0}, 1.0, 4 * 5 / 3, None),
    "laplace": ({"loc": 1.0, "scale": 2.0}, 1.0, 8.0, None),
    "exponential": ({"rate": 2.0}, 0.5, 0.25, "pos"),
    "gamma": ({"concentration": 3.0, "rate": 2.0}, 1.5, 0.75, "pos"),
    "inv_gamma": ({"concentration": 6.0, "rate": 2.0}, 0.4, 0.04, "pos"),
    "beta": ({"a": 2.0, "b": 3.0}, 0.4, 0.04, "unit"),
    "uniform": ({"low": -1.0, "high": 3.0}, 1.0, 16 / 12, (-1.0, 3.0)),
    "bernoulli": ({"probs": 0.3}, 0.3, 0.21, (0, 1)),
    "binomial": ({"n": 10, "probs": 0.3}, 3.0, 2.1, (0, 10)),
    "poisson": ({"rate": 3.5}, 3.5, 3.5, (0, None)),
    "negative_binomial": ({"mean": 4.0, "concentration": 2.0}, 4.0, 4.0 + 16.0 / 2.0, (0, None)),
}
HEAVY = {  # no mean: quartiles F⁻¹(¼), F⁻¹(½), F⁻¹(¾) instead
    "cauchy": ({"loc": 1.0, "scale": 2.0}, (-1.0, 1.0, 3.0)),
    "half_cauchy": ({"scale": 2.0}, (2 * math.tan(math.pi / 8), 2.0, 2 * math.tan(3 * math.pi / 8))),
}


@pytest.fixture(scope="module")
def scalar_draws():
    """N draws of each scalar distribution of MOMENTS and HEAVY, in one compiled program."""
    table = {**{n: v[0] for n, v in MOMENTS.items()}, **{n: v[0] for n, v in HEAVY.items()}}

    def all_draws(k):
        keys = jax.random.split(k, len(table))
        return {n: draw(md(n, p), keys[i], (N,)) for i, (n, p) in enumerate(table.items())}
    out = jax.jit(all_draws)(key(10))
    assert all(x.shape == (N,) for x in out.values())
    return {n: np.asarray(x, np.float64) for n, x in out.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MOMENTS))
def test_scalar_draw_moments(name, scalar_draws):
    params, mean, var, support = MOMENTS[name]
    x = scalar_draws[name]
    assert_mean(x, mean, math.sqrt(var))
    assert_var(x, var)
    if support == "pos":
        assert np.all(x > 0)
    elif support == "unit":
        assert np.all((x > 0) & (x < 1))
    elif support is not None:
        lo, hi = support
        assert np.all(x >= lo) and (hi is None or np.all(x <= hi))
        if isinstance(lo, int):
            assert np.all(x == np.round(x))


@pytest.mark.parametrize("name", list(HEAVY))
def test_heavy_tailed_draw_quartiles(name, scalar_draws):
    x, quartiles = scalar_draws[name], HEAVY[name][1]
    for q, p in zip(quartiles, (0.25, 0.5, 0.75)):
        assert_cdf_at(x, q, p)
    if name == "half_cauchy":
        assert np.all(x > 0)


def test_parameters_broadcast_against_the_batch_shape():
    x = np.asarray(jdraw(md("normal", {"loc": jnp.array([0.0, 10.0, 20.0]), "scale": 1.0}), 31, (N, 3)))
    assert_mean(x, np.array([0.0, 10.0, 20.0]), 1.0)
    def shape_of(dist, shape):
        return jax.eval_shape(lambda k: draw(dist, k, shape), key(0)).shape
    assert shape_of(md("normal", {"loc": 0.0, "scale": 1.0}), (3, 4)) == (3, 4)
    assert shape_of(md("mvnormal", {"loc": jnp.zeros(2), "cov": jnp.eye(2)}), (5, 2)) == (5, 2)
    assert shape_of(md("dirichlet", {"concentration": jnp.ones(3)}), (4, 3)) == (4, 3)
    assert shape_of(md("lkj_cholesky", {"D": 3}), (2, 3, 3)) == (2, 3, 3)
    assert shape_of(md("binomial", {"n": jnp.array([5, 10]), "probs": 0.5}), (7, 2)) == (7, 2)
    with pytest.raises(ValueError, match="batch shape"):
        shape_of(md("normal", {"loc": jnp.zeros(3)}), (2,))
    with pytest.raises(ValueError, match="event shape"):
        shape_of(md("dirichlet", {"concentration": jnp.ones(3)}), (4, 2))


@pytest.mark.parametrize("which", ["probs", "logits"])
def test_categorical_and_bernoulli_frequencies(which):
    p = np.array([0.2, 0.5, 0.3])
    par = jnp.asarray(p if which == "probs" else np.log(p) + 1.0)  # logits need not be normalized
    x = np.asarray(jdraw(md("categorical", {which: par}), 32, (N,)))
    assert x.shape == (N,) and set(np.unique(x)) <= {0, 1, 2}
    assert_mean(x[:, None] == np.arange(3), p, np.sqrt(p * (1 - p)))
    q = 0.3 if which == "probs" else 1 / (1 + math.exp(-0.4))
    b = np.asarray(jdraw(md("bernoulli", {which: 0.3 if which == "probs" else 0.4}), 33, (N,)))
    assert set(np.unique(b)) <= {0, 1}
    assert_mean(b, q, math.sqrt(q * (1 - q)))


@pytest.mark.parametrize("param", ["cov", "scale_tril", "precision"])
def test_mvnormal_draw_moments(param):
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    mat = {"cov": cov, "scale_tril": np.linalg.cholesky(cov), "precision": np.linalg.inv(cov)}[param]
    x = np.asarray(jdraw(md("mvnormal", {"loc": jnp.array([1.0, -1.0]), param: jnp.asarray(mat)}), 34, (N, 2)))
    assert_mean(x, np.array([1.0, -1.0]), np.sqrt(np.diag(cov)))
    c = x - np.array([1.0, -1.0])
    prod = c[:, :, None] * c[:, None, :]  # Var(x_i x_j) = Σ_ii Σ_jj + Σ_ij² for a Gaussian
    assert_mean(prod, cov, np.sqrt(np.outer(np.diag(cov), np.diag(cov)) + cov ** 2))


def test_dirichlet_draw_moments():
    a = np.array([1.0, 2.0, 3.0])
    x = np.asarray(jdraw(md("dirichlet", {"concentration": jnp.asarray(a)}), 35, (N, 3)))
    a0 = a.sum()
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
    assert np.all(x >= 0)
    assert_mean(x, a / a0, np.sqrt(a * (a0 - a) / (a0 ** 2 * (a0 + 1))))


def test_stick_breaking_draw_moments():
    """`dirichlet_process` and `stick_breaking` are one class (the log density test covers both names).
    E w_k = E v_k Π_{j<k} E(1 − v_j) = (1/(1+α)) (α/(1+α))^k for k < K−1; the last is (α/(1+α))^{K−1}."""
    alpha, k = 2.0, 5
    x = np.asarray(jdraw(md("stick_breaking", {"alpha": alpha}), 36, (N, k)))
    r = alpha / (1 + alpha)
    exact = np.append(r ** np.arange(k - 1) / (1 + alpha), r ** (k - 1))
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
    assert np.all(x >= 0)
    assert_mean(x, exact)


def _vmf_mean_length(d, kappa):
    """|E x| = A_D(κ) = I_{D/2}(κ) / I_{D/2−1}(κ)."""
    return sp.ive(d / 2, kappa) / sp.ive(d / 2 - 1, kappa)


@pytest.mark.parametrize("d, kappa", [(2, 1.5), (6, 30.0)])
def test_von_mises_fisher_draw_moments(d, kappa):
    mu = np.arange(1.0, d + 1)
    mu /= np.linalg.norm(mu)
    x = np.asarray(jdraw(md("von_mises_fisher", {"mu": jnp.asarray(mu), "kappa": kappa}), 37 + d, (N, d)))
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, rtol=1e-5)
    assert_mean(x, _vmf_mean_length(d, kappa) * mu)


def test_von_mises_fisher_batched_parameters():
    """For D = 3, w = μᵀx has density κ e^{κw} / (2 sinh κ) on [−1, 1] (Wood's sampler and the
    reflection onto μ together): KS test against its CDF for each batch element."""
    mu = np.array([[0.0, 0.6, 0.8], [0.0, 0.0, -1.0]])
    kappa = np.array([5.0, 1.0])
    x = np.asarray(jdraw(md("von_mises_fisher", {"mu": jnp.asarray(mu), "kappa": jnp.asarray(kappa)}),
                         41, (N, 2, 3)), np.float64)
    assert_mean(x, _vmf_mean_length(3, kappa)[:, None] * mu)
    for i, k in enumerate(kappa):
        cdf = lambda t: np.expm1(k * (t + 1)) / np.expm1(2 * k)  # noqa: E731
        assert st.kstest(x[:, i] @ mu[i], cdf).pvalue > 1e-4


def test_lkj_cholesky_draw_moments():
    """C = L Lᵀ under LKJ(η): ρ_ij = 2B − 1 with B ~ Beta(η − 1 + D/2, same), so E ρ = 0, Var ρ = 1/(2η + D − 1)."""
    d, eta = 3, 2.0
    L = np.asarray(jdraw(md("lkj_cholesky", {"D": d, "eta": eta}), 42, (N, d, d)))
    np.testing.assert_allclose(np.linalg.norm(L, axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(L, 1) == 0) and np.all(np.diagonal(L, axis1=1, axis2=2) > 0)
    rho = (L @ np.swapaxes(L, 1, 2))[:, [1, 2, 2], [0, 0, 1]]
    assert_mean(rho, 0.0, math.sqrt(1 / (2 * eta + d - 1)))
    assert_var(rho, 1 / (2 * eta + d - 1))


def _assert_spd(x):
    np.testing.assert_allclose(x, np.swapaxes(x, -1, -2), rtol=1e-5, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(x) > 0)


def test_wishart_draw_moments():
    """E W = ν S, Var W_ij = ν (S_ij² + S_ii S_jj)."""
    s, df = np.array([[1.0, 0.3], [0.3, 0.5]]), 6.0
    x = np.asarray(jdraw(md("wishart", {"df": df, "scale": jnp.asarray(s)}), 43, (N, 2, 2)), np.float64)
    _assert_spd(x)
    assert_mean(x, df * s, np.sqrt(df * (s ** 2 + np.outer(np.diag(s), np.diag(s)))))


def test_inv_wishart_draw_moments():
    """E W = S / (ν − D − 1)."""
    s, df = np.array([[1.0, 0.3], [0.3, 0.5]]), 8.0
    x = np.asarray(jdraw(md("inv_wishart", {"df": df, "scale": jnp.asarray(s)}), 44, (N, 2, 2)), np.float64)
    _assert_spd(x)
    assert_mean(x, s / (df - 3))


def test_mixture_draw_moments():
    w, locs, scales = np.array([0.3, 0.7]), np.array([-2.0, 3.0]), np.array([1.0, 0.5])
    comp = md("normal", {"loc": jnp.asarray(locs), "scale": jnp.asarray(scales)})
    mv = md("mvnormal", {"loc": jnp.array([[0.0, 5.0], [-5.0, 1.0]]), "cov": jnp.eye(2)})  # batch (2,): components
    x, y = (np.asarray(a) for a in jax.jit(lambda k: (
        draw(md("mixture", {"weights": jnp.asarray(w), "component": comp}), k, (N,)),
        draw(md("mixture", {"weights": jnp.asarray(w), "component": mv}), jax.random.fold_in(k, 1), (N, 2))))(key(45)))
    mean = w @ locs
    var = w @ (scales ** 2 + locs ** 2) - mean ** 2
    assert_mean(x, mean, math.sqrt(var))
    assert_var(x, var)
    assert_mean(y, w @ np.array([[0.0, 5.0], [-5.0, 1.0]]))


def test_whole_array_gaussian_draw_moments():
    shape = (2, 3)
    mean = np.arange(6.0).reshape(shape)
    var = np.linspace(0.5, 3.0, 6).reshape(shape)
    keys = jax.random.split(key(47), N)
    diag = md("gaussian", {"mean": jnp.asarray(mean), "cov": jnp.asarray(var)})
    x = np.asarray(jax.jit(jax.vmap(lambda k: draw(diag, k, shape)))(keys))
    assert x.shape == (N,) + shape
    assert_mean(x, mean, np.sqrt(var))
    assert_var(x, var)
    full = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]])
    dense = md("gaussian", {"mean": 1.0, "cov": jnp.asarray(full)})
    y = np.asarray(jax.jit(jax.vmap(lambda k: draw(dense, k, (3,))))(keys))
    c = y - 1.0
    assert_mean(c[:, :, None] * c[:, None, :], full, np.sqrt(np.outer(np.diag(full), np.diag(full)) + full ** 2))


def test_gmm_draw_moments():
    shape = (2, 2)
    w = np.array([0.25, 0.75])
    means = np.array([[[0.0, 1.0], [2.0, 3.0]], [[-4.0, 0.0], [1.0, 5.0]]])
    covs = np.stack([np.full(shape, 0.5), np.full(shape, 2.0)])
    keys = jax.random.split(key(48), N)
    dist = md("gmm", {"weights": jnp.asarray(w), "means": jnp.asarray(means), "covs": jnp.asarray(covs)})
    x = np.asarray(jax.jit(jax.vmap(lambda k: draw(dist, k, shape)))(keys))
    mean = np.tensordot(w, means, 1)
    assert_mean(x, mean)
    assert_var(x, np.tensordot(w, covs + means ** 2, 1) - mean ** 2)


def test_flat_has_no_draw_until_its_support_is_known():
    with pytest.raises(ValueError, match="improper"):
        jdraw(md("flat", {}), 0, (3,))
    x = np.asarray(jdraw(Flat.proper("real", (), 1.0, 3.0), 49, (N,)))
    assert_mean(x, 2.0, math.sqrt(4 / 12))


MOMENT_TESTS = set(MOMENTS) | {"cauchy", "half_cauchy", "categorical", "mvnormal", "dirichlet", "dirichlet_process",
                                "stick_breaking", "von_mises_fisher", "lkj_cholesky", "wishart", "inv_wishart",
                                "mixture", "gaussian", "gmm", "flat"}


def test_every_distribution_has_a_draw_test():
    assert set(DISTRIBUTIONS) - {"diffusion"} == MOMENT_TESTS


# ----------------------------------------------------------------- (b) truncation
def _truncated_cdf(ref, lo, hi):
    """The CDF of `ref` truncated to [lo, hi], through the survival function on the upper side."""
    if ref.cdf(lo) > 0.5:
        return lambda x: (ref.sf(lo) - ref.sf(np.minimum(x, hi))) / (ref.sf(lo) - ref.sf(hi))
    return lambda x: (ref.cdf(np.clip(x, lo, hi)) - ref.cdf(lo)) / (ref.cdf(hi) - ref.cdf(lo))


KS_CASES = {  # family: [(loc, scale, low, high)]: one-sided, two-sided and far-tail intervals
    "normal": [(1.0, 2.0, 2.0, np.inf), (1.0, 2.0, -0.5, 1.5), (0.0, 1.0, 6.0, np.inf), (0.0, 1.0, -np.inf, -8.0)],
    "cauchy": [(0.0, 5.0, 0.0, np.inf), (1.0, 0.5, 2.0, 40.0), (0.0, 1.0, -np.inf, -1e4)],
}


@pytest.mark.parametrize("name", list(KS_CASES))
def test_truncated_draws_follow_the_truncated_distribution(name):
    """All cases of a family at once: parameters and bounds are arrays over a batch axis."""
    loc, scale, lo, hi = (np.array(c) for c in zip(*KS_CASES[name]))
    t = truncate(md(name, {"loc": jnp.asarray(loc), "scale": jnp.asarray(scale)}),
                 jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32))
    x = np.asarray(jdraw(t, 50, (4000, len(loc))), np.float64)
    ref = {"normal": st.norm, "cauchy": st.cauchy}[name]
    for i in range(len(loc)):
        assert np.all((x[:, i] >= lo[i]) & (x[:, i] <= hi[i]))
        assert st.kstest(x[:, i], _truncated_cdf(ref(loc[i], scale[i]), lo[i], hi[i])).pvalue > 1e-4


def test_truncated_gamma_far_upper_tail():
    """Gamma(2) on [30, ∞): F(30) rounds to 1 in float32, so the draws must go through the
    survival function S(30) = 31 e^{−30} ≈ 2.9e-12."""
    t = truncate(md("gamma", {"concentration": 2.0, "rate": 1.0}), 30.0)
    x = np.asarray(jdraw(t, 61, (4000,)), np.float64)
    ref = st.gamma(2.0)
    assert np.all(x >= 30.0)
    assert st.kstest(x, lambda v: 1 - ref.sf(v) / ref.sf(30.0)).pvalue > 1e-4


def test_truncated_normal_far_tail_mean():
    """Normal on [8, ∞): E X = φ(8)/S(8) ≈ 8.1229, sd ≈ 0.1201 (the inverse of 1 − F would overflow)."""
    ref = st.truncnorm(8.0, np.inf)
    x = np.asarray(jdraw(truncate(md("normal", {}), 8.0), 51, (N,)), np.float64)
    assert_mean(x, ref.mean(), ref.std())


@pytest.mark.parametrize("name, params, ref, lo, hi", [
    ("normal", {"loc": 1.0, "scale": 2.0}, st.norm(1.0, 2.0), 2.0, None),
    ("normal", {}, st.norm(), 8.0, None),
    ("normal", {}, st.norm(), None, -30.0),
    ("cauchy", {"loc": 0.0, "scale": 5.0}, st.cauchy(0, 5), 0.0, None),
    ("half_cauchy", {"scale": 5.0}, st.halfcauchy(scale=5), 1.0, 3.0),
    ("half_normal", {"scale": 2.0}, st.halfnorm(scale=2), None, 0.5),
    ("student_t", {"df": 3.0, "loc": 0.5, "scale": 1.0}, st.t(3, 0.5), 4.0, None),
    ("laplace", {"loc": 0.0, "scale": 1.0}, st.laplace(), -1.0, 30.0),
    ("exponential", {"rate": 2.0}, st.expon(scale=0.5), 1.0, 2.0),
    ("gamma", {"concentration": 2.0, "rate": 1.0}, st.gamma(2.0), 10.0, None),
    ("inv_gamma", {"concentration": 3.0, "rate": 1.0}, st.invgamma(3.0), 5.0, None),
    ("beta", {"a": 2.0, "b": 3.0}, st.beta(2, 3), None, 0.01),
    ("lognormal", {"loc": 0.0, "scale": 1.0}, st.lognorm(1.0), 10.0, 20.0),
    ("uniform", {"low": 0.0, "high": 2.0}, st.uniform(0, 2), 0.5, None),
])
def test_log_normalizer_against_scipy(name, params, ref, lo, hi):
    a, b = -np.inf if lo is None else lo, np.inf if hi is None else hi
    with np.errstate(divide="ignore"):
        if ref.cdf(a) > 0.5:
            exact = ref.logsf(a) + np.log1p(-np.exp(ref.logsf(b) - ref.logsf(a)))
        else:
            exact = ref.logcdf(b) + np.log1p(-np.exp(ref.logcdf(a) - ref.logcdf(b)))
    with jax.enable_x64(True):
        t = truncate(md(name, {k: jnp.asarray(v) for k, v in params.items()}), lo, hi)
        assert t.exact
        assert float(t.log_normalizer()) == pytest.approx(exact, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name, params, arg, lo, hi", [
    ("normal", {"loc": 0.3, "scale": 2.0}, "scale", 0.0, None),  # a half-normal-like prior with a free scale
    ("cauchy", {"loc": 1.0, "scale": 5.0}, "loc", 0.0, None),
    ("student_t", {"df": 3.0, "loc": 0.0, "scale": 2.0}, "loc", 0.0, None),  # the bound at the centre
    ("gamma", {"concentration": 2.0, "rate": 1.0}, "concentration", 1.0, None),
    ("inv_gamma", {"concentration": 3.0, "rate": 1.0}, "rate", None, 2.0),
    ("lognormal", {"loc": 0.5, "scale": 1.0}, "loc", 1.0, None),
])
def test_log_normalizer_gradient(name, params, arg, lo, hi):
    """NUTS differentiates log Z when a truncated prior's parameters are unknowns: the gradient
    with an infinite bound is finite and matches a central difference (x64, h = 1e-5)."""
    with jax.enable_x64(True):
        def log_z(v):
            return truncate(md(name, {**params, arg: v}), lo, hi).log_normalizer()
        v = jnp.asarray(params[arg])
        fd = (float(log_z(v + 1e-5)) - float(log_z(v - 1e-5))) / 2e-5
        assert float(jax.grad(log_z)(v)) == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_truncated_log_prob_is_normalized():
    """∫ p = 1 on [low, high] (trapezoid rule), −∞ outside."""
    with jax.enable_x64(True):
        t = truncate(md("gamma", {"concentration": jnp.asarray(2.5), "rate": jnp.asarray(1.0)}), 1.0, 4.0)
        grid = np.linspace(1.0, 4.0, 20001)
        dens = np.exp(np.asarray(t.log_prob(jnp.asarray(grid))))
        assert np.trapezoid(dens, grid) == pytest.approx(1.0, rel=1e-7)
        assert np.all(np.asarray(t.log_prob(jnp.array([0.5, 4.5]))) == -np.inf)


def test_traced_bounds_under_jit_and_vmap():
    """`param b : real(lower = 0, upper = 1 − a)`: the upper bound is another unknown's value."""
    def one(k, a):
        t = truncate(md("normal", {"loc": 0.3, "scale": 0.5}), 0.0, 1.0 - a)
        return t.sample(k, (N,)), t.log_normalizer(), t.log_prob(0.05)

    a = np.array([0.1, 0.5, 0.9])
    x, log_z, lp = jax.jit(jax.vmap(one, in_axes=(None, 0)))(key(52), jnp.asarray(a))
    x = np.asarray(x, np.float64)
    for i, ai in enumerate(a):
        ref = st.truncnorm(-0.3 / 0.5, (0.7 - ai) / 0.5, loc=0.3, scale=0.5)
        assert np.all((x[i] >= 0) & (x[i] <= 1 - ai))
        assert_mean(x[i], ref.mean(), ref.std())
        assert float(log_z[i]) == pytest.approx(math.log(st.norm.cdf((0.7 - ai) / 0.5) - st.norm.cdf(-0.6)),
                                                rel=1e-4)
        assert float(lp[i]) == pytest.approx(ref.logpdf(0.05), rel=1e-4, abs=1e-4)


def test_truncated_mixture_is_exact():
    w = jnp.array([0.3, 0.7])
    mix = md("mixture", {"weights": w, "component": md("normal", {"loc": jnp.array([-2.0, 3.0]), "scale": 1.0})})
    t = truncate(mix, 0.0)
    assert t.exact
    z = 0.3 * st.norm.sf(2.0) + 0.7 * st.norm.sf(-3.0)
    log_z, x = jax.jit(lambda k: (t.log_normalizer(), t.sample(k, (N,))))(key(53))
    assert float(log_z) == pytest.approx(math.log(z), rel=1e-5)
    x = np.asarray(x, np.float64)
    # E X = Σ_k w_k S_k (μ_k + φ(−μ_k)/S_k) / Z for normals truncated to [0, ∞)
    mean = (0.3 * (-2.0 * st.norm.sf(2.0) + st.norm.pdf(2.0)) + 0.7 * (3.0 * st.norm.sf(-3.0) + st.norm.pdf(3.0))) / z
    assert np.all(x >= 0)
    assert_mean(x, mean)


def test_rejection_for_a_distribution_without_inverse_cdf():
    """Poisson(3) on {3, …, 6}: frequencies match the renormalized pmf."""
    t = truncate(md("poisson", {"rate": 3.0}), 3, 6)
    assert not t.exact
    (x, ok), log_z = jax.jit(lambda k: (t.sample_with_flag(k, (N,)), t.log_normalizer(k)))(key(54))
    assert bool(ok)
    x = np.asarray(x)
    pmf = st.poisson(3.0).pmf(np.arange(3, 7))
    assert np.all((x >= 3) & (x <= 6))
    assert_mean(x[:, None] == np.arange(3, 7), pmf / pmf.sum(), np.sqrt(pmf / pmf.sum() * (1 - pmf / pmf.sum())))
    # Monte Carlo normalizer: relative sd √((1 − Z)/(nZ)) with n = 4096
    zhat = math.exp(float(log_z))
    assert abs(zhat - pmf.sum()) < Z * math.sqrt(pmf.sum() * (1 - pmf.sum()) / 4096)


def test_rejection_budget_exceeded_is_flagged():
    """P(6 ≤ Z ≤ 7) ≈ 1e-9: five rounds of rejection cannot fill it."""
    far = truncate(md("normal", {}), 6.0, 7.0, method="rejection", rounds=5)
    near = truncate(md("normal", {}), -1.0, 1.0, method="rejection")
    (x, ok), (y, ok_near) = jax.jit(lambda k: (far.sample_with_flag(k, (100,)),
                                               near.sample_with_flag(jax.random.fold_in(k, 1), (100,))))(key(55))
    assert not bool(ok) and np.all(np.isnan(np.asarray(x)))
    assert bool(ok_near) and np.all(np.abs(np.asarray(y)) <= 1)

