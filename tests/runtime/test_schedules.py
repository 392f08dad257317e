"""Noise processes for diffusion priors (runtime/schedules.py).

Monte Carlo checks use 5 standard errors: with 3 processes × 3 starting points ×
3 times × 2 moments = 54 checks, each Gaussian-exact (see `_simulate`), a false
failure has probability < 54 × 5.7e-7 ≈ 3e-5. The seed moves with AUGURY_TEST_SEED.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from augury.runtime.predictions import KINDS, AffineDataMap, DataRange, convert, data_map, tweedie_mean
from augury.runtime.schedules import EDM, VE, VP, make_schedule

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))

SDES = [VP(0.1, 20.0), VE(0.01, 50.0), EDM(0.002, 80.0, 7.0)]
IDS = ["vp", "ve", "edm"]


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


# ------------------------------------------------------ forward SDE vs marginal

N_STEPS = 2000
N_PATHS = 20_000  # per starting point
X0 = np.array([-1.5, 0.0, 2.0])


def _setup(sde):
    """(horizon T, snapshot times, initial std) for simulating from t = 0."""
    if isinstance(sde, VP):
        return 1.0, (0.1, 0.5, 1.0), 0.0
    if isinstance(sde, VE):
        # the VE convention: the SDE starts at t = 0 from x0 + sigma_min eps0
        return 1.0, (0.25, 0.5, 1.0), sde.sigma_min
    return 2.0, (0.5, 1.0, 2.0), 0.0  # EDM: sigma(t) = t from 0


def _simulate(sde, key):
    """Euler–Maruyama x_{k+1} = x_k + f(x_k, t_k) h + g(t_k) sqrt(h) z_k from t = 0,
    for each x0 in X0 with N_PATHS paths; returns {time: (3, N_PATHS) states}."""
    T, times, s0 = _setup(sde)
    h = T / N_STEPS
    marks = [round(t / h) for t in times]

    @jax.jit
    def run(key):
        k0, key = jax.random.split(key)
        x = jnp.asarray(X0)[:, None] + s0 * jax.random.normal(k0, (3, N_PATHS))

        def step(x, k):
            t = k * h
            z = jax.random.normal(jax.random.fold_in(key, k), x.shape)
            return x + sde.drift(x, t) * h + sde.diffusion(t) * math.sqrt(h) * z, None

        out, start = [], 0
        for m in marks:
            x, _ = jax.lax.scan(step, x, jnp.arange(start, m))
            out.append(x)
            start = m
        return out

    return dict(zip(times, run(key))), h, s0


def _em_moments(sde, x0, t_end, h, s0):
    """Exact mean and variance of the Euler–Maruyama chain. All three SDEs are
    linear, f(x, t) = c(t) x, so with a Gaussian start the chain is Gaussian with
    m_{k+1} = (1 + c_k h) m_k, v_{k+1} = (1 + c_k h)^2 v_k + g_k^2 h. Its distance
    to (alpha x0, sigma^2) is the Euler bias, exactly."""
    n = round(t_end / h)
    t = jnp.arange(n) * h
    a = np.asarray(1 + sde.drift(1.0, t) * h)  # (1 + c_k h), computed once, vectorised
    q = np.asarray(sde.diffusion(t) ** 2 * h)
    m, v = float(x0), s0 * s0
    for k in range(n):
        m, v = a[k] * m, a[k] ** 2 * v + q[k]
    return m, v


@pytest.mark.slow
@pytest.mark.parametrize("sde", SDES, ids=IDS)
def test_forward_sde_matches_marginals(sde):
    snaps, h, s0 = _simulate(sde, jax.random.PRNGKey(SEED))
    for t, x in snaps.items():
        x = np.asarray(x)
        alpha, sigma = float(sde.alpha(t)), float(sde.sigma(t))
        for i, x0 in enumerate(X0):
            m_em, v_em = _em_moments(sde, x0, t, h, s0)
            bias_m, bias_v = abs(m_em - alpha * x0), abs(v_em - sigma**2)
            # the Euler bias is first order in h (here ≤ 20 h relative), so the
            # closed-form alpha, sigma really are the continuum limit of drift/diffusion
            assert bias_m <= 20 * h * max(abs(alpha * x0), 1e-300) + 1e-300
            assert bias_v <= 20 * h * sigma**2
            # Monte Carlo: sample mean of P iid N(m_em, v_em) has SE sqrt(v_em / P);
            # the sample variance has SE v_em sqrt(2 / (P - 1)).
            se_m = math.sqrt(v_em / N_PATHS)
            se_v = v_em * math.sqrt(2.0 / (N_PATHS - 1))
            mean, var = x[i].mean(), x[i].var(ddof=1)
            assert abs(mean - alpha * x0) <= 5 * se_m + bias_m, (t, x0, mean, alpha * x0)
            assert abs(var - sigma**2) <= 5 * se_v + bias_v, (t, x0, var, sigma**2)


# ------------------------------------------------------------ deterministic maths


@pytest.mark.parametrize("sde", SDES, ids=IDS)
def test_marginals_solve_moment_odes(sde):
    """For f = c(t) x: d log alpha / dt = c and d sigma^2 / dt = 2 c sigma^2 + g^2."""
    ts = jnp.linspace(sde.t_min + 1e-3, sde.t_max, 7)
    for t in ts:
        c = sde.drift(1.0, t)
        dlog_alpha = jax.grad(lambda s: jnp.log(sde.alpha(s)))(t)
        dvar = jax.grad(lambda s: sde.sigma(s) ** 2)(t)
        np.testing.assert_allclose(dlog_alpha, c, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dvar, 2 * c * sde.sigma(t) ** 2 + sde.diffusion(t) ** 2, rtol=1e-10)


@pytest.mark.parametrize("sde", SDES, ids=IDS)
def test_log_snr_and_inverses(sde):
    ts = jnp.linspace(sde.t_min, sde.t_max, 11)
    np.testing.assert_allclose(sde.log_snr(ts), jnp.log(sde.alpha(ts) ** 2 / sde.sigma(ts) ** 2), rtol=1e-10)
    np.testing.assert_allclose(sde.t_of_sigma(sde.sigma(ts)), ts, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sde.t_of_log_snr(sde.log_snr(ts)), ts, rtol=1e-9, atol=1e-12)


def test_closed_forms():
    vp = VP(0.1, 20.0)
    t = 0.3
    np.testing.assert_allclose(vp.alpha(t), math.exp(-0.5 * (0.1 * t + 0.5 * 19.9 * t * t)), rtol=1e-14)
    np.testing.assert_allclose(vp.alpha(t) ** 2 + vp.sigma(t) ** 2, 1.0, rtol=1e-14)
    np.testing.assert_allclose(vp.diffusion(t), math.sqrt(0.1 + t * 19.9), rtol=1e-14)
    ve = VE(0.01, 50.0)
    np.testing.assert_allclose(ve.sigma(0.0), 0.01, rtol=1e-14)
    np.testing.assert_allclose(ve.sigma(1.0), 50.0, rtol=1e-14)
    np.testing.assert_allclose(ve.diffusion(t), ve.sigma(t) * math.sqrt(2 * math.log(5000)), rtol=1e-14)
    edm = EDM()
    np.testing.assert_allclose(edm.sigma(3.0), 3.0)
    np.testing.assert_allclose(edm.diffusion(3.0), math.sqrt(6.0))
    assert float(edm.alpha(3.0)) == 1.0 and float(ve.alpha(0.5)) == 1.0


@pytest.mark.parametrize("sde", SDES, ids=IDS)
def test_dtype_follows_input_and_jit(sde):
    t32 = jnp.float32(0.5) * (sde.t_max - sde.t_min) + sde.t_min
    for f in (sde.alpha, sde.sigma, sde.diffusion, sde.log_snr):
        assert f(t32).dtype == jnp.float32
        assert f(jnp.float64(t32)).dtype == jnp.float64
    assert sde.drift(jnp.ones(3, jnp.float32), t32).dtype == jnp.float32
    assert sde.grid(4, jnp.float32).dtype == jnp.float32
    np.testing.assert_allclose(jax.jit(sde.sigma)(0.7 * sde.t_max), sde.sigma(0.7 * sde.t_max), rtol=1e-14)
    assert hash(sde) == hash(type(sde)())  # frozen, hashable (static-arg friendly)


@pytest.mark.parametrize("sde", SDES, ids=IDS)
@pytest.mark.parametrize("steps", [2, 3, 18, 100])
def test_grid(sde, steps):
    g = np.asarray(sde.grid(steps))
    assert g.shape == (steps + 1,)
    assert np.all(np.diff(g) < 0)
    assert g[0] == sde.t_max
    if isinstance(sde, EDM):
        assert g[-2] == sde.sigma_min and g[-1] == 0.0
        a, b = sde.sigma_max ** (1 / sde.rho), sde.sigma_min ** (1 / sde.rho)
        i = np.arange(steps)
        np.testing.assert_allclose(g[:-1], (a + i / (steps - 1) * (b - a)) ** sde.rho, rtol=1e-12)
    else:
        assert g[-1] == sde.t_min
        np.testing.assert_allclose(np.diff(g), -(sde.t_max - sde.t_min) / steps, rtol=1e-10)
    if isinstance(sde, VP):
        assert sde.t_min == 1e-3


# ------------------------------------------------------------------ predictions


@pytest.mark.parametrize("sde", SDES, ids=IDS)
def test_conversions(sde):
    key = jax.random.PRNGKey(SEED + 100)
    k1, k2 = jax.random.split(key)
    x0 = jax.random.normal(k1, (5,))
    eps = jax.random.normal(k2, (5,))
    for frac in (0.1, 0.5, 0.9):
        t = sde.t_min + frac * (sde.t_max - sde.t_min)
        a, s = sde.alpha(t), sde.sigma(t)
        x_t = a * x0 + s * eps
        truth = {"eps": eps, "x0": x0, "score": -eps / s, "v": a * eps - s * x0}
        for kf in KINDS:
            for kt in KINDS:
                got = convert(truth[kf], kf, kt, x_t, a, s)
                np.testing.assert_allclose(got, truth[kt], rtol=1e-9, atol=1e-9 * float(jnp.abs(truth[kt]).max()))
        # round trip eps -> x0 -> score -> v -> eps
        p = eps
        for kf, kt in [("eps", "x0"), ("x0", "score"), ("score", "v"), ("v", "eps")]:
            p = convert(p, kf, kt, x_t, a, s)
        np.testing.assert_allclose(p, eps, rtol=0, atol=1e-12)


def test_convert_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind_from"):
        convert(1.0, "noise", "eps", 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="kind_to"):
        convert(1.0, "eps", "mean", 1.0, 1.0, 1.0)


@pytest.mark.parametrize("sde", SDES, ids=IDS)
def test_tweedie_gaussian(sde):
    """x0 ~ N(m, s^2), x_t = alpha x0 + sigma eps: x_t ~ N(alpha m, V), V = alpha^2 s^2 +
    sigma^2, score = -(x_t - alpha m) / V, and E[x0 | x_t] = m + alpha s^2 (x_t - alpha m) / V
    = (alpha s^2 x_t + sigma^2 m) / V (Gaussian conditioning)."""
    m, s2 = 0.7, 1.9
    x_t = jnp.linspace(-4.0, 4.0, 9)
    for frac in (0.05, 0.5, 1.0):
        t = sde.t_min + frac * (sde.t_max - sde.t_min)
        a, sg = sde.alpha(t), sde.sigma(t)
        V = a * a * s2 + sg * sg
        logp = lambda x: -0.5 * (x - a * m) ** 2 / V  # noqa: E731
        score = jax.vmap(jax.grad(logp))(x_t)
        posterior_mean = (a * s2 * x_t + sg * sg * m) / V
        np.testing.assert_allclose(tweedie_mean(score, x_t, a, sg), posterior_mean, rtol=1e-10, atol=1e-12)
        # and the x0-prediction of the same score
        np.testing.assert_allclose(convert(score, "score", "x0", x_t, a, sg), posterior_mean, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ data ranges


def test_data_map_roundtrip_and_score():
    dm = data_map((-1.0, 1.0), (0.0, 1.0))
    assert isinstance(dm, AffineDataMap)
    assert dm.scale == 2.0 and dm.shift == -1.0
    np.testing.assert_allclose(dm.to_network(jnp.array([0.0, 0.5, 1.0])), [-1.0, 0.0, 1.0])
    dm2 = data_map(DataRange(0.0, 255.0), DataRange(-3.0, 2.0))
    x = jax.random.uniform(jax.random.PRNGKey(SEED), (50,), minval=-3.0, maxval=2.0)
    for d in (dm, dm2):
        np.testing.assert_allclose(d.from_network(d.to_network(x)), x, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(d.to_network(d.from_network(x)), x, rtol=1e-14, atol=1e-13)
        # a non-Gaussian model log density (logistic mixture-ish) and its pushforward
        logp_x = lambda u: -jnp.logaddexp(0.0, 1.3 * u - 0.4) - 0.2 * u**2  # noqa: E731
        logp_y = lambda y: logp_x(d.from_network(y)) - d.log_abs_det()  # noqa: E731
        y = d.to_network(x)
        score_y = jax.vmap(jax.grad(logp_y))(y)
        score_x = jax.vmap(jax.grad(logp_x))(x)
        np.testing.assert_allclose(d.score_to_network(score_x), score_y, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(d.score_from_network(score_y), score_x, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(d.sigma_from_network(d.sigma_to_network(0.3)), 0.3, rtol=1e-14)
    np.testing.assert_allclose(dm.sigma_to_network(0.1), 0.2)


def test_data_map_bad_ranges():
    with pytest.raises(ValueError, match="network_range"):
        data_map((1.0, -1.0), (0.0, 1.0))
    with pytest.raises(ValueError, match="model_range"):
        data_map((-1.0, 1.0), (0.0,))
    with pytest.raises(ValueError, match="lo"):
        DataRange(2.0, 2.0)


# --------------------------------------------------------------------- factory


def test_make_schedule_from_evaluator_tuples():
    # compiler/evaluate.py `_call` returns (name, tuple(args), tuple(sorted(kwargs.items())))
    assert make_schedule(("vp", (), (("beta_max", 20.0), ("beta_min", 0.1)))) == VP(0.1, 20.0)
    assert make_schedule(("vp", (0.1, 20), ())) == VP(0.1, 20.0)
    assert make_schedule(("ve", (0.02,), (("sigma_max", 30),))) == VE(0.02, 30.0)
    assert make_schedule(("edm", (), (("rho", 5.0),))) == EDM(rho=5.0)
    assert make_schedule("edm", 0.01, 10.0, 3.0) == EDM(0.01, 10.0, 3.0)
    assert make_schedule("vp", beta_max=12.0) == VP(beta_max=12.0)


@pytest.mark.parametrize(
    "spec, word",
    [
        (("vp", (), (("beta_max", 0.1), ("beta_min", 20.0))), "beta_min"),
        (("vp", (5.0, 5.0), ()), "beta_min"),
        (("vp", (-1.0,), ()), "beta_min"),
        (("vp", (), (("beta_mx", 20.0),)), "beta_mx"),
        (("vp", (0.1, 20.0, 3.0), ()), "positional"),
        (("vp", (0.1,), (("beta_min", 0.2),)), "beta_min"),
        (("vp", (), (("beta_max", "big"),)), "beta_max"),
        (("vp", (), (("beta_max", float("inf")),)), "beta_max"),
        (("ve", (0.0, 50.0), ()), "sigma_min"),
        (("ve", (), (("sigma_min", -1.0),)), "sigma_min"),
        (("ve", (), (("sigma_min", 60.0),)), "sigma_min"),
        (("ve", (), (("rho", 7.0),)), "rho"),
        (("edm", (), (("rho", 0.0),)), "rho"),
        (("edm", (), (("rho", -2.0),)), "rho"),
        (("edm", (), (("sigma_min", 0.0),)), "sigma_min"),
        (("edm", (), (("sigma_max", True),)), "sigma_max"),
        (("torch", (), ()), "torch"),
    ],
)
def test_make_schedule_bad_arguments(spec, word):
    with pytest.raises(ValueError, match=word):
        make_schedule(spec)


def test_bad_grid_steps():
    with pytest.raises(ValueError, match="steps"):
        VP().grid(0)
    with pytest.raises(ValueError, match="steps"):
        EDM().grid(1)
    with pytest.raises(ValueError, match="steps"):
        VE().grid(2.5)
