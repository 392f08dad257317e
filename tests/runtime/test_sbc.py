"""Simulation-based calibration (augury/sbc*.py, runtime/sbc_ranks.py) on a conjugate normal-normal model, whose exact
posterior is known: the ranks of exact posterior draws are uniform, and those of wrong posteriors
(too narrow, too wide, shifted, autocorrelated) are rejected with the right diagnosis.

Under uniform ranks a chi-square p-value is (nearly) uniform, so asserting p > 1e-3 fails by
chance once in a thousand seeds; the wrong posteriors below are far enough off that their
p-values are below 1e-8 at any seed with these run counts (see each test).  AUGURY_TEST_SEED
changes every seed.  The default tier uses exact draws made with NumPy (test doubles of a method)
and one compiled program (the prior's); real NUTS runs are in the slow tier.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import augury
from augury.errors import AuguryError
from augury import sbc_loop
from augury.runtime import sbc_ranks as sr
from augury.runtime.posterior import Posterior

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
M0, S0, S, N = 1.0, 2.0, 1.5, 5  # mu ~ normal(M0, S0), y[n] ~ normal(mu, S), n < N
NORMAL = f"""
model normal_normal
data y : real[N]
param mu : real
mu ~ normal({M0}, {S0})
y ~ normal(mu, {S})
"""


def exact(y: np.ndarray) -> tuple[float, float]:
    """The posterior mean and sd of mu given y (conjugate)."""
    prec = 1 / S0 ** 2 + len(y) / S ** 2
    return (M0 / S0 ** 2 + np.sum(y) / S ** 2) / prec, prec ** -0.5


def simulated_ranks(seed: int, runs: int, draws: int, scale: float = 1.0, shift: float = 0.0,
                    prior: bool = False) -> np.ndarray:
    """Ranks of the true mu among `draws` independent draws of a posterior that is the exact one
    with its sd times `scale` and its mean moved by `shift` posterior sds (or the prior)."""
    rng = np.random.default_rng(seed)
    out = np.empty(runs, np.int64)
    for i in range(runs):
        mu = rng.normal(M0, S0)
        m, s = exact(rng.normal(mu, S, N))
        x = rng.normal(M0, S0, draws) if prior else rng.normal(m + shift * s, scale * s, draws)
        out[i] = sr.rank(mu, x, rng)
    return out


# ------------------------------------------------------------------ the statistics alone

@pytest.mark.parametrize("offset", [0, 1, 2])
def test_exact_posterior_ranks_are_uniform(offset):
    ranks = simulated_ranks(SEED + offset, runs=400, draws=49)
    assert ranks.min() >= 0 and ranks.max() <= 49
    assert sr.chi_square(ranks, 49, sr.bins_for(400, 49))[1] > 1e-3


@pytest.mark.parametrize("scale, shift, shape", [(0.5, 0.0, "too narrow"), (2.0, 0.0, "too wide"),
                                                 (1.0, 1.0, "biased high"), (1.0, -1.0, "biased low")])
def test_wrong_posteriors_are_rejected_with_their_shape(scale, shift, shape):
    # 400 runs: a posterior half as wide puts P(rank in the outer tenths) at 0.52 against 0.2,
    # one sd off moves the mean rank to 0.24 of the range: chi-square p ~ 1e-30 or below
    ranks = simulated_ranks(SEED + 10, runs=400, draws=49, scale=scale, shift=shift)
    assert sr.chi_square(ranks, 49, sr.bins_for(400, 49))[1] < 1e-8
    assert sr.shape_of(ranks, 49)[0] == shape


def test_the_prior_passes_sbc_its_blind_spot():
    """A method that ignores the data and returns prior draws has uniform ranks too (the true
    values are prior draws): SBC is necessary, not sufficient (docs/sbc.md)."""
    ranks = simulated_ranks(SEED + 20, runs=400, draws=49, prior=True)
    assert sr.chi_square(ranks, 49, sr.bins_for(400, 49))[1] > 1e-3


def test_ties_are_broken_at_random_so_discrete_ranks_stay_uniform():
    rng = np.random.default_rng(SEED + 30)
    runs, draws = 600, 9
    p = rng.uniform(0.2, 0.8, runs)  # a Bernoulli parameter per run: truth and draws from the same law
    truth = (rng.random(runs) < p).astype(np.int64)
    x = (rng.random((draws, runs)) < p).astype(np.int64)
    ranks = sr.rank(truth, x, rng)
    assert sr.chi_square(ranks, draws, sr.bins_for(runs, draws))[1] > 1e-3
    # positive control: counting only the draws below piles the ranks up at 0 (p far below)
    naive = np.sum(x < truth, axis=0)
    assert sr.chi_square(naive, draws, sr.bins_for(runs, draws))[1] < 1e-8


def test_bins_band_and_thinning():
    assert sr.bins_for(100, 99) == 20 and sr.bins_for(30, 99) == 6 and sr.bins_for(4, 99) == 2
    assert sr.bins_for(1000, 4) == 5  # at most one bin per rank value
    p = sr.bin_probabilities(49, 12)  # 50 rank values in 12 bins: sizes 4 or 5
    assert p.sum() == pytest.approx(1) and set(np.round(p * 50).astype(int)) == {4, 5}
    low, high = sr.uniform_band(100, 99, 20)
    from scipy.stats import binom
    assert binom.cdf(high[0], 100, 0.05) - binom.cdf(low[0] - 1, 100, 0.05) >= 0.99
    idx, enough = sr.thin_chains(2, 100, ess=20.0, draws=10)  # every 10th draw of each chain: 20, then 10 of them
    assert enough and len(idx) == 10 and np.all(np.diff(idx) >= 10)
    idx, enough = sr.thin_chains(2, 100, ess=5.0, draws=10)
    assert not enough and len(set(idx.tolist())) == 10


@pytest.mark.slow  # 2-4 s of ESS estimates
def test_autocorrelated_draws_need_the_thinning():
    """Exact-posterior chains with autocorrelation 0.95: ranked after thinning by ESS they are
    uniform; ranked on 19 consecutive draws they are not (the paper's section 4.1)."""
    from scipy.signal import lfilter
    rng = np.random.default_rng(SEED + 40)
    runs, draws, rho, n = 100, 19, 0.95, 2000
    thinned, consecutive, short = [], [], 0
    for i in range(runs):
        mu = rng.normal(M0, S0)
        m, s = exact(rng.normal(mu, S, N))
        e = rng.normal(size=(2, n)) * np.sqrt(1 - rho ** 2)
        e[:, 0] = rng.normal(size=2)  # two chains, each started in its stationary law N(0, 1)
        x = m + s * lfilter([1.0], [1.0, -rho], e, axis=1)
        post = Posterior({"mu": x}, chains=2, method="ar1")
        r, sh = sbc_loop.posterior_ranks(post, {"mu": np.asarray(mu)}, ["mu"], draws, rng)
        thinned.append(int(r["mu"]))
        short += bool(sh)
        consecutive.append(sr.rank(mu, x[0, :draws], rng))
    # ESS ~ 2n (1 − ρ)/(1 + ρ) ≈ 103 ≥ 19 (thinned every ~40th draw; its estimate is above 40 in
    # 100 of 100 runs); 19 consecutive draws hold about
    # half an independent one: p-values of 1e-20 and below at seeds 0-5
    assert short == 0
    assert sr.chi_square(np.array(thinned), draws, sr.bins_for(runs, draws))[1] > 1e-3
    assert sr.chi_square(np.array(consecutive), draws, sr.bins_for(runs, draws))[1] < 1e-8
    assert sr.shape_of(np.array(consecutive), draws)[0] == "too narrow"


# ------------------------------------------------------------------ through augury.sbc, with test doubles

RUNS = 200  # every test below draws as many true values: the prior's program compiles once


@pytest.fixture(scope="module")
def model():
    return augury.compile(NORMAL)


def double(kind: str, stop_at: int | None = None):
    """A stand-in for `sbc_loop._runner`: a method whose posterior is the exact one (`exact`),
    half as wide (`narrow`), or importance-weighted prior draws (`weighted`)."""
    def runner(model, method, prior, drawn, base, consts, precision, settings):
        def run(i, seed):
            if stop_at is not None and i == stop_at:
                raise KeyboardInterrupt
            rng = np.random.default_rng(seed)
            m, s = exact(prior.samples("y")[i])
            warnings = ["a run warning"] if i == 0 else []
            if kind == "weighted":  # self-normalized importance sampling from the prior: ESS ~ 1000 of 4000
                x = rng.normal(M0, S0, 4000)
                lw = -0.5 * np.sum((prior.samples("y")[i][None] - x[:, None]) ** 2, 1) / S ** 2
                return Posterior({"mu": x}, log_weights=lw, method=method, warnings=warnings)
            x = rng.normal(m, s * (0.5 if kind == "narrow" else 1.0), 400)
            return Posterior({"mu": x}, method=method, warnings=warnings)
        return run, False, "test double"
    return runner


@pytest.mark.parametrize("kind", ["exact", "weighted"])
def test_sbc_passes_a_correct_method(model, monkeypatch, kind):
    monkeypatch.setattr(sbc_loop, "_runner", double(kind))
    res = augury.sbc(model, method="nuts", runs=RUNS, data={"N": N}, seed=SEED, draws=39)
    assert res.runs == RUNS and res.ranks["mu"].shape == (RUNS,) and not res.partial
    assert res.bins == 20 and res.tests == 1 and res.level == 0.01
    assert res.pvalues["mu"] > 1e-3 and not res.failures()
    # the true values are the prior's: mean M0, sd S0 (5 standard errors)
    assert abs(res.truths["mu"].mean() - M0) < 5 * S0 / np.sqrt(RUNS)
    assert "mu" in res.summary() and "ok" in res.summary().splitlines()[-1]
    assert any(f"1 of {RUNS} runs warned" in w for w in res.loud_warnings())


def test_sbc_rejects_a_too_narrow_method_loudly(model, monkeypatch, tmp_path):
    monkeypatch.setattr(sbc_loop, "_runner", double("narrow"))
    res = augury.sbc(model, method="nuts", runs=RUNS, data={"N": N}, seed=SEED, draws=39)
    (label, p, shape, meaning), = res.failures()
    assert label == "mu" and p < 1e-8 and shape == "too narrow" and "under-dispersed" in meaning
    assert "FAIL: too narrow" in res.summary()
    assert any(w.startswith("SBC FAILED for 1 of 1") for w in res.loud_warnings())
    res.save(tmp_path / "ranks.npz")
    z = np.load(tmp_path / "ranks.npz")
    assert np.array_equal(z["ranks.mu"], res.ranks["mu"]) and float(z["pvalue.mu"]) == pytest.approx(p)


def test_ctrl_c_keeps_the_runs_done(model, monkeypatch):
    monkeypatch.setattr(sbc_loop, "_runner", double("exact", stop_at=7))
    res = augury.sbc(model, method="nuts", runs=RUNS, data={"N": N}, seed=SEED, draws=19)
    assert res.partial and res.runs == 7 and res.runs_requested == RUNS
    assert "INTERRUPTED" in res.summary().splitlines()[0]
    monkeypatch.setattr(sbc_loop, "_runner", double("exact", stop_at=0))
    with pytest.raises(KeyboardInterrupt):  # nothing done: nothing to keep
        augury.sbc(model, method="nuts", runs=RUNS, data={"N": N}, seed=SEED, draws=19)


def test_one_progress_bar_over_the_runs(model, monkeypatch, capsys):
    monkeypatch.setattr(sbc_loop, "_runner", double("exact"))
    monkeypatch.setenv("AUGURY_PROGRESS", "1")
    augury.sbc(model, method="nuts", runs=RUNS, data={"N": N}, seed=SEED, draws=19, progress=True)
    err = capsys.readouterr().err
    assert "sbc (nuts)" in err and f"{RUNS}/{RUNS}" in err and "nuts (" not in err  # no per-run bar


def test_refusals(model):
    for kw, what in ((dict(runs=1), "`runs`"), (dict(draws=0), "`draws`"), (dict(alpha=1.5), "`alpha`")):
        with pytest.raises(AuguryError, match=what):
            augury.sbc(model, method="nuts", data={"N": N}, **kw)
    with pytest.raises(AuguryError, match="`prior` is what it draws"):
        augury.sbc(model, method="prior", data={"N": N})
    flat = augury.compile(NORMAL.replace(f"mu ~ normal({M0}, {S0})", "mu ~ flat()"))
    with pytest.raises(AuguryError, match="SBC cannot draw from this model's prior: `mu` has a flat prior"):
        augury.sbc(flat, method="nuts", data={"N": N})
    from pathlib import Path
    digits = Path(__file__).resolve().parents[2] / "examples" / "inpaint_digits.aug"
    with pytest.raises(AuguryError, match="diffusion prior") as e:
        augury.sbc(str(digits), method="ddrm")
    assert "only implicit" in str(e.value)
    nodata = augury.compile("param mu : real\nmu ~ normal(0, 1)\n")
    with pytest.raises(AuguryError, match="draws no data"):
        augury.sbc(nodata, method="nuts")
    with pytest.raises(AuguryError, match="no setting `samplez`"):
        augury.sbc(model, method="nuts", data={"N": N}, samplez=10)


def test_more_draws_than_the_method_makes_is_refused(model, monkeypatch):
    monkeypatch.setattr(sbc_loop, "_runner", double("exact"))
    with pytest.raises(AuguryError, match="made 400 draws in a run, fewer than the 500"):
        augury.sbc(model, method="nuts", runs=RUNS, data={"N": N}, draws=500)


# ------------------------------------------------------------------ real methods (slow)

@pytest.mark.slow
def test_nuts_is_calibrated_and_compiled_once(model):
    res = augury.sbc(model, method="nuts", runs=100, data={"N": N}, seed=SEED, draws=49,
                     warmup=300, samples=300, chains=2)
    assert res.compiled_once and res.runs == 100
    assert res.pvalues["mu"] > 1e-3, res.summary()
    assert np.median(res.run_seconds[1:]) < 0.25 * res.run_seconds[0]  # the first compiled, the others did not


@pytest.mark.slow
def test_a_mixture_method_compiles_once_and_says_so():
    """gibbs caches its compiled segments by priors and shapes, the points an argument: SBC said
    "compiled per run" while each run after the first took a tenth of the first's time.  (A prior
    scale no other test uses, so that the first run compiles here.)"""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mixture_models import gaussian_mixture
    mix = augury.compile(gaussian_mixture(2).replace("100 * Sigma[k]", "77 * Sigma[k]"))
    res = augury.sbc(mix, method="gibbs", runs=4, data={"N": 20, "D": 2}, seed=SEED, draws=9, sweeps=40, warmup=10,
                     chains=1)
    assert res.compiled_once and not res.compile_note, res.compile_note
    assert np.median(res.run_seconds[1:]) < 0.25 * res.run_seconds[0], res.run_seconds


MIX = """
const K = 2
data X : real[N, D]
param w : simplex(K)
param mu : real[K, D]
param z : category(K)[N]
w ~ dirichlet(full(K, 5.0))
for k in range(K) { mu[k] ~ mvnormal(full(D, 0.0), 9 * eye(D)) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], eye(D))
}
"""


@pytest.mark.slow
def test_gibbs_passes_sbc_once_its_components_are_ranked_in_canonical_order():
    """docs/sbc.md's mixture row: ranked as gibbs reports them, 4 of the 44 elements failed (U
    shapes, label switching); sorted by mu[k, 0] all pass (checked at seeds 0 and 1)."""
    res = augury.sbc(augury.compile(MIX), method="gibbs", runs=40, data={"N": 40, "D": 1}, seed=SEED, draws=19,
                     sweeps=300, warmup=100, chains=2)
    assert not res.failures(), res.summary()  # a 1% false alarm at alpha 0.01 (Bonferroni over 44)


@pytest.mark.extended
def test_data_as_an_argument_changes_no_draw(model):
    """The data-argument programs compute what the data-constant ones do: short runs (where the
    chains cannot drift apart through rounding) agree to 1e-10; long runs are other chains of the
    same posterior, their rounding differing at 1e-16."""
    from augury.compiler.problem import problem_for
    from augury.model import precision_scope
    from augury import sbc_data
    from augury.runtime.samplers import driver
    rng = np.random.default_rng(SEED)
    settings = dict(warmup=2, samples=30, chains=1)
    opts = model._settings("nuts", settings)
    with precision_scope("float64"):
        first, _ = model.bind({"y": rng.normal(size=N)}, precision="float64")
        assert sbc_data.why_not("nuts", first, ["y"]) is None
        problem = sbc_data.fast_problem(problem_for("nuts", first, opts), first)
        for i in range(2):
            y = rng.normal(M0, 3, N)
            bound, _ = model.bind({"y": y}, precision="float64")
            problem.data_args = sbc_data.arguments(bound, ["y"])
            fast = driver.sample("nuts", problem, opts, seed=i)
            plain = model.sample({"y": y}, method="nuts", seed=i, **settings)
            assert np.allclose(fast.samples("mu"), plain.samples("mu"), rtol=0, atol=1e-10)


def test_mixture_components_are_ranked_sorted_by_their_means_first_coordinate():
    """The same function of the parameters for every draw and the truth: components sorted by
    mu[k, 0], the weights and means permuted alike and the assignments renamed to match."""
    from augury.sbc_components import sorted_components
    mu = np.array([[[2.0, 0.0], [-1.0, 5.0]], [[-3.0, 1.0], [4.0, 2.0]]])  # two draws, (K, D) each
    w = np.array([[0.3, 0.7], [0.6, 0.4]])
    z = np.array([[0, 1, 1], [1, 0, 0]])
    meta = {"mixture": {"names": {"means": "mu", "weights": "w", "assignment": "z"}, "K": 2, "groups": None}}
    post = Posterior({"mu": mu[None], "w": w[None], "z": z[None]}, chains=1, method="gibbs", settings=meta)
    truths = {"mu": np.array([[1.0, 0.0], [0.0, 3.0]]), "w": np.array([0.9, 0.1]), "z": np.array([0, 0, 1])}
    out, t = sorted_components(post, truths)
    np.testing.assert_array_equal(out.samples("mu")[:, :, 0], [[-1.0, 2.0], [-3.0, 4.0]])
    np.testing.assert_array_equal(out.samples("w"), [[0.7, 0.3], [0.6, 0.4]])
    np.testing.assert_array_equal(out.samples("z"), [[1, 0, 0], [1, 0, 0]])  # the second draw was in order
    np.testing.assert_array_equal(t["mu"], [[0.0, 3.0], [1.0, 0.0]])
    np.testing.assert_array_equal(t["w"], [0.1, 0.9])
    np.testing.assert_array_equal(t["z"], [1, 1, 0])
    # prototypes (classes of components) are named by their labels: left as they are
    meta["mixture"]["groups"] = [0, 1]
    same, t2 = sorted_components(post, truths)
    assert same is post and t2 is truths
