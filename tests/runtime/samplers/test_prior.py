"""Prior sampling and the prior predictive, against closed forms."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import augury

HIER = """
data  y : real[N]
param mu : real
param tau : positive
param theta : real[N]
mu ~ normal(1, 2)
tau ~ cauchy(0, 5)
theta ~ normal(mu, tau)
y ~ normal(theta, 1)
"""


def _ks_ok(x, cdf) -> bool:
    return stats.kstest(x, cdf).pvalue > 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_prior_predictive_draws_every_unknown_and_the_data(seed):
    model = augury.compile(HIER)
    prior = model.prior_predictive(data={"N": 4}, draws=4000, seed=seed)
    assert prior.method == "prior" and prior.chains is None and prior.settings["precision"] == "float64"
    # shapes equal the declared shapes
    assert prior.samples("mu").shape == (4000,) and prior.samples("theta").shape == (4000, 4)
    assert prior.samples("y").shape == (4000, 4)
    assert _ks_ok(prior.samples("mu"), stats.norm(1, 2).cdf)
    # the declared type wins: a half-Cauchy, drawn exactly
    tau = prior.samples("tau")
    assert tau.min() > 0 and _ks_ok(tau, stats.halfcauchy(0, 5).cdf)
    # theta | mu, tau and y | theta follow their statements: standardized residuals are N(0, 1)
    z = (prior.samples("theta") - prior.samples("mu")[:, None]) / tau[:, None]
    assert _ks_ok(z.ravel(), stats.norm.cdf)
    assert _ks_ok((prior.samples("y") - prior.samples("theta")).ravel(), stats.norm.cdf)


def test_bounds_that_read_another_parameter_truncate_exactly():
    model = augury.compile("""
param a : unit
param b : real(lower = 0, upper = 1 - a)
a ~ beta(2, 2)
b ~ normal(0.5, 1)
""")
    prior = model.prior_predictive(draws=4000, seed=3)
    a, b = prior.samples("a"), prior.samples("b")
    assert np.all((b > 0) & (b < 1 - a))
    # given a, b is normal(0.5, 1) truncated to (0, 1 - a): its conditional CDF value is uniform
    lo, hi = stats.norm.cdf(0, 0.5, 1), stats.norm.cdf(1 - a, 0.5, 1)
    u = (stats.norm.cdf(b, 0.5, 1) - lo) / (hi - lo)
    assert _ks_ok(u, stats.uniform.cdf)
    assert _ks_ok(a, stats.beta(2, 2).cdf)


def test_a_chain_is_drawn_in_order():
    model = augury.compile("""
data y : real[T]
param x : real[T]
x[0] ~ normal(0, 1)
for t in range(1, T) { x[t] ~ normal(0.9 * x[t - 1], 0.5) }
for t in range(T) { y[t] ~ normal(x[t], 1) }
""")
    prior = model.prior_predictive(data={"T": 6}, draws=4000, seed=4)
    x = prior.samples("x")
    innov = x[:, 1:] - 0.9 * x[:, :-1]
    assert _ks_ok(innov.ravel() / 0.5, stats.norm.cdf)
    # stationary-ish variance recursion: var x_t = 0.81 var x_{t-1} + 0.25, var x_0 = 1
    v = [1.0]
    for _ in range(5):
        v.append(0.81 * v[-1] + 0.25)
    se = np.array(v) * np.sqrt(2 / 4000)
    assert np.all(np.abs(x.var(axis=0) - v) < 5 * se)
    assert prior.samples("y").shape == (4000, 6)


def test_discrete_unknowns_and_flat_on_a_compact_support():
    model = augury.compile("""
const K = 3
param w : simplex(K)
param s : int(lower = 0, upper = 4)
param z : category(K)[5]
param u : real(lower = -1, upper = 2)
w ~ flat()
s ~ poisson(2)
u ~ flat()
for n in range(5) { z[n] ~ categorical(w) }
""")
    assert model.methods()["prior"] is None
    prior = model.prior_predictive(draws=6000, seed=5)
    w = prior.samples("w")
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-9)
    # Dirichlet(1, 1, 1): each weight is Beta(1, 2)
    assert _ks_ok(w[:, 0], stats.beta(1, 2).cdf)
    # poisson(2) restricted to 0..4, renormalized
    p = stats.poisson(2).pmf(np.arange(5))
    p /= p.sum()
    freq = np.bincount(prior.samples("s").astype(int), minlength=5) / 6000
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / 6000))
    assert _ks_ok(prior.samples("u"), stats.uniform(-1, 3).cdf)
    z = prior.samples("z")
    assert z.shape == (6000, 5) and z.min() >= 0 and z.max() <= 2


def test_flat_on_a_finite_discrete_support_is_uniform_there():
    """`flat()` on bool, category(K) and a bounded int: prior draws are uniform on the values
    (each frequency within 5 binomial sd of 1/count), and the uniform's 1/count is in the log
    prior, so SMC's evidence is the model's: p(y) = ½ Σ_k N(y; 3k, √2) for k ~ flat() on
    category(2), mu ~ N(0, 1), y ~ N(mu + 3k, 1) (an unnormalized flat is log 2 off)."""
    model = augury.compile("param k : category(3)\nparam b : bool\nparam j : int(lower = -1, upper = 2)[2]\n"
                           "k ~ flat()\nb ~ flat()\nj ~ flat()\n")
    n = 6000
    prior = model.prior_predictive(draws=n, seed=11)
    for name, values in (("k", range(3)), ("b", range(2)), ("j", range(-1, 3))):
        x = prior.samples(name).ravel()
        p = 1 / len(values)
        freq = np.array([np.mean(x == v) for v in values])
        assert set(np.unique(x)) == set(values), name
        assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / x.size)), (name, freq)
    src = "data y : real\nparam k : category(2)\nparam mu : real\nk ~ flat()\nmu ~ normal(0, 1)\n" \
          "y ~ normal(mu + 3 * k, 1)\n"
    post = augury.compile(src).sample(data={"y": 2.0}, method="smc", particles=2000, seed=3)
    exact = np.log(0.5 * stats.norm.pdf(2.0, 0, np.sqrt(2)) + 0.5 * stats.norm.pdf(2.0, 3, np.sqrt(2)))
    # Monte Carlo sd of log Ẑ about 0.005 at 2000 particles: 0.1 is 20 of them and a seventh of log 2
    assert post.log_evidence == pytest.approx(exact, abs=0.1)


def test_flat_on_an_unbounded_support_is_refused_for_prior_draws():
    model = augury.compile("param mu : real\nmu ~ flat()\n")
    assert "flat prior on an unbounded support" in model.methods()["prior"]
    with pytest.raises(augury.AuguryInferenceError, match="`prior` does not apply"):
        model.prior_predictive(draws=10)


def test_prior_as_a_method_with_the_data_given_simulates_it_again():
    model = augury.compile(HIER)
    y = np.array([0.5, 1.0, -2.0])
    post = model.sample(data={"y": y}, method="prior", samples=500, seed=2)
    assert post.samples("y").shape == (500, 3) and not np.allclose(post.samples("y")[0], y)


def test_the_truncation_normalizer_makes_the_log_prior_the_density_prior_draws_come_from():
    from augury.model import precision_scope
    model = augury.compile("""
param a : unit
param b : real(lower = 0, upper = 1 - a)
param tau : positive
param c : real[3]
a ~ beta(2, 2)
b ~ normal(0.5, 1)
tau ~ cauchy(1, 2)
for i in range(3) { c[i] ~ normal(0, 1) }
""")
    with precision_scope("float64"):
        lowered, _ = model.bind(precision="float64")
        values = {"a": 0.3, "b": 0.2, "tau": 0.7, "c": np.array([0.1, -0.2, 0.3])}

        def get(u, support, env):
            return np.asarray(values[u.name], np.float64)
        plain = float(lowered.run(get).log_prior)
        normalized = float(lowered.run(get, normalize_truncation=True).log_prior)
    want_plain = (stats.beta(2, 2).logpdf(0.3) + stats.norm(0.5, 1).logpdf(0.2) + stats.cauchy(1, 2).logpdf(0.7)
                  + stats.norm.logpdf(values["c"]).sum())
    # b's bound reads a: normal(0.5, 1) truncated to (0, 1 - a); tau: cauchy(1, 2) on (0, inf)
    log_zb = np.log(stats.norm(0.5, 1).cdf(0.7) - stats.norm(0.5, 1).cdf(0))
    log_ztau = np.log(stats.cauchy(1, 2).sf(0))
    # b's normalizer reads a, so it is in every method's log prior (docs/language.md); tau's is constant
    assert plain == pytest.approx(want_plain - log_zb, abs=1e-9)
    assert normalized == pytest.approx(want_plain - log_zb - log_ztau, abs=1e-9)


@pytest.mark.slow
def test_ordered_vectors_are_sorted_whatever_the_distributions_support():
    for t, d in [("positive_ordered", "exponential(1)"), ("positive_ordered", "lognormal(0, 1)"),
                 ("positive_ordered", "normal(0, 1)"), ("ordered", "normal(0, 1)")]:
        c = augury.compile(f"param c : {t}(3)\nc ~ {d}\n").prior_predictive(draws=500, seed=1).samples("c")
        assert np.all(np.diff(c, axis=1) > 0), (t, d)
        if t == "positive_ordered":
            assert c.min() > 0
    # exponential(1) on positive_ordered(3) is the order statistics of 3 draws: E[min] = 1/3
    c = augury.compile("param c : positive_ordered(3)\nc ~ exponential(1)\n").prior_predictive(draws=4000).samples("c")
    assert abs(c[:, 0].mean() - 1 / 3) < 5 * (1 / 3) / np.sqrt(4000)


@pytest.mark.parametrize("src", ["param x : positive\nx ~ uniform(-2, -1)\n",
                                 "param x : real(lower = 2, upper = 3)\nx ~ beta(2, 2)\n",
                                 "param k : int(lower = 5, upper = 10)\nk ~ bernoulli(0.5)\n"])
def test_a_support_with_no_mass_stops_the_run(src):
    with pytest.raises(augury.AuguryInferenceError, match="produced NaN or infinity"):
        augury.compile(src).prior_predictive(draws=50)


@pytest.mark.slow
def test_bounds_that_differ_per_element_truncate_each_element():
    src = "data L : real[N]\nparam x : real(lower = L)[N]\nfor n in range(N) { x[n] ~ normal(0, 1) }\n"
    x = augury.compile(src).prior_predictive(data={"L": [0.0, 1.0, -1.0]}, draws=4000, seed=2).samples("x")
    for j, lo in enumerate([0.0, 1.0, -1.0]):
        assert _ks_ok(x[:, j], stats.truncnorm(lo, np.inf).cdf)
    k = augury.compile("data L : int[N]\nparam k : int(lower = L)[N]\nfor n in range(N) { k[n] ~ poisson(3) }\n") \
        .prior_predictive(data={"L": [0, 5, 1]}, draws=2000, seed=3).samples("k")
    assert np.all(k.min(axis=0) == [0, 5, 1])


@pytest.mark.parametrize("lower, draws", [(6, 4000), (60, 300)])
def test_a_count_bounded_below_is_drawn_exactly(lower, draws):
    # P(k >= 6) = 8% (rejection), P(k >= 60) ~ 1e-58 (past the rejection budget: the window above the bound)
    k = augury.compile(f"param k : int(lower = {lower})\nk ~ poisson(3)\n").prior_predictive(draws=draws, seed=4)
    k = k.samples("k")
    support = np.arange(lower, lower + 400)
    p = np.exp(stats.poisson(3).logpmf(support) - logsumexp(stats.poisson(3).logpmf(support)))
    mean, sd = (support * p).sum(), np.sqrt((support ** 2 * p).sum() - (support * p).sum() ** 2)
    assert k.min() >= lower and abs(k.mean() - mean) < 5 * sd / np.sqrt(draws) + 1e-9


def test_prior_draws_check_every_index():
    src = "data y : real[N]\nparam mu : real[3]\nmu ~ normal(0, 1)\nfor n in range(N) { y[n] ~ normal(mu[n], 1) }\n"
    with pytest.raises(augury.AuguryCheckError, match=r"index 3 \(at n = 3\) is out of range for axis 0 of `mu`"):
        augury.compile(src).prior_predictive(data={"N": 5})


def test_a_let_that_overflows_is_reported_not_fatal():
    prior = augury.compile("param x : real\nx ~ normal(0, 300)\nlet r = exp(x)\n").prior_predictive(draws=1000)
    assert prior.samples("x").shape == (1000,)
    assert any("`r` is NaN or infinite in some draws" in w for w in prior.warnings)


def test_ordered_components_of_their_own_are_restricted_exactly():
    mu = augury.compile("param mu : ordered(2)\nmu ~ normal([0, 0.5], 1)\n").prior_predictive(draws=20000, seed=1)
    mu = mu.samples("mu")
    assert np.all(np.diff(mu, axis=1) > 0)
    # (X1, X2) ~ N([0, 0.5], I) given X1 < X2: D = X2 - X1 ~ N(0.5, 2) given D > 0, S = X1 + X2 independent
    z = -0.5 / np.sqrt(2)
    ed = 0.5 + np.sqrt(2) * stats.norm.pdf(z) / stats.norm.sf(z)
    np.testing.assert_allclose(mu.mean(axis=0), [0.25 - ed / 2, 0.25 + ed / 2], atol=5 * 0.9 / np.sqrt(20000))


def test_data_elements_without_a_distribution_are_kept_and_the_rest_simulated():
    src = """
data y : real[T]
param a : real(lower = -1, upper = 1)
a ~ uniform(-1, 1)
for t in range(2, T) { y[t] ~ normal(a * y[t - 1], 0.1) }
"""
    y = np.array([5.0, -3.0, 0.0, 0.0, 0.0, 0.0])
    prior = augury.compile(src).prior_predictive(data={"y": y}, draws=3000, seed=6)
    sim, a = prior.samples("y"), prior.samples("a")
    np.testing.assert_array_equal(sim[:, :2], np.broadcast_to(y[:2], (3000, 2)))  # conditioned on, not drawn
    innov = (sim[:, 2:] - a[:, None] * sim[:, 1:-1]) / 0.1
    assert _ks_ok(innov.ravel(), stats.norm.cdf)
    with pytest.raises(augury.AuguryCheckError, match=r"`y\[0\]` has no distribution, so simulating `y` needs its"):
        augury.compile(src).prior_predictive(data={"T": 6})


def test_a_likelihood_that_feeds_back_on_itself_says_how_to_simulate_it():
    src = """
data y : real[T]
param phi : real(lower = -1, upper = 1)
phi ~ normal(0, 1)
let nu[0] = 0.0
for t in range(1, T) { let nu[t] = phi * y[t - 1] }
y ~ normal(nu, 1)
"""
    with pytest.raises(augury.AuguryCheckError, match="cannot simulate `y` from its likelihood: its distribution "
                                                      "reads `y` itself through `nu`"):
        augury.compile(src).prior_predictive(data={"y": np.zeros(5)})
