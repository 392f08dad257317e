"""`log_bessel_iv` (log I_ν(x), behind the von Mises–Fisher normalizer) against scipy, mpmath and
closed forms, over ν ∈ [0, 511] (D ≤ 1024) and x ∈ [1e-6, 1e5]; its x-gradient against the identity
d/dx log I_ν(x) = I_{ν+1}(x)/I_ν(x) + ν/x; float32; jit and vmap."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

from augury.runtime.sphere import VonMisesFisher, log_bessel_iv

try:
    import mpmath
except ImportError:  # pragma: no cover - mpmath ships with sympy/scipy setups, but is optional here
    mpmath = None

NUS = np.array([0.0, 0.5, 1.0, 1.5, 4.5, 31.0, 63.5, 255.0, 511.0])
XS = np.array([1e-6, 1e-3, 0.1, 1.0, 10.0, 100.0, 1500.0, 5000.0, 1e4, 1e5])
NU, X = (a.ravel() for a in np.meshgrid(NUS, XS, indexing="ij"))


def _scipy_log_iv(nu, x):
    """log I_ν(x) = log ive(ν, x) + x; NaN where ive underflows to 0 or overflows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = sp.ive(nu, x)
    ok = np.isfinite(v) & (v > 0)
    return np.where(ok, np.log(np.where(ok, v, 1.0)) + x, np.nan)


def _series_log_iv(nu, x, terms=2000):
    """log I_ν(x) by the power series DLMF 10.25.2 summed in log space (float64 numpy): an
    independent reference where x² ≪ (ν+1)·terms, i.e. where scipy's ive underflows here."""
    m = np.arange(terms)[None, :]
    nu, x = np.asarray(nu, float)[:, None], np.asarray(x, float)[:, None]
    t = (2 * m + nu) * np.log(x / 2) - sp.gammaln(m + 1) - sp.gammaln(m + nu + 1)
    return sp.logsumexp(t, axis=-1)


def _mp_log_iv(nu, x):
    mpmath.mp.dps = 40
    return np.array([float(mpmath.log(mpmath.besseli(n, v))) for n, v in zip(nu, x)])


def _reference(nu, x):
    ref = _scipy_log_iv(nu, x)
    bad = np.isnan(ref)
    if bad.any():
        ref[bad] = _mp_log_iv(nu[bad], x[bad]) if mpmath is not None else _series_log_iv(nu[bad], x[bad])
    return ref


REF = _reference(NU, X)


def _f64(nu, x):
    with jax.enable_x64(True):
        return np.asarray(log_bessel_iv(jnp.asarray(nu, jnp.float64), jnp.asarray(x, jnp.float64)))


def test_grid_against_scipy_float64():
    """Relative error of log I ≲ 1e-12 (plus 1e-13 absolute, for log I₀(1e-6) ≈ 2.5e-13, where
    scipy's log(ive) + x itself is only good to ~1e-16 absolute)."""
    got = _f64(NU, X)
    np.testing.assert_allclose(got, REF, rtol=1e-12, atol=1e-13)


def test_scipy_underflow_points_against_series():
    """The grid points where scipy's ive underflows (large ν, small x): against the plain power
    series in numpy, independent of mpmath and of the Debye branch that evaluates them."""
    bad = np.isnan(_scipy_log_iv(NU, X))
    assert bad.sum() >= 10
    np.testing.assert_allclose(_f64(NU[bad], X[bad]), _series_log_iv(NU[bad], X[bad]), rtol=1e-11)


def test_high_concentration_closed_form():
    """I_{1/2}(x) = √(2/(πx)) sinh x (DLMF 10.39.1); the old series was 35 nats off at 1500."""
    x = np.array([1e-6, 0.3, 30.0, 1500.0, 5000.0, 1e5])
    exact = x + np.log(-np.expm1(-2 * x)) - math.log(2) + 0.5 * np.log(2 / (math.pi * x))
    np.testing.assert_allclose(_f64(np.full_like(x, 0.5), x), exact, rtol=1e-13)


@pytest.mark.skipif(mpmath is None, reason="needs mpmath")
def test_across_the_branch_switch():
    """Both sides of s = √(ν² + x²) = 30, where the series hands over to Debye's expansion, on a
    quarter circle of (ν, x), and a dense line through it at ν = 0 and ν = 20."""
    th = np.linspace(0.0, np.pi / 2, 13)
    nu = np.concatenate([s * np.sin(th) for s in (29.999, 30.001)] + [np.zeros(9), np.full(9, 20.0)])
    x = np.concatenate([np.maximum(s * np.cos(th), 1e-3) for s in (29.999, 30.001)]
                       + [np.linspace(25, 35, 9), np.linspace(18, 26, 9)])
    np.testing.assert_allclose(_f64(nu, x), _mp_log_iv(nu, x), rtol=1e-12, atol=1e-13)


def test_gradient_matches_ratio_identity():
    """d/dx log I_ν(x) = I_{ν+1}(x)/I_ν(x) + ν/x, with the ratio from scipy where both ive are
    well inside the normal range, else from mpmath (or from log_bessel_iv at ν+1 itself)."""
    with jax.enable_x64(True):
        g = jax.jit(jax.vmap(jax.grad(log_bessel_iv, argnums=1)))(jnp.asarray(NU), jnp.asarray(X))
    g = np.asarray(g)
    assert np.all(np.isfinite(g))
    with np.errstate(all="ignore"):
        a, b = sp.ive(NU + 1, X), sp.ive(NU, X)
    ok = (a > 1e-280) & (b > 1e-280) & np.isfinite(a) & np.isfinite(b)
    ratio = np.empty_like(X)
    ratio[ok] = a[ok] / b[ok]
    if mpmath is not None:
        mpmath.mp.dps = 40
        ratio[~ok] = [float(mpmath.besseli(n + 1, v) / mpmath.besseli(n, v)) for n, v in zip(NU[~ok], X[~ok])]
    else:
        ratio[~ok] = np.exp(_series_log_iv(NU[~ok] + 1, X[~ok]) - _series_log_iv(NU[~ok], X[~ok]))
    np.testing.assert_allclose(g, ratio + NU / X, rtol=1e-10)


def test_gradient_matches_finite_differences():
    nu = np.array([0.0, 1.5, 31.0, 511.0, 511.0, 4.5])
    x = np.array([3.0, 29.0, 10.0, 200.0, 5000.0, 1e4])
    h = 1e-5 * x
    fd = (_f64(nu, x + h) - _f64(nu, x - h)) / (2 * h)
    with jax.enable_x64(True):
        g = np.asarray(jax.vmap(jax.grad(log_bessel_iv, argnums=1))(jnp.asarray(nu), jnp.asarray(x)))
    np.testing.assert_allclose(g, fd, rtol=1e-7)


def test_gradient_in_nu_falls_back_to_autodiff():
    """A ν-tangent is not covered by the custom x-derivative: autodiff through the expansions."""
    nu, x = np.array([0.5, 4.5, 255.0, 31.0]), np.array([3.0, 40.0, 100.0, 1500.0])
    fd = (np.log(sp.ive(nu + 1e-5, x)) - np.log(sp.ive(nu - 1e-5, x))) / 2e-5
    with jax.enable_x64(True):
        g = np.asarray(jax.vmap(jax.grad(log_bessel_iv))(jnp.asarray(nu), jnp.asarray(x)))
    np.testing.assert_allclose(g, fd, rtol=1e-7)


def test_float32():
    """float32: finite, within 1e-4 of the float64 reference relative to max(|log I|, 1)
    (log I crosses 0, where only an absolute error makes sense), and finite gradients."""
    nu32, x32 = jnp.asarray(NU, jnp.float32), jnp.asarray(X, jnp.float32)
    got = log_bessel_iv(nu32, x32)
    assert got.dtype == jnp.float32
    got = np.asarray(got, np.float64)
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - REF) / np.maximum(np.abs(REF), 1.0)) < 1e-4
    g = np.asarray(jax.vmap(jax.grad(log_bessel_iv, argnums=1))(nu32, x32))
    assert np.all(np.isfinite(g))


def test_jit_vmap_broadcast_and_scalar_nu():
    with jax.enable_x64(True):
        x = jnp.asarray(XS)
        direct = log_bessel_iv(255.0, x)  # a Python-float ν, as the vMF passes it
        assert direct.shape == x.shape and direct.dtype == jnp.float64
        vm = jax.jit(jax.vmap(log_bessel_iv, in_axes=(None, 0)))(255.0, x)
        np.testing.assert_allclose(vm, direct, rtol=1e-14)
        table = jax.jit(log_bessel_iv)(jnp.asarray(NUS)[:, None], x[None, :])  # broadcast ν × x
        assert table.shape == (NUS.size, XS.size)
        np.testing.assert_allclose(np.asarray(table).ravel(), REF, rtol=1e-12, atol=1e-13)
    assert float(log_bessel_iv(0.0, 0.0)) == 0.0 and float(log_bessel_iv(2.0, 0.0)) == -np.inf
    assert float(jax.grad(log_bessel_iv, argnums=1)(0.0, 0.0)) == 0.0


@pytest.mark.parametrize("d, kappa", [(3, 1500.0), (3, 5000.0), (64, 1500.0), (1024, 5000.0), (1024, 1e5)])
def test_von_mises_fisher_high_concentration(d, kappa):
    rng = np.random.default_rng(d)
    mu = rng.normal(size=d)
    mu /= np.linalg.norm(mu)
    x = mu + rng.normal(size=(3, d)) * 3 / math.sqrt(kappa)
    x = np.concatenate([x / np.linalg.norm(x, axis=1, keepdims=True), mu[None]])
    with jax.enable_x64(True):
        lp = np.asarray(VonMisesFisher(jnp.asarray(mu), kappa).log_prob(jnp.asarray(x)))
    np.testing.assert_allclose(lp, st.vonmises_fisher(mu, kappa).logpdf(x), rtol=1e-10)
