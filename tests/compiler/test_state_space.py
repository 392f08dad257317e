"""Chain recognition and the state-space callables the filters run (compiler/state_space.py)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import augury
from augury.compiler.problem import problem_for
from augury.compiler.state_space import ChainForm, recognize
from augury.model import precision_scope

SV = """
data y : real[T]
param x : real[T]
const mu = -1.0
const rho = 0.95
const sigma = 0.2
x[0] ~ normal(mu, sigma / sqrt(1 - rho ** 2))
for t in range(1, T) { x[t] ~ normal(mu + rho * (x[t - 1] - mu), sigma) }
for t in range(T) { y[t] ~ normal(0, exp(x[t] / 2)) }
"""

# the language reference's chain (tests/dsl/models.py) and the smc2 example, a chain with two
# static parameters
def _language_models():
    import importlib.util
    spec = importlib.util.spec_from_file_location("language_models", Path(__file__).resolve().parents[1] / "dsl" /
                                                  "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AR1 = _language_models().AR1
STATIC = (Path(__file__).resolve().parents[2] / "examples" / "ar1_noisy.aug").read_text()


def _problem(src, data, method):
    m = augury.compile(src)
    with precision_scope("float64"):
        low, _ = m.bind(data, precision="float64", with_prior=True)
        return m, problem_for(method, low)


def test_recognizes_the_language_reference_chain():
    form = recognize(augury.compile(AR1).structure)
    assert isinstance(form, ChainForm) and form.name == "x" and not form.static
    methods = augury.compile(AR1).methods()
    assert methods["particle_filter"] is None
    assert "no static parameter" in methods["pmmh"]
    m = augury.compile(STATIC)
    assert m.methods()["pmmh"] is None and m.methods()["smc2"] is None
    assert "`a`, `s` are parameters next to the chain" in m.methods()["particle_filter"]


@pytest.mark.parametrize("edit, reason", [
    (("x[t] ~ normal(a * x[t - 1], 0.5)", "x[t] ~ normal(a * x[t - 1] + 0.1 * x[t - 2], 0.5)"), "first-order"),
    (("for t in range(T)    { y[t] ~ normal(x[t], 1.0) }",
      "for t in range(T) { let m[t] = x[t] }\nfor t in range(T) { y[t] ~ normal(m[t], 1.0) }"), "reads the chain"),
    (("for t in range(T)    { y[t] ~ normal(x[t], 1.0) }",
      "for t in range(1, T) { y[t] ~ normal(x[t] - x[t - 1], 1.0) }"), "other than as `x[t]`"),
    (("x[0] ~ normal(0, 1)", "x[0] ~ normal(0, 1)\ndata z : real\nz ~ normal(sum(x), 1)"), "reads `x` in a way"),
])
def test_refuses_forms_the_filters_cannot_run(edit, reason):
    form = recognize(augury.compile(AR1.replace(*edit)).structure)
    assert isinstance(form, str) and reason in form, form


def test_densities_match_scipy_and_the_step_is_linear_gaussian():
    y = np.random.default_rng(0).normal(size=12)
    _, p = _problem(AR1, {"y": y}, "particle_filter")
    ss = p.state_space
    assert (ss.length, ss.state_shape) == (12, ())
    with jax.enable_x64(True):
        assert float(ss.init_log_density(0.3, {})) == pytest.approx(st.norm(0, 1).logpdf(0.3))
        tl = jax.jit(lambda x, xp, t: ss.transition_log_density(x, xp, t, {}))
        assert float(tl(0.5, 1.0, 3)) == pytest.approx(st.norm(0.9, 0.5).logpdf(0.5))
        el = jax.jit(lambda x, t: ss.emission_log_density(x, t, {}))
        for t in (0, 5, 11):
            assert float(el(0.3, t)) == pytest.approx(st.norm(0.3, 1).logpdf(y[t]))
        draws = jax.vmap(lambda k: ss.transition_draw(k, 2.0, 4, {}))(jax.random.split(jax.random.PRNGKey(1), 20000))
        assert abs(float(draws.mean()) - 1.8) < 5 * 0.5 / np.sqrt(20000)
        lg = ss.linear_gaussian
        assert lg is not None
        H, b, R, yt = lg.emission(4, {})
        np.testing.assert_allclose(H, [[1.0]]), np.testing.assert_allclose(b, [0.0]), np.testing.assert_allclose(R, [[1.0]])
        np.testing.assert_allclose(yt, [y[4]])
        np.testing.assert_allclose(lg.transition_mean(jnp.array([2.0]), 3, {}), [1.8])
        np.testing.assert_allclose(lg.transition_cov(3, {}), [[0.25]])


def test_nonlinear_emission_is_not_linear_gaussian():
    _, p = _problem(SV, {"y": np.random.default_rng(1).normal(size=10)}, "particle_filter")
    assert p.state_space.linear_gaussian is None
    with jax.enable_x64(True):
        lp = float(p.state_space.emission_log_density(-0.4, 2, {}))
    y2 = np.random.default_rng(1).normal(size=10)[2]
    assert lp == pytest.approx(st.norm(0, np.exp(-0.2)).logpdf(y2))


def test_observations_on_part_of_the_steps():
    src = AR1.replace("for t in range(T)    { y[t] ~ normal(x[t], 1.0) }",
                      "for t in range(3, T) { y[t] ~ normal(x[t], 1.0) }")
    y = np.random.default_rng(2).normal(size=8)
    _, p = _problem(src, {"y": y}, "particle_filter")
    with jax.enable_x64(True):
        el = jax.jit(lambda x, t: p.state_space.emission_log_density(x, t, {}))
        assert float(el(0.2, 1)) == 0.0
        assert float(el(0.2, 3)) == pytest.approx(st.norm(0.2, 1).logpdf(y[3]))
        assert not bool(p.state_space.linear_gaussian.observed(2))


@pytest.mark.slow
def test_static_parameters_prior_and_theta():
    y = np.random.default_rng(3).normal(size=10)
    _, p = _problem(STATIC, {"y": y}, "pmmh")
    s = p.static
    assert s.dimension == 2
    with jax.enable_x64(True):
        z = s.draw(jax.random.PRNGKey(4))
        th = s.constrain(z)
        a, sd = float(th["a"]), float(th["s"])
        # beta(2, 2) on a (logit map), half-normal on s (log map): densities plus log-Jacobians
        expected = st.beta(2, 2).logpdf(a) + np.log(a * (1 - a)) + st.halfnorm().logpdf(sd) + np.log(sd)
        assert float(s.log_prior(z)) == pytest.approx(expected, rel=1e-10)
        assert float(p.state_space.transition_log_density(0.5, 1.0, 3, th)) == pytest.approx(
            st.norm(a, sd).logpdf(0.5))
    assert p.state_space.linear_gaussian is not None


def test_vector_state():
    src = """
data y : real[T]
param x : real[T, 2]
const F = [[0.9, 0.1], [-0.1, 0.9]]
x[0] ~ mvnormal(zeros(2), eye(2))
for t in range(1, T) { x[t] ~ mvnormal(F @ x[t - 1], 0.25 * eye(2)) }
for t in range(T) { y[t] ~ normal(x[t, 0], 0.5) }
"""
    form = recognize(augury.compile(src).structure)
    assert isinstance(form, str)  # `x[t, 0]` is not `x[t]`: a documented limit
    src = src.replace("y[t] ~ normal(x[t, 0], 0.5)", "y[t] ~ normal(x[t][0], 0.5)")
    y = np.random.default_rng(5).normal(size=6)
    _, p = _problem(src, {"y": y}, "particle_filter")
    ss = p.state_space
    assert ss.state_shape == (2,)
    with jax.enable_x64(True):
        lg = ss.linear_gaussian
        assert lg is not None
        H, b, R, yt = lg.emission(2, {})
        np.testing.assert_allclose(H, [[1.0, 0.0]])
        np.testing.assert_allclose(lg.transition_mean(jnp.array([1.0, 2.0]), 1, {}), [1.1, 1.7])
        assert float(ss.emission_log_density(jnp.array([0.4, 9.0]), 2, {})) == pytest.approx(
            st.norm(0.4, 0.5).logpdf(y[2]))


def test_check_report_names_the_chain_or_why_the_filters_do_not_run_it():
    report = augury.compile(STATIC).check_report()
    assert "chain x: a state-space model (initial x[0], transition x[t] | x[t - 1], observations y); " \
           "static parameters a, s" in report
    lagged = augury.compile(AR1.replace("x[t] ~ normal(a * x[t - 1], 0.5)",
                                        "x[t] ~ normal(a * x[t - 1] + 0.1 * x[t - 2], 0.5)")).check_report()
    assert "chain: the particle filters do not run it:" in lagged and "first-order" in lagged


@pytest.mark.parametrize("emission, linear", [
    ("normal(2 * x[t] - 1, 1.0)", True),
    ("normal(-x[t] / 4 + 3, 1.0)", True),
    ("normal(min(x[t], 5.0), 1.0)", False),   # linear at the probe points, not beyond 5
    ("normal(abs(x[t]), 1.0)", False),
    ("normal(x[t], 1.0 + 0 * x[t])", False),  # the scale reads the state
    ("normal(x[t] * x[t], 1.0)", False),
])
def test_linear_gaussian_steps_are_read_off_the_syntax(emission, linear):
    src = AR1.replace("normal(x[t], 1.0)", emission)
    _, p = _problem(src, {"y": np.zeros(5)}, "particle_filter")
    assert (p.state_space.linear_gaussian is not None) == linear


def test_a_nonlinear_transition_mean_still_takes_the_optimal_proposal():
    # the optimal proposal evaluates the transition mean per particle: only the emission mean must
    # be affine, and the covariances free of the state; both proposals estimate the same log Z
    src = AR1.replace("x[t] ~ normal(a * x[t - 1], 0.5)", "x[t] ~ normal(2 * sin(x[t - 1]), 0.5)")
    y = np.random.default_rng(6).normal(size=30)
    model, p = _problem(src, {"y": y}, "particle_filter")
    assert p.state_space.linear_gaussian is not None
    runs = {prop: model.sample({"y": y}, method="particle_filter", seed=0, particles=4000, proposal=prop,
                               smoothing="none", resample="multinomial") for prop in ("optimal", "bootstrap")}
    sd = np.hypot(*(r.log_evidence_sd for r in runs.values()))
    # 5 combined sds (Lee & Whiteley, calibrated for multinomial resampling), floor 0.05 nats
    assert abs(runs["optimal"].log_evidence - runs["bootstrap"].log_evidence) < 5 * max(sd, 0.05)
