"""NUTS on conjugate models, against closed-form posteriors."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.special import gammaln, logsumexp

import augury

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

NORMAL = """
data  y : real[N]
param mu : real
param sigma : positive
mu ~ normal(0, 10)
sigma ~ flat()
y ~ normal(mu, 2)
"""


def test_nuts_matches_the_conjugate_normal_posterior():
    rng = np.random.default_rng(1)
    y = rng.normal(1.5, 2.0, size=20)
    # `sigma` is unused by the likelihood: give it a proper prior instead of flat for sampling
    model = augury.compile(NORMAL.replace("sigma ~ flat()", "sigma ~ lognormal(0, 1)"))
    # a dense mass matrix here (the diagonal one is what the conformance tests use)
    post = model.sample(data={"y": y}, seed=3, chains=2, warmup=300, samples=1000, dense_mass=True)
    prec = 1 / 10**2 + 20 / 2**2
    m, s = (y.sum() / 2**2) / prec, prec ** -0.5
    ess = float(post.diagnostics["ess_bulk"]["mu"])
    assert ess > 500
    # Monte Carlo standard error of the mean is s / sqrt(ESS); allow 4 of them
    assert abs(post.mean("mu") - m) < 4 * s / np.sqrt(ess)
    assert post.sd("mu") == pytest.approx(s, rel=0.1)
    # the lognormal(0, 1) prior on sigma is untouched by the data: its median is 1
    assert np.median(post.samples("sigma")) == pytest.approx(1.0, rel=0.15)
    assert post.diagnostics["max_rhat"] < 1.02
    assert post.method == "nuts" and post.samples("mu").shape == (2000,) and post.settings["dense_mass"] is True
    # ArviZ's sample stats: lp is the log density on the sampler's (unconstrained) scale, the
    # log-Jacobian of sigma = exp(u) included, as Stan's lp__; the adapted step size is one per chain
    from scipy.stats import lognorm, norm
    mu, sigma = post.draws["mu"], post.draws["sigma"]
    lp = norm.logpdf(mu, 0, 10) + norm.logpdf(y[:, None, None], mu, 2).sum(0) + lognorm.logpdf(sigma, 1) + np.log(sigma)
    np.testing.assert_allclose(post.sample_stats["lp"], lp, rtol=1e-9, atol=1e-9)
    step = post.sample_stats["step_size"]
    assert np.all(step > 0) and np.all(step == step[:, :1])
    assert np.all((post.sample_stats["acceptance_rate"] >= 0) & (post.sample_stats["acceptance_rate"] <= 1))

    # the same data again: the binding and its compiled sampler are reused, only the key changes
    compiles = []

    def on_event(event, secs, **kw):
        if event.endswith("backend_compile_duration"):
            compiles.append(event)
    jax.monitoring.register_event_duration_secs_listener(on_event)
    try:
        again = model.sample(data={"y": y.copy()}, seed=4, chains=2, warmup=300, samples=1000, dense_mass=True)
    finally:
        jax.monitoring.unregister_event_duration_listener(on_event)
    assert compiles == []
    assert not np.array_equal(again.samples("mu"), post.samples("mu"))
    assert abs(again.mean("mu") - m) < 4 * s / np.sqrt(float(again.diagnostics["ess_bulk"]["mu"]))
    # positive control: the listener does see compilation when a setting changes the program
    jax.monitoring.register_event_duration_secs_listener(on_event)
    try:
        model.sample(data={"y": y}, seed=4, chains=2, warmup=300, samples=50, dense_mass=True)
    finally:
        jax.monitoring.unregister_event_duration_listener(on_event)
    assert compiles, "a run with other settings must compile, or the check above proves nothing"


def test_an_interrupted_run_keeps_the_draws_made():
    from augury.model import precision_scope
    from augury.runtime.samplers.nuts import Programs
    model = augury.compile(NORMAL.replace("sigma ~ flat()", "sigma ~ lognormal(0, 1)"))
    y = np.zeros(5)
    model.sample(data={"y": y}, seed=0, chains=2, warmup=100, samples=100)
    with precision_scope("float64"):
        lowered, _ = model.bind({"y": y}, precision="float64")
    progs = next(p for p in lowered.compiled_runs.values() if isinstance(p, Programs))
    real, calls = progs.advance, []

    def advance(*a):
        calls.append(1)
        if len(calls) == 15:  # 14 blocks of 10 iterations done: 100 warmup, 40 draws
            raise KeyboardInterrupt
        return real(*a)
    progs.advance = advance
    try:
        post = model.sample(data={"y": y}, seed=1, chains=2, warmup=100, samples=100)
    finally:
        progs.advance = real
    assert post.samples("mu").shape == (80,) and post.draws["mu"].shape == (2, 40)
    assert any("interrupted: 40 of 100 draws per chain" in w for w in post.warnings)


@pytest.mark.slow
def test_static_hmc_with_thinning():
    rng = np.random.default_rng(2)
    y = rng.normal(-1.0, 2.0, size=10)
    model = augury.compile(NORMAL.replace("sigma ~ flat()", "sigma ~ lognormal(0, 1)"))
    post = model.sample(data={"y": y}, method="hmc", seed=5, chains=2, warmup=300, samples=2000, thinning=2)
    prec = 1 / 10**2 + 10 / 2**2
    m, s = (y.sum() / 2**2) / prec, prec ** -0.5
    ess = float(post.diagnostics["ess_bulk"]["mu"])
    assert post.samples("mu").shape == (4000,) and post.settings["thinning"] == 2
    # static HMC: after warmup the step size is fixed, and so the number of leapfrog steps
    # (trajectory length 2 pi / step size) is the same at every draw of a chain
    steps = post.sample_stats["num_steps"]
    assert steps.shape == (2, 2000) and np.all(steps == steps[:, :1]) and np.all(steps > 1)
    # a 2 pi trajectory is far from optimal here (ESS ~ 10% of the draws), hence many draws;
    # the sd's relative standard error is about 1 / sqrt(2 ESS) < 0.05
    assert ess > 200
    assert abs(post.mean("mu") - m) < 4 * s / np.sqrt(ess)
    assert post.sd("mu") == pytest.approx(s, rel=0.15)


def test_method_that_does_not_apply_is_refused_with_the_reason():
    model = augury.compile(NORMAL)
    with pytest.raises(augury.AuguryInferenceError, match="`particle_filter` does not apply.*no chain"):
        model.sample(data={"y": np.zeros(3)}, method="particle_filter")
    with pytest.raises(augury.AuguryInferenceError, match="`prior` does not apply.*flat prior"):
        model.sample(data={"y": np.zeros(3)}, method="prior")
    with pytest.raises(augury.AuguryInferenceError, match="unknown inference method `nutz`"):
        model.sample(data={"y": np.zeros(3)}, method="nutz")
    with pytest.raises(augury.AuguryInferenceError, match="`dense_mass` must be true or false"):
        model.sample(data={"y": np.zeros(3)}, method="nuts", dense_mass="yes")
    with pytest.raises(augury.AuguryInferenceError, match="has no setting `sample`"):
        model.sample(data={"y": np.zeros(3)}, method="nuts", sample=10)


def _gamma_poisson_log_marginal(counts):
    """log ∫ Π Poisson(y_i | λ) Exponential(λ | 1) dλ (Gamma(1, 1) prior, conjugate)."""
    total, n = counts.sum(), len(counts)
    return -gammaln(counts + 1).sum() + gammaln(1 + total) - (1 + total) * np.log(1 + n)


@pytest.mark.slow
def test_nuts_with_a_summed_out_change_point_matches_the_exact_posterior():
    y = np.array(json.loads((EXAMPLES / "change_point.json").read_text())["y"])
    T = len(y)
    # exact: p(s | y) from the conjugate marginals, then early | s, y ~ Gamma(1 + sum y[:s], 1 + s)
    lp = np.array([_gamma_poisson_log_marginal(y[:s]) + _gamma_poisson_log_marginal(y[s:]) for s in range(T + 1)])
    p_s = np.exp(lp - logsumexp(lp))
    a = 1 + np.array([y[:s].sum() for s in range(T + 1)])
    b = 1 + np.arange(T + 1)
    mean = np.sum(p_s * a / b)
    sd = np.sqrt(np.sum(p_s * (a / b**2 + (a / b) ** 2)) - mean**2)

    post = augury.compile(EXAMPLES / "change_point.aug").sample(
        data=str(EXAMPLES / "change_point.json"), seed=1, chains=2, warmup=300, samples=1000)
    ess = float(post.diagnostics["ess_bulk"]["early"])
    assert ess > 400
    assert abs(post.mean("early") - mean) < 4 * sd / np.sqrt(ess)
    assert post.sd("early") == pytest.approx(sd, rel=0.15)
    # s is drawn exactly given each draw of the rates; its frequencies have standard error
    # at most 0.5 / sqrt(ESS) < 0.025: allow about 2.5 of them
    freq = np.bincount(post.samples("s").astype(int), minlength=T + 1) / post.samples("s").size
    np.testing.assert_allclose(freq, p_s, atol=0.06)
    # the let that reads s is reported at the drawn s
    s, rate = post.samples("s").astype(int), post.samples("rate")
    want = np.where(np.arange(T) < s[:, None], post.samples("early")[:, None], post.samples("late")[:, None])
    np.testing.assert_allclose(rate, want)


@pytest.mark.slow
def test_vectorized_chains_give_the_sequential_draws():
    model = augury.compile(NORMAL.replace("sigma ~ flat()", "sigma ~ lognormal(0, 1)"))
    y = np.random.default_rng(4).normal(size=8)
    seq = model.sample(data={"y": y}, seed=2, chains=2, warmup=100, samples=60, thinning=3,
                       chain_method="sequential")
    vec = model.sample(data={"y": y}, seed=2, chains=2, warmup=100, samples=60, thinning=3,
                       chain_method="vectorized")
    assert vec.settings["chain_method"] == "vectorized" and vec.draws["mu"].shape == (2, 60)
    np.testing.assert_allclose(vec.draws["mu"], seq.draws["mu"], rtol=1e-6, atol=1e-9)
