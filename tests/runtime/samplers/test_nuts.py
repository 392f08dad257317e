"""NUTS on conjugate models, against closed-form posteriors."""

import jax
import numpy as np
import pytest

import augury

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
    post = model.sample(data={"y": y}, seed=3, chains=2, warmup=300, samples=1000)
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
    assert post.method == "nuts" and post.samples("mu").shape == (2000,)

    # the same data again: the binding and its compiled sampler are reused, only the key changes
    compiles = []

    def on_event(event, secs, **kw):
        if event.endswith("backend_compile_duration"):
            compiles.append(event)
    jax.monitoring.register_event_duration_secs_listener(on_event)
    try:
        again = model.sample(data={"y": y.copy()}, seed=4, chains=2, warmup=300, samples=1000)
    finally:
        jax.monitoring.unregister_event_duration_listener(on_event)
    assert compiles == []
    assert not np.array_equal(again.samples("mu"), post.samples("mu"))
    assert abs(again.mean("mu") - m) < 4 * s / np.sqrt(float(again.diagnostics["ess_bulk"]["mu"]))


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
    with pytest.raises(augury.AuguryInferenceError, match="`smc` does not apply.*flat prior"):
        model.sample(data={"y": np.zeros(3)}, method="smc")
    with pytest.raises(augury.AuguryInferenceError, match="unknown inference method `nutz`"):
        model.sample(data={"y": np.zeros(3)}, method="nutz")
    with pytest.raises(augury.AuguryInferenceError, match="has no setting `sample`"):
        model.sample(data={"y": np.zeros(3)}, method="nuts", sample=10)
