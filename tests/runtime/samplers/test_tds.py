"""The twisted diffusion sampler (tds) against exact answers.

TDS is exact, as the particles grow, for the posterior of the *discretized* model: the
ancestral sampler of the prior with `steps` steps.  On the two-mode problem (a GMM prior) that
model is close to the GMM at 200 steps (measured: mode weight 0.3105 ± 0.003 against the exact
0.3111 at 200 steps, 0.298 at 100 and 0.282 at 50, where the model itself is off).  For a
Gaussian prior N(m, v I) with its exact denoiser the discretized model is Gaussian too, x₀ ~
N(κ m, V₀ I) (`model_prior`: every step is linear in x_t), so the Gaussian tests compare with
the exact posterior and evidence of that prior (at 50 steps V₀ is 20% below v).

Tolerances are Monte Carlo errors measured over seeds (the numbers are in each test); weighted
particles after resamplings carry fewer independent draws than their final ESS says, so the
errors of means are scaled by the run-to-run spread, not by the ESS.  Seeds move with
AUGURY_TEST_SEED.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import augury
from augury.errors import AuguryError
from augury.oracle import gmm_posterior
from augury.runtime.reverse import coefficients
from augury.runtime.schedules import make_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))
import two_modes  # noqa: E402
from exact_networks import jax_gaussian_eps, masked_model, torch_gaussian_eps  # noqa: E402

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
VP = ("vp", (0.1, 20.0), ())


def model_prior(steps: int, v: float, first: int = 0, sde=VP) -> tuple[float, float]:
    """(κ, V₀): x₀ ~ N(κ m, V₀ I) under `steps` ancestral steps (runtime/reverse.py) of the exact
    denoiser of N(m, v I), x̂₀ = m + h (x − α m) with h = α v / (α² v + σ²), started at step
    `first` from N(α m, (α² v + σ²) I) (the start, and teleport's reference)."""
    co = coefficients(make_schedule(sde), steps)
    a, s = co[first]["a_t"], co[first]["s_t"]
    kappa, var = a, a * a * v + s * s
    for r in co[first:]:
        a, s = r["a_t"], r["s_t"]
        h = a * v / (a * a * v + s * s)
        cx = r["a_s"] * h + r["dir1"] * (1 - a * h) / s           # x_s = cx x_t + cm m + anc z
        cm = (1 - a * h) * (r["a_s"] - r["dir1"] * a / s)
        kappa, var = cx * kappa + cm, cx * cx * var + r["anc"] ** 2
    return kappa, var


def weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x.reshape(x.shape[0], -1)
    m = w @ x
    return m, np.sqrt(w @ (x - m) ** 2)


# ------------------------------------------------------------------ two modes (a GMM prior)


@pytest.fixture(scope="module")
def two_mode_runs():
    model = augury.compile(two_modes.SOURCE)
    return [model.sample(two_modes.DATA, method="tds", particles=1000, steps=200, seed=SEED + k) for k in range(3)]


def test_mode_weights_on_two_modes(two_mode_runs):
    """Each mode's weight within 0.05 of the exact 0.311 / 0.689 at three seeds.  Measured over
    30 seeds: sd 0.016, largest error 0.030 (guidance alone, ΠGDM, is off by more)."""
    exact = np.asarray(two_modes.exact().weights)
    for post in two_mode_runs:
        got = two_modes.mode_weights(post.samples("x"), post.weights)
        np.testing.assert_array_less(np.abs(got - exact), 0.05)
        assert post.weights.shape == (1000,) and abs(post.weights.sum() - 1) < 1e-9


def test_log_evidence_on_two_modes(two_mode_runs):
    """log p(y) within 3 of its own sd of the exact −2.3236.  Measured over 30 seeds: error
    −0.013 ± 0.017 (the 200-step model's own share about −0.01), |error| / sd at most 2.0."""
    exact = float(two_modes.exact().log_evidence)
    for post in two_mode_runs:
        sd = post.log_evidence_sd
        assert np.isfinite(sd) and sd > 0
        assert abs(post.log_evidence - exact) < 3 * sd, (post.log_evidence, exact, sd)


# ------------------------------------------------------------------ Gaussian priors, exact answers

GAUSS = """
model gauss
data y : real[2]
data M : real[2, 4]
param x : real[4]
x ~ gaussian(zeros(4), 1)
op A = {op}
y ~ normal(A(x), 0.5)
"""


def _gauss_case(seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(2, 4))
    return M, M @ rng.normal(size=4) + 0.5 * rng.normal(size=2)


def _isometry_case(seed):
    """Two orthonormal rows: AAᵀ = I, where the isotropic twist is p(y | x_t) exactly."""
    rng = np.random.default_rng(seed)
    M = np.linalg.qr(rng.normal(size=(4, 4)))[0][:2]
    return M, M @ rng.normal(size=4) + 0.5 * rng.normal(size=2)


def _check_gaussian(post, M, y, steps, first=0):
    """Weighted mean and sd of the draws against the exact posterior of the discretized model,
    and its log evidence.  Tolerances: 0.15 posterior sds for the means and 15% for the sds
    (about 4 standard errors at the final ESS of 700; measured over 20 seeds, with teleport and
    through the python operator: at most 0.093 and 0.099), and 4 reported sds for log p(y) (the
    single-run sd runs low here: |error| / sd had sd 1.0–1.5 over those seeds, at most 3.7)."""
    kappa, var = model_prior(steps, 1.0, first)
    exact = gmm_posterior(np.ones(1), np.zeros((1, 4)), var * np.eye(4)[None], M, y, 0.5)
    m, sd = weighted_moments(post.samples("x"), post.weights)
    esd = np.sqrt(np.diag(np.asarray(exact.cov())))
    np.testing.assert_array_less(np.abs(m - np.asarray(exact.mean())) / esd, 0.15)
    np.testing.assert_array_less(np.abs(sd / esd - 1), 0.15)
    assert np.isfinite(post.log_evidence_sd) and post.log_evidence_sd > 0
    assert abs(post.log_evidence - float(exact.log_evidence)) < 4 * post.log_evidence_sd, \
        (post.log_evidence, float(exact.log_evidence), post.log_evidence_sd)


def test_teleport_on_a_gaussian_prior():
    """teleport = 0.3 starts at step 30 of 100 from the Gaussian posterior, weighted by the
    reference over it: exact for a Gaussian prior, draws and evidence (here through the
    operator's SVD, which teleport builds: the spectral twist)."""
    M, y = _gauss_case(SEED)
    post = augury.compile(GAUSS.format(op="matrix(M)")).sample({"y": y, "M": M}, method="tds", particles=1000,
                                                             steps=100, teleport=0.3, seed=SEED)
    assert post.settings["network_calls"] == 71  # 70 steps and the start's twist
    _check_gaussian(post, M, y, 100, first=30)


@pytest.mark.slow  # a variant of a default-tier check (the tier's 5 minutes)
def test_the_tweedie_twist_variance_is_the_priors_on_a_gaussian_prior():
    """`twist_variance = "tweedie"` takes Var(v_jᵀx₀ | x_t) = (σ²/α) v_jᵀ (∂x̂₀/∂x_t) v_j from the
    denoiser's Jacobian; for N(m, v I) that is r_t² = vσ̃²/(v + σ̃²), the default's, so with the
    SVD built in both (teleport) the two runs are one run, to rounding (float64)."""
    M, y = _gauss_case(SEED)
    model = augury.compile(GAUSS.format(op="matrix(M)"))
    runs = [model.sample({"y": y, "M": M}, method="tds", particles=200, steps=50, teleport=0.2, seed=SEED,
                         precision="float64", twist_variance=v) for v in ("prior", "tweedie")]
    np.testing.assert_allclose(runs[0].samples("x"), runs[1].samples("x"), atol=1e-8)
    np.testing.assert_allclose(runs[0].weights, runs[1].weights, atol=1e-10)
    assert abs(runs[0].log_evidence - runs[1].log_evidence) < 1e-8
    assert runs[1].settings["twist_variance"] == "tweedie"


@pytest.mark.slow  # a variant of a default-tier check (the tier's 5 minutes)
@pytest.mark.parametrize("name, steps", [("NULL_SPACE", 200), ("MEASURED", 400)], ids=["null_space", "measured"])
def test_the_tweedie_twist_variance_on_two_modes(name, steps):
    """On the two-mode prior the Jacobian's variance holds the spread between the modes, which the
    prior's r_t² does not; draws and evidence stay exact.  1000 particles, three seeds, each mode
    weight within 0.05 and log p(y) within 4 of its sd.  Measured over 20 seeds:
    - `NULL_SPACE`, 200 steps: weight error −0.001 ± 0.014, largest 0.026 (the default: sd
      0.016); |error of log p(y)| / sd at most 2.8 (its sd over seeds 0.95);
    - `MEASURED`, 400 steps: weight error −0.003 ± 0.012, largest 0.026; |error| / sd at most
      3.3.  The default twist variance at 200 steps: sd 0.019, largest 0.050 (not checked)."""
    model = augury.compile(two_modes.SOURCE)
    problem = getattr(two_modes, name)
    exact = problem.exact()
    for k in range(3):
        post = model.sample(problem.data, method="tds", particles=1000, steps=steps, seed=SEED + k,
                            twist_variance="tweedie")
        got = problem.mode_weights(post.samples("x"), post.weights)
        np.testing.assert_array_less(np.abs(got - np.asarray(exact.weights)), 0.05)
        assert abs(post.log_evidence - float(exact.log_evidence)) < 4 * post.log_evidence_sd


def test_the_tweedie_twist_variance_refuses_many_measurements(monkeypatch):
    """One VJP per measured coordinate: beyond MAX_TWEEDIE_DIRECTIONS the run is refused, said."""
    from augury.runtime.samplers import tds
    monkeypatch.setattr(tds, "MAX_TWEEDIE_DIRECTIONS", 1)
    M, y = _gauss_case(SEED)
    with pytest.raises(AuguryError, match="this measurement has 2 \\(at most 1\\)"):
        augury.compile(GAUSS.format(op="matrix(M)")).sample({"y": y, "M": M}, method="tds", particles=8, steps=5,
                                                            seed=SEED, twist_variance="tweedie")


def test_the_tweedie_twist_variance_needs_an_svd():
    """A nonlinear operator has no singular directions to take the variance along: refused, said."""
    import jax.numpy as jnp
    M, y = _isometry_case(SEED)
    Mj = jnp.asarray(M, jnp.float32)
    model = augury.compile(GAUSS.format(op="lin"), bind={"lin": lambda x: jnp.tanh(Mj @ x)})
    with pytest.raises(AuguryError, match='twist_variance = "tweedie" cannot use this measurement: it needs a linear'):
        model.sample({"y": y, "M": M}, method="tds", particles=8, steps=5, seed=SEED, twist_variance="tweedie")


def test_through_a_python_operator():
    """An operator bound from Python (tds differentiates through it, as through any nonlinear
    one, with the isotropic twist) that happens to be a matrix: the exact Gaussian answer."""
    import jax.numpy as jnp
    M, y = _isometry_case(SEED + 1)
    Mj = jnp.asarray(M, jnp.float32)
    model = augury.compile(GAUSS.format(op="lin"), bind={"lin": lambda x: Mj @ x})
    assert model.methods()["ddrm"].startswith("ddrm needs a linear operator")
    post = model.sample({"y": y, "M": M}, method="tds", particles=1000, steps=50, seed=SEED)
    _check_gaussian(post, M, y, 50)


COUNTS = """
model counts
data y : int[2]
data M : real[2, 2]
param x : real[2]
x ~ gaussian(2 * ones(2), 0.25)
op A = matrix(M)
y ~ poisson(A(x))
"""


def _poisson_exact(M, y, steps):
    """Posterior mean, sd and log evidence of the discretized model's N(κ m, V₀ I) prior under
    y ~ Poisson(M x), by quadrature on a grid (2-D)."""
    from scipy.special import gammaln
    kappa, var = model_prior(steps, 0.25)
    g = np.linspace(2 * kappa - 8 * np.sqrt(var), 2 * kappa + 8 * np.sqrt(var), 801)
    X = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    lam = X @ M.T
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = np.where(lam > 0, y * np.log(np.where(lam > 0, lam, 1)) - lam, -np.inf).sum(1) - gammaln(y + 1).sum()
    logp = loglik - ((X - 2 * kappa) ** 2).sum(1) / (2 * var) - np.log(2 * np.pi * var)
    top = logp.max()
    p = np.exp(logp - top)
    cell = (g[1] - g[0]) ** 2
    mean = p @ X / p.sum()
    return mean, np.sqrt(p @ (X - mean) ** 2 / p.sum()), top + np.log(p.sum() * cell)


def test_poisson_counts():
    """y ~ poisson(A(x)): twisted by the Poisson likelihood at x̂₀; draws and evidence against
    quadrature.  Measured over 20 seeds: mean errors at most 0.19 posterior sds, sds within 14%,
    |error of log p(y)| / sd at most 3.1 (its sd 1.4).  teleport is refused (it starts from a
    Gaussian measurement's posterior)."""
    rng = np.random.default_rng(SEED)
    M = 10 * (np.eye(2) + 0.3 * rng.random((2, 2)))
    y = rng.poisson(M @ (2 + 0.5 * rng.normal(size=2)))
    model = augury.compile(COUNTS)
    post = model.sample({"y": y, "M": M}, method="tds", particles=1000, steps=50, seed=SEED)
    mean, sd, log_z = _poisson_exact(M, y, 50)
    m, s = weighted_moments(post.samples("x"), post.weights)
    np.testing.assert_array_less(np.abs(m - mean) / sd, 0.35)
    np.testing.assert_array_less(np.abs(s / sd - 1), 0.3)
    assert abs(post.log_evidence - log_z) < 4 * post.log_evidence_sd, (post.log_evidence, log_z)
    with pytest.raises(AuguryError, match="teleport"):
        model.sample({"y": y, "M": M}, method="tds", particles=8, steps=10, teleport=0.5, seed=SEED)


# ------------------------------------------------------------------ networks in JAX and PyTorch

NETWORK = masked_model(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("framework, twist_variance", [("jax", "prior"), ("torch", "prior"), ("jax", "tweedie"),
                                                       ("torch", "tweedie")])
def test_networks_in_jax_and_torch(framework, twist_variance):
    """The exact ε of a N(m, 0.3 I) prior as a JAX function and as a PyTorch module: both give
    the discretized model's exact posterior (16 pixels, 8 seen) and evidence.  Measured at seeds
    0–7 in each framework: rms of the means' errors 0.09–0.26 posterior sds (3–4 resamplings
    leave fewer independent draws than the final ESS of ~500), mean sd ratio 0.96–1.02,
    |error of log p(y)| / sd at most 2.0.  The Tweedie twist variance takes 8 VJPs a step
    through the network (its retained graph, in PyTorch); measured at seeds 0–7 in each
    framework: rms errors 0.06–0.15 sds, mean sd ratio 0.95–1.04, |error| / sd at most 2.3."""
    if framework == "torch":
        pytest.importorskip("torch")
    rng = np.random.default_rng(SEED)
    mean = 0.5 * rng.normal(size=(4, 4))
    keep = (np.arange(16).reshape(4, 4) % 2).astype(float)
    y = keep * (mean + np.sqrt(0.3) * rng.normal(size=(4, 4)) + 0.1 * rng.normal(size=(4, 4)))
    net = jax_gaussian_eps(mean, 0.3) if framework == "jax" else torch_gaussian_eps(mean, 0.3)
    post = augury.compile(NETWORK, bind={"unet": net}).sample({"y": y, "keep": keep}, method="tds",
                                                              particles=1000, steps=50, seed=SEED,
                                                              twist_variance=twist_variance)
    kappa, var = model_prior(50, 0.3)
    seen = keep.reshape(-1) > 0
    exact = gmm_posterior(np.ones(1), kappa * mean.reshape(1, 16), var * np.eye(16)[None], np.eye(16)[seen],
                          y.reshape(-1)[seen], 0.1)
    m, sd = weighted_moments(post.samples("x"), post.weights)
    esd = np.sqrt(np.diag(np.asarray(exact.cov())))
    z = (m - np.asarray(exact.mean())) / esd
    assert np.sqrt(np.mean(z ** 2)) < 0.35, z
    assert abs(np.mean(sd / esd) - 1) < 0.1
    # the mask's output keeps the 8 unseen zeros, each N(0; 0, 0.1²) in the likelihood
    log_z = float(exact.log_evidence) - 8 * 0.5 * np.log(2 * np.pi * 0.01)
    assert abs(post.log_evidence - log_z) < 3 * post.log_evidence_sd, (post.log_evidence, log_z)
