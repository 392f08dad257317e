"""Faults at run time, through every method they apply to (issue 18, item 7): each is an
`AuguryError` naming the method, the step (or iteration) and the fault, or, for weight collapse,
a loud warning in `post.warnings` with the step and what to try; from the CLI, exit 1 and no
traceback.  The table of outcomes is in docs/samplers.md, "What happens when something goes
wrong".

Faults: a network that returns NaN below a noise level (t < 0.45: on vp(0.1, 20) with 10 steps,
step 7 is the first from t < 0.45, t = 0.4006; pc's corrector calls the network at the step's end,
so its step 6 fails), one that overflows there (1e30, or inf), weight collapse (an outlier
observation, a tiny noise), a `python(...)` operator that raises or returns the wrong shape, and a
log density that becomes NaN mid-run (an operator that is NaN for x > 1; data past float64's
range when squared).  Tiny problems (4 pixels, 10 steps, 4 particles); the default tier runs one
cell per fault, the slow tier the rest."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import augury
from augury.cli import main
from augury.errors import AuguryError
from mixture_models import gaussian_mixture

sys.path.insert(0, str(Path(__file__).resolve().parent / "samplers"))
from exact_networks import jax_gaussian_eps  # noqa: E402

T_BAD = 0.45  # the networks go wrong below this time
GUIDANCE = ["dps", "pigdm", "ddrm", "pc", "tweedie"]
PARTICLE = ["tds", "mcgdiff", "ensemble"]
DIFFUSION = GUIDANCE + PARTICLE
NONLINEAR_OK = ["dps", "tds", "ensemble"]  # the diffusion methods that take a nonlinear operator
# pc's corrector and tds's twisting call the network at the step's end time: their step 6 (0.5005 -> 0.4006) fails
FIRST_BAD_STEP = {m: "1 of 1" if m == "tweedie" else "6 of 10" if m in ("pc", "tds") else "7 of 10" for m in DIFFUSION}
SETTINGS = {m: {} if m == "tweedie" else dict(particles=4, steps=10) for m in DIFFUSION}

NETWORK = """
model net
data y : real[4]
data keep : real[4]
param x : real[4]
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
op A = mask(keep)
y ~ normal(A(x), NOISE)
"""
DENOISE = """
model net
data y : real[4]
param x : real[4]
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
y ~ normal(x, NOISE)
"""
OPERATOR = """
model op
data y : real[4]
param x : real[4]
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
op A = python("faultops:FN")
y ~ normal(A(x), 0.1)
"""
GENERAL = """
model general
data y : real[3]
param x : real[3]
x ~ normal(0, 1)
op A = python("faultops:FN")
y ~ normal(A(x), 0.5)
"""
VOLATILITY = """
model volatility
data y : real[T]
data s : real[T]
param h : real[T]
h[0] ~ normal(0, 1)
for t in range(1, T) { h[t] ~ normal(0.9 * h[t - 1], 0.5) }
for t in range(T) { y[t] ~ normal(0, exp(h[t] / 2) * s[t]) }
"""
FAULTOPS = '''
import jax.numpy as jnp

def raises(x):
    raise ValueError("the operator failed on purpose")

def wrong_shape(x):
    return x[..., :2]

def nan_above(x):
    return jnp.where(x > 1.0, jnp.nan, x)

def inf_above(x):
    return jnp.where(x > 1.0, jnp.inf, x)

def nan_net(x, t):
    return jnp.where((t < 0.45)[:, None], jnp.nan, 0.1 * x)
'''
GENERAL_SETTINGS = {"nuts": dict(warmup=20, samples=20, chains=1), "hmc": dict(warmup=20, samples=20, chains=1, num_steps=10),
                    "prior": dict(samples=20), "smc": dict(particles=20)}


@pytest.fixture(scope="module", autouse=True)
def faultops(tmp_path_factory):
    """The module `faultops` (the faulty operators and a network) on sys.path."""
    d = tmp_path_factory.mktemp("faultops")
    (d / "faultops.py").write_text(textwrap.dedent(FAULTOPS))
    sys.path.insert(0, str(d))
    yield d
    sys.path.remove(str(d))
    sys.modules.pop("faultops", None)


_EXACT = jax_gaussian_eps(np.zeros(4), 0.3)


def _net(value):
    """The exact ε of N(0, 0.3 I), but `value` (NaN, 1e30, inf) for t < T_BAD."""
    return lambda x, t: jnp.where((t < T_BAD)[:, None], value, _EXACT(x, t))


def _diffusion(method: str, net, noise: float = 0.1, y=(1.0, 1.0, 1.0, 1.0)):
    src = (DENOISE if method == "tweedie" else NETWORK).replace("NOISE", str(noise))
    data = {"y": np.asarray(y)} if method == "tweedie" else {"y": np.asarray(y), "keep": np.array([1.0, 1, 0, 0])}
    return augury.compile(src, bind={"unet": net}).sample(data, method=method, seed=0, **SETTINGS[method])


def _error(run) -> AuguryError:
    with pytest.raises(AuguryError) as e:
        run()
    return e.value


def _slow_but(*fast):
    """Parametrize values: those in `fast` in the default tier, the others (the same fault through
    the other methods) in the extended tier."""
    def cases(values):
        return [v if v in fast else pytest.param(v, marks=pytest.mark.extended) for v in values]
    return cases


# ---------------------------------------------------------------- NaN and overflow from a network

@pytest.mark.parametrize("method", _slow_but("tds")(DIFFUSION))
def test_nan_from_the_network_names_it_the_method_and_the_step(method):
    err = _error(lambda: _diffusion(method, _net(jnp.nan)))
    msg = str(err)
    assert "the network `net = unet`" in msg and f"produced NaN or infinity at step {FIRST_BAD_STEP[method]} of `{method}`" \
        in msg, msg
    assert err.span.line == (5 if method == "tweedie" else 6)  # at `net = unet`


@pytest.mark.parametrize("method", _slow_but("ddrm", "mcgdiff")(DIFFUSION))
def test_an_overflowing_score_names_the_network_the_method_and_the_step(method):
    """1e30 is finite: before the fix the guidance methods returned draws of 1e30 silently, and
    the particle methods said only that every weight was zero."""
    msg = str(_error(lambda: _diffusion(method, _net(1e30))))
    assert "the network `net = unet`" in msg and "produced a value over 1e+18 in magnitude (an overflowing score) at " \
        f"step {FIRST_BAD_STEP[method]} of `{method}`" in msg, msg


@pytest.mark.extended
@pytest.mark.parametrize("method", ["dps", "tds"])
def test_an_infinite_score_is_the_networks_nan_or_infinity(method):
    msg = str(_error(lambda: _diffusion(method, _net(jnp.inf))))
    assert f"produced NaN or infinity at step {FIRST_BAD_STEP[method]} of `{method}`" in msg, msg


# ---------------------------------------------------------------- weight collapse

@pytest.mark.slow
def test_weight_collapse_of_tds_is_a_warning_with_the_step():
    """An observation 5 prior sds out, seen with noise 0.001: the weights of 4 particles collapse.
    (mcgdiff and ensemble keep an ESS near 8 of 8 here: their proposals use y; they share the
    warning, `diagnostics.particle_warnings`.)"""
    post = _diffusion("tds", _EXACT, noise=0.001, y=(5.0, -5.0, 0.0, 0.0))
    w = [w for w in post.warnings if "collapsed at step" in w]
    assert w and "try:" in w[0], post.warnings


@pytest.mark.slow  # 6 s of compiling; the other collapse cell is tds's
def test_weight_collapse_of_the_particle_filter_names_the_step_of_the_outlier():
    T = 12
    y, s = np.full(T, 0.3), np.ones(T)
    y[8] = 40.0  # 40 sds at the prior's volatility: a handful of particles carry the weight at t = 8
    post = augury.compile(VOLATILITY).sample({"y": y, "s": s}, method="particle_filter", seed=0, particles=20, paths=2)
    w = [w for w in post.warnings if "collapsed" in w]
    assert w and "t = 8" in w[0] and "try:" in w[0], post.warnings


# ---------------------------------------------------------------- operators that raise or misshape

@pytest.mark.parametrize("method", _slow_but("dps")(DIFFUSION))
def test_an_operator_that_raises_is_named_with_the_model_line(method):
    model = augury.compile(OPERATOR.replace("FN", "raises"), bind={"unet": _EXACT}, allow_python=True)
    err = _error(lambda: model.sample({"y": np.ones(4)}, method=method, seed=0, **SETTINGS[method]))
    msg = str(err)
    if method not in NONLINEAR_OK:  # refused before anything runs: these need a linear operator
        assert f"`{method}` does not apply to this model" in msg and "dps, tds, ensemble" in msg, msg
        return
    assert f"{method} cannot use this measurement" in msg, msg
    assert '`python("faultops:raises")` raised ValueError: the operator failed on purpose' in msg, msg
    assert err.span.line == 7 and "A(x)" in msg  # the line that applies it


@pytest.mark.parametrize("method", _slow_but("tds")(NONLINEAR_OK))
def test_an_operator_of_the_wrong_shape_is_named_before_sampling(method):
    """It returned a broadcasting traceback from inside the sampler before the fix."""
    model = augury.compile(OPERATOR.replace("FN", "wrong_shape"), bind={"unet": _EXACT}, allow_python=True)
    err = _error(lambda: model.sample({"y": np.ones(4)}, method=method, seed=0, **SETTINGS[method]))
    assert "`faultops:wrong_shape` maps x of shape (4,) to shape (2,), and the data have shape (4,)" in str(err), str(err)
    assert err.span.line == 7


@pytest.mark.parametrize("method", list(GENERAL_SETTINGS))
@pytest.mark.parametrize("fn", ["raises", "wrong_shape"])
def test_a_general_models_operator_fault_is_named_with_the_model_line(method, fn):
    """Applied once when the model is bound, before any sampling: the same error for every method."""
    model = augury.compile(GENERAL.replace("FN", fn), allow_python=True)
    err = _error(lambda: model.sample({"y": np.full(3, 2.0)}, method=method, seed=0, **GENERAL_SETTINGS[method]))
    msg = str(err)
    if fn == "raises":
        assert 'cannot apply `A`: `python("faultops:raises")` raised ValueError: the operator failed on purpose' in msg
    else:
        assert "`y`" in msg and "(3,)" in msg and "(2,)" in msg, msg
    assert err.span.line == 7, msg


# ---------------------------------------------------------------- a log density NaN mid-run

def test_prior_sampling_names_the_variable_and_the_step_where_a_parameter_is_nan():
    model = augury.compile(GENERAL.replace("FN", "nan_above"), allow_python=True)
    msg = str(_error(lambda: model.sample({"y": np.full(3, 2.0)}, method="prior", seed=0, samples=50)))
    assert "`prior` produced NaN or infinity in `y` at step 1" in msg, msg


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nuts", "hmc"])
def test_a_nan_log_density_under_hmc_is_rejected_and_said_as_divergences(method):
    """A NaN log density rejects the proposal (a divergence, as in Stan): the draws stay finite,
    and the divergences are said loudly."""
    model = augury.compile(GENERAL.replace("FN", "nan_above"), allow_python=True)
    post = model.sample({"y": np.full(3, 2.0)}, method=method, seed=0, **GENERAL_SETTINGS[method])
    assert np.all(np.isfinite(post.samples("x")))
    assert any("ended with a divergence" in w for w in post.warnings), post.warnings


@pytest.mark.slow  # two compiled smc runs: about 20 s on 2 shared cores
def test_smc_says_how_many_particles_had_a_nan_log_density_and_at_which_step():
    """x ~ N(0, I₃) and A(x) NaN where some x_i > 1: the prior's particles there get weight zero
    (they did silently before), and the warning counts them at step 1: a Binomial(200, 1 − Φ(1)³
    = 0.405) count, 81 ± 7, checked to 5 sd.  The moves reject NaN proposals, so the weighted
    particles all have x ≤ 1.  An infinite A(x) there (log likelihood −∞, a legitimate zero
    density) gets no such warning."""
    import re
    model = augury.compile(GENERAL.replace("FN", "nan_above"), allow_python=True)
    post = model.sample({"y": np.full(3, 0.5)}, method="smc", seed=0, particles=200)
    w = [w for w in post.warnings if "was NaN" in w]
    assert len(w) == 1 and "try: check the model's support and parameter ranges" in w[0], post.warnings
    m = re.search(r"`smc`: the log likelihood or log prior was NaN at (\d+) of 200 particles at step 1 of", w[0])
    assert m and abs(int(m.group(1)) - 81) <= 35, w[0]
    x, live = post.samples("x"), post.weights > 0
    assert live.sum() > 100 and np.all(x[live] <= 1.0)
    inf = augury.compile(GENERAL.replace("FN", "inf_above"), allow_python=True)
    post = inf.sample({"y": np.full(3, 0.5)}, method="smc", seed=0, particles=200)
    assert not [w for w in post.warnings if "NaN" in w], post.warnings
    assert np.all(post.samples("x")[post.weights > 0] <= 1.0)


def test_a_nan_likelihood_at_one_time_is_said_by_the_particle_filter_with_the_time():
    """A negative scale at t = 6 only: every particle's weight is NaN there."""
    T = 10
    s = np.ones(T)
    s[6] = -1.0
    post = augury.compile(VOLATILITY).sample({"y": np.zeros(T), "s": s}, method="particle_filter", seed=0,
                                             particles=10, paths=2)
    w = [w for w in post.warnings if "not finite" in w]
    assert w and "at t = 6 every particle got weight zero (or a NaN)" in w[0] and "try:" in w[0], post.warnings


AR1_SCALED = VOLATILITY.replace("normal(0, exp(h[t] / 2) * s[t])", "normal(h[t], s[t])")  # linear-Gaussian


@pytest.mark.parametrize("proposal", ["optimal", "bootstrap"])
def test_a_negative_scale_at_one_time_is_said_by_the_filter_of_a_linear_gaussian_chain(proposal):
    """The optimal (Kalman-type) proposal squared the scale, so s[6] = −1 ran as +1 and gave an
    evidence; now both proposals say that t = 6 has no density."""
    T = 10
    s = np.ones(T)
    s[6] = -1.0
    post = augury.compile(AR1_SCALED).sample({"y": np.zeros(T), "s": s}, method="particle_filter", seed=0,
                                             particles=10, paths=2, proposal=proposal)
    w = [w for w in post.warnings if "not finite" in w]
    assert w and "at t = 6 every particle got weight zero (or a NaN)" in w[0], post.warnings


STATIC_VOLATILITY = """
model volatility
data y : real[T]
data s : real[T]
param phi : real(lower = 0, upper = 1)
param h : real[T]
phi ~ uniform(0, 1)
h[0] ~ normal(0, 1)
for t in range(1, T) { h[t] ~ normal(phi * h[t - 1], 0.5) }
for t in range(T) { y[t] ~ normal(EMISSION) }
"""
STATIC_SETTINGS = {"pmmh": dict(particles=10, warmup=25, samples=25, chains=1),
                   "smc2": dict(particles=20, state_particles=10)}


@pytest.mark.slow  # a compiled filter each: about 10 s on 2 shared cores
@pytest.mark.parametrize("method,said", [
    ("pmmh", "`pmmh`: the likelihood estimate is zero or NaN at all 8 prior draws tried for chain 1's start: at t = 6 "
             "every particle got weight zero (or a NaN)"),
    ("smc2", "`smc2` produced NaN or infinity in `ess` at step 6 (t = 6)")])
def test_a_likelihood_of_zero_at_one_time_is_named_with_the_time_by_pmmh_and_smc2(method, said):
    """A negative emission scale at t = 6 for every θ: pmmh's chains could never accept a move
    (it gave 25 copies of the start and a warning about particles), smc2's θ-weights are all zero."""
    T = 10
    s = np.ones(T)
    s[6] = -1.0
    model = augury.compile(STATIC_VOLATILITY.replace("EMISSION", "0, exp(h[t] / 2) * s[t]"))
    msg = str(_error(lambda: model.sample({"y": np.zeros(T), "s": s}, method=method, seed=0,
                                          **STATIC_SETTINGS[method])))
    assert said in msg and "the emission's density there" in msg, msg


@pytest.mark.parametrize("method", ["pmmh", pytest.param("smc2", marks=pytest.mark.slow),
                                    pytest.param("particle_filter", marks=pytest.mark.slow)])
@pytest.mark.parametrize("fn", ["raises", "wrong_shape"])
def test_a_state_space_models_operator_fault_is_named_with_the_model_line(method, fn):
    """A `python(...)` emission that raises or misshapes, in the chain's observation: refused at
    the line applying it, before a filter runs."""
    source = STATIC_VOLATILITY.replace("EMISSION", "A(h[t]), s[t]").replace(
        "param h", 'op A = python("faultops:FN")\nparam h').replace("FN", fn)
    if method == "particle_filter":  # no static parameter: the filter alone
        source = source.replace("param phi : real(lower = 0, upper = 1)", "").replace("phi ~ uniform(0, 1)", "") \
            .replace("phi * h", "0.9 * h")
    model = augury.compile(source, allow_python=True)
    settings = STATIC_SETTINGS.get(method, dict(particles=10))
    msg = str(_error(lambda: model.sample({"y": np.zeros(10), "s": np.ones(10)}, method=method, seed=0, **settings)))
    assert "y[t] ~ normal(A(h[t]), s[t])" in msg and f'python("faultops:{fn}")' in msg, msg


@pytest.mark.parametrize("method,said", [
    pytest.param("pmmh", "the particle weights of the filter at the posterior mean collapsed at t = ", marks=pytest.mark.slow),
    pytest.param("smc2", "the weights collapsed at step 5 (t = 5)", marks=pytest.mark.extended)])
def test_weight_collapse_at_an_outlier_is_said_by_pmmh_and_smc2_with_the_time(method, said):
    """y = exp(h) + N(0, 0.05²) with y[5] = 6 (h[5] ≈ 1.8, 3.5 prior sd out) and 10 bootstrap
    particles: at t = 5 one particle holds the weight (ESS 1.00 at the posterior mean)."""
    T = 10
    y = np.ones(T)
    y[5] = 6.0
    model = augury.compile(STATIC_VOLATILITY.replace("EMISSION", "exp(h[t]), s[t]"))
    post = model.sample({"y": y, "s": np.full(T, 0.05)}, method=method, seed=0, **STATIC_SETTINGS[method])
    w = [w for w in post.warnings if said in w]
    assert w and "try:" in w[0], post.warnings
    if method == "pmmh":
        assert "5" in w[0].split("collapsed at t = ")[1].split(" (")[0].split(", "), w[0]


MIXTURE = gaussian_mixture(2)


@pytest.mark.parametrize("method,said", [pytest.param("em", "`em` produced NaN or infinity in the log posterior at "
                                                      "iteration 1 of 10", marks=pytest.mark.slow),
                                         pytest.param("vi", "`vi` produced NaN or infinity in the evidence lower bound "
                                                      "at iteration 1 of 10", marks=pytest.mark.extended),
                                         ("gibbs", "gibbs: point 5's squared norm overflows (it has |x| = 1e+200)"),
                                         ("split_merge", "split_merge: point 5's squared norm overflows")])
def test_a_mixtures_nan_log_density_names_the_method(method, said):
    """A point at 1e200: its square overflows float64, so the log density is NaN (gibbs's
    k-means++ start raised a bare ValueError on it before the fix; split_merge gave draws)."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(10, 2)) - 3, rng.normal(size=(10, 2)) + 3])
    X[5, 0] = 1e200
    settings = dict(sweeps=10, warmup=5, chains=1) if method in ("gibbs", "split_merge") else dict(iterations=10)
    source = gaussian_mixture(2, dirichlet_process=method == "split_merge")
    msg = str(_error(lambda: augury.compile(source).sample({"X": X}, method=method, seed=0, **settings)))
    assert said in msg, msg


# ---------------------------------------------------------------- the CLI

def test_the_cli_exits_1_naming_a_declared_networks_nan_without_a_traceback(faultops, tmp_path, capsys):
    """`jax("faultops:nan_net")`, allowed: the same error as a bound network's, exit 1."""
    model = tmp_path / "net.aug"
    model.write_text(NETWORK.replace("net = unet", 'net = jax("faultops:nan_net")').replace("NOISE", "0.1"))
    data = tmp_path / "data.json"
    data.write_text('{"y": [1, 1, 1, 1], "keep": [1, 1, 0, 0]}')
    code = main(["run", str(model), "--data", str(data), "--method", "ddrm", "--set", "particles=4", "--set", "steps=10",
                 "--allow-python", "--no-progress", "--no-files"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    assert 'the network `net = jax("faultops:nan_net")`' in err and "produced NaN or infinity at step 7 of 10 of `ddrm`" \
        in err, err


@pytest.mark.slow
def test_hmc_with_a_fixed_trajectory_length_cannot_hang_on_a_nan_region():
    """Static HMC's leapfrog count is trajectory_length / step size, unbounded in NumPyro: a step
    size adapted towards zero where the log density is NaN ran for minutes.  It is cut at
    MAX_LEAPFROG steps and said loudly (an alarm fails the test instead of hanging the suite)."""
    import signal

    from augury.runtime.samplers.nuts import MAX_LEAPFROG

    def stop(*_):
        raise TimeoutError("hmc did not return within 300 s")
    model = augury.compile(GENERAL.replace("FN", "nan_above"), allow_python=True)
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(300)
    try:
        post = model.sample({"y": np.full(3, 2.0)}, method="hmc", seed=0, warmup=100, samples=50, chains=1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert np.all(post.sample_stats["num_steps"] <= MAX_LEAPFROG)
    assert np.all(np.isfinite(post.samples("x")))
    cut = [w for w in post.warnings if f"more than {MAX_LEAPFROG} leapfrog steps" in w]
    assert cut and "try: nuts" in cut[0], post.warnings  # the step size does fall here (to 0.006 at seed 0)
