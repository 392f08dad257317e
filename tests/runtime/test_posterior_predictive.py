"""The posterior predictive and the pointwise log likelihood against closed forms.

A conjugate regression (known noise, Gaussian priors) has a Gaussian posterior, so its
predictive at new covariates is N(m_α + m_β x*, σ² + Var(α + β x*)) exactly; the pointwise log
likelihood is a normal log density at each draw, and a Gaussian mixture's is the log-sum-exp
over its components.  Seeds move with AUGURY_TEST_SEED.
"""

from __future__ import annotations

import copy

import os
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

import augury
from augury.errors import AuguryError

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))

REGRESSION = """
model regression
data x : real[N]
data y : real[N]
param alpha : real
param beta : real
alpha ~ normal(0, 2)
beta ~ normal(0, 2)
y ~ normal(alpha + beta * x, 0.3)
"""

rng = np.random.default_rng(7)
X = np.linspace(-2, 2, 12)
Y = 0.5 - 1.0 * X + 0.3 * rng.normal(size=12)


def exact_posterior():
    """Mean and covariance of (α, β): precision Φᵀ Φ / σ² + I / 4."""
    phi = np.stack([np.ones_like(X), X], 1)
    prec = phi.T @ phi / 0.09 + np.eye(2) / 4
    cov = np.linalg.inv(prec)
    return cov @ phi.T @ Y / 0.09, cov


@pytest.fixture(scope="module")
def regression():
    model = augury.compile(REGRESSION)
    data = {"x": X, "y": Y}
    post = model.sample(data, method="nuts", warmup=300, samples=500, chains=2, seed=SEED)
    return model, data, post


def test_predictive_at_new_covariates_is_the_exact_predictive(regression):
    """Mean within 0.05 (≈ 5 Monte Carlo sds at ESS ≥ 400 of 1000 draws) and variance within
    20% (≈ 4 sds of a variance from 400 effective draws) of the closed form at three new x."""
    model, _, post = regression
    x_new = np.array([-3.0, 0.0, 2.5])
    rep = post.posterior_predictive(seed=SEED, data={"x": x_new})["y"]
    assert rep.shape == (2, 500, 3)
    m, cov = exact_posterior()
    phi = np.stack([np.ones_like(x_new), x_new], 1)
    mean, var = phi @ m, 0.09 + np.einsum("ni,ij,nj->n", phi, cov, phi)
    got = rep.reshape(-1, 3)
    np.testing.assert_array_less(np.abs(got.mean(0) - mean), 0.05)
    np.testing.assert_array_less(np.abs(got.var(0) / var - 1), 0.2)


def test_replicates_follow_the_likelihood_at_each_draw(regression):
    """y_rep − (α + β x) over all draws and points is N(0, 0.3²): its standardized mean within
    0.05 and sd within 5% (12,000 values)."""
    _, _, post = regression
    rep = post.posterior_predictive(seed=SEED + 1)["y"]
    a, b = post.draws["alpha"][..., None], post.draws["beta"][..., None]
    z = (rep - (a + b * X)) / 0.3
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    assert post.posterior_predictive(seed=SEED + 1) is post.posterior_predictive(seed=SEED + 1)  # kept


def test_pointwise_log_likelihood_is_the_normal_density(regression):
    _, _, post = regression
    ll = post.log_likelihood()["y"]
    a, b = post.draws["alpha"][..., None], post.draws["beta"][..., None]
    np.testing.assert_allclose(ll, norm.logpdf(Y, a + b * X, 0.3), rtol=0, atol=1e-9)


def test_arviz_groups_and_loo(regression):
    import arviz as az
    _, _, post = regression
    idata = post.to_arviz()
    assert {"posterior_predictive", "log_likelihood", "observed_data"} <= set(idata.groups())
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "N")
    assert idata.posterior_predictive["y"].shape == (2, 500, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(idata)
    # elpd_loo against the plug-in log density at the posterior mean: close for a 2-parameter model
    m, _ = exact_posterior()
    plug_in = norm.logpdf(Y, m[0] + m[1] * X, 0.3).sum()
    assert plug_in - 4 < loo.elpd_loo < plug_in
    bare = post.to_arviz(posterior_predictive=False, log_likelihood=False)
    assert "log_likelihood" not in bare.groups() and "posterior_predictive" not in bare.groups()


MIXTURE = """
model mix
data X : real[N, 2]
param w : simplex(2)
param mu : real[2, 2]
param z : category(2)[N]
w ~ dirichlet([2.0, 2.0])
for k in range(2) { mu[k] ~ mvnormal(zeros(2), 9 * eye(2)) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], 0.5 * eye(2))
}
"""


@pytest.fixture(scope="module")
def mixture():
    r = np.random.default_rng(3)
    x = np.concatenate([r.normal(size=(15, 2)) * 0.7 + 2, r.normal(size=(10, 2)) * 0.7 - 2])
    model = augury.compile(MIXTURE)
    post = model.sample({"X": x}, method="em", seed=SEED)
    return model, x, post


def test_mixture_terms_sum_out_the_assignment(mixture):
    """log p(x_n | θ) = log Σ_k w_k N(x_n; μ_k, 0.5 I) at each draw (the assignment summed out)."""
    model, x, post = mixture
    ll = model.log_likelihood(post, {"X": x})["X"]
    w, mu = post.samples("w"), post.samples("mu")
    want = np.stack([logsumexp([np.log(w[d, k]) + multivariate_normal(mu[d, k], 0.5 * np.eye(2)).logpdf(x)
                                for k in range(2)], axis=0) for d in range(len(w))])
    np.testing.assert_allclose(ll.reshape(len(w), -1), want, rtol=0, atol=1e-8)
    rep = post.posterior_predictive(seed=SEED)["X"]
    assert rep.shape == post.draws["w"].shape[:-1] + (25, 2)


MISSING = """
model missing
data y : real[N] missing nan
param mu : real
mu ~ normal(0, 10)
y ~ normal(mu, 1)
"""


@pytest.mark.slow
def test_missing_elements_are_left_out_of_the_terms():
    y = np.array([0.3, np.nan, 1.2, -0.4, np.nan])
    model = augury.compile(MISSING)
    post = model.sample({"y": y}, method="nuts", warmup=200, samples=200, chains=1, seed=SEED)
    ll = post.log_likelihood()["y"]
    assert ll.shape == (1, 200, 3)  # flat: the three observed elements
    np.testing.assert_allclose(ll, norm.logpdf(y[~np.isnan(y)], post.draws["mu"][..., None], 1), atol=1e-9)
    assert post.posterior_predictive()["y"].shape == (1, 200, 5)


@pytest.mark.slow
def test_refusals_say_why():
    """A summed-out scalar (a change point) ties every element: no pointwise terms, said by
    name; the predictive still works, and `to_arviz` keeps the reason.  (Draws made by hand:
    what is checked is the model, not a sampler.)"""
    from augury.runtime.posterior import Posterior
    cp = augury.compile("examples/change_point.aug")
    post = Posterior({"early": np.full((1, 4), 3.0), "late": np.full((1, 4), 1.0), "s": np.array([[5, 10, 20, 30]])},
                     chains=1, method="nuts", settings={"precision": "float64"})
    post.attach_model(cp, "examples/change_point.json")
    with pytest.raises(AuguryError, match="sums out `s`, a scalar"):
        post.log_likelihood()
    rep = post.posterior_predictive(seed=SEED)["y"]
    assert rep.shape[:2] == (1, 4) and rep.dtype.kind == "i"
    T = rep.shape[2]
    # the change point is given: before it the early rate (3), after it the late one (1)
    assert T >= 30 and rep[0, 3, :30].mean() > 2 and rep[0, 0, 5:].mean() < 1.6  # 3.5 sds either way
    idata = post.to_arviz()  # the groups that can be made are made, the reason for the other kept
    assert "posterior_predictive" in idata.groups() and "log_likelihood" not in idata.groups()
    assert "sums out `s`" in idata.posterior.attrs["no_log_likelihood"]
    with pytest.raises(AuguryError, match="holds the prior predictive"):
        cp.prior_predictive("examples/change_point.json", draws=10).posterior_predictive()


@pytest.mark.slow
def test_loaded_posterior_and_weighted_posterior(tmp_path, regression):
    model, data, post = regression
    path = tmp_path / "post.nc"
    post.save(path)
    loaded = augury.load_posterior(path)
    with pytest.raises(AuguryError, match="needs the model"):
        loaded.log_likelihood()
    assert model.log_likelihood(loaded, data)["y"].shape == (2, 500, 12)
    smc = model.sample(data, method="smc", particles=200, seed=SEED)
    idata = smc.to_arviz()
    assert smc.log_weights is not None
    assert "log_likelihood" not in idata.groups() and "weighted" in idata.posterior.attrs["no_log_likelihood"]
    assert smc.log_likelihood()["y"].shape == (200, 12)


def test_an_interrupted_runs_arviz_data_skips_what_needs_compiling_unless_asked(regression):
    """Ctrl-C asks for a quick stop: `--out post.nc` of an interrupted run does not compile the
    predictive and pointwise programs (6 s of a 9 s answer to Ctrl-C on iris); asked for, they come."""
    model, data, post = regression
    cut = copy.copy(post)
    cut.interrupted = True
    idata = cut.to_arviz()
    assert "posterior_predictive" not in idata.groups() and "log_likelihood" not in idata.groups()
    assert "interrupted" in idata.posterior.attrs["no_log_likelihood"]
    asked = cut.to_arviz(posterior_predictive=True, log_likelihood=True)
    assert asked.log_likelihood["y"].shape == (2, 500, 12)


@pytest.mark.slow  # 15 s
def test_a_learned_diffusion_priors_pointwise_terms_are_its_likelihoods():
    """inpaint_digits (the shipped network prior): log p(y_ij | x) = log N(y_ij; (m ⊙ x)_ij,
    0.05²) at each draw, the prior left out (it was refused before: a network has no density)."""
    import json
    from pathlib import Path
    from scipy.stats import norm
    ex = Path(__file__).resolve().parents[2] / "examples"
    model = augury.compile(str(ex / "inpaint_digits.aug"))
    data = json.loads((ex / "inpaint_digits.json").read_text())
    post = model.sample(data, method="ddrm", particles=4, steps=10, seed=SEED)
    ll = post.log_likelihood()["y"]
    x = post.samples("x")
    keep = np.ones((8, 8))
    keep[5:8, :] = 0.0  # box_mask(top = 5, left = 0, height = 3, width = 8): the hidden rows
    exact = norm.logpdf(np.asarray(data["y"])[None], keep[None] * x, 0.05)
    assert ll.shape == (4, 8, 8)
    np.testing.assert_allclose(ll, exact, rtol=1e-4, atol=1e-3)
    assert "log_likelihood" in post.to_arviz(log_likelihood=True).groups()
