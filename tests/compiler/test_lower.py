"""Lowered log densities against closed forms (no sampling: exact checks)."""

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import augury
from augury.errors import AuguryError


def lower(src, data, consts=None):
    model = augury.compile(src)
    lowered, warnings = model.bind(data, consts=consts)
    return lowered


def evaluate(lowered, values):
    """The model's values and log densities at the given constrained values (one jit compile)."""
    import jax
    vals = {k: np.asarray(v, np.float32) for k, v in values.items()}

    def run(v):
        res = lowered.run(lambda u, c, env: v[lowered.site_name(u)])
        return res.values, res.log_prior, res.log_likelihood

    out, lp, ll = jax.jit(run)(vals)
    return type("Res", (), {"values": out, "log_prior": lp, "log_likelihood": ll})


EIGHT = """
data  y : real[J]
data  sigma : positive[J]
param mu : real
param tau : positive
param theta_trans : real[J]
let   theta = mu + tau * theta_trans
mu ~ normal(0, 5)
tau ~ cauchy(0, 5)
theta_trans ~ normal(0, 1)
y ~ normal(theta, sigma)
"""
Y8 = np.array([28, 8, -3, 7, -1, 1, 18, 12.0])
S8 = np.array([15, 10, 16, 11, 9, 11, 10, 18.0])


def test_eight_schools_log_density_matches_scipy():
    low = lower(EIGHT, {"y": Y8, "sigma": S8})
    rng = np.random.default_rng(0)
    tt = rng.normal(size=8)
    res = evaluate(low, {"mu": 1.5, "tau": 2.0, "theta_trans": tt})
    prior = stats.norm(0, 5).logpdf(1.5) + stats.cauchy(0, 5).logpdf(2.0) + stats.norm.logpdf(tt).sum()
    lik = stats.norm(1.5 + 2.0 * tt, S8).logpdf(Y8).sum()
    assert float(res.log_prior) == pytest.approx(prior, rel=1e-5)
    assert float(res.log_likelihood) == pytest.approx(lik, rel=1e-5)
    np.testing.assert_allclose(res.values["theta"], 1.5 + 2.0 * tt, rtol=1e-6)
    assert low.reported_lets == ["theta"]


def test_declared_support_wins_without_renormalizing():
    low = lower("param s : positive\nparam x : real\ns ~ normal(0, 1)\nx ~ gamma(2, 1)", {})
    res = evaluate(low, {"s": 0.7, "x": 1.3})
    assert float(res.log_prior) == pytest.approx(stats.norm.logpdf(0.7) + stats.gamma(2).logpdf(1.3), rel=1e-5)
    # outside the distribution's support the density is zero, never NaN
    res = evaluate(low, {"s": 0.7, "x": -1.0})
    assert float(res.log_prior) == -np.inf


@pytest.mark.parametrize("src, want", [
    # the truncation normalizer reads mu: log Φ(mu) (issue 16, item 9)
    ("param mu : real\nparam b : positive\nmu ~ normal(0, 1)\nb ~ normal(mu, 1)",
     lambda mu, b: stats.norm.logpdf(mu) + stats.norm.logpdf(b, mu) - stats.norm.logcdf(mu)),
    # the bound reads mu: log P(0 < X < 1 − mu) for X ~ normal(0.5, 1)
    ("param mu : unit\nparam b : real(lower = 0, upper = 1 - mu)\nmu ~ beta(2, 2)\nb ~ normal(0.5, 1)",
     lambda mu, b: stats.beta(2, 2).logpdf(mu) + stats.norm.logpdf(b, 0.5)
     - np.log(stats.norm.cdf(0.5 - mu) - stats.norm.cdf(-0.5))),
])
def test_a_truncation_normalizer_that_reads_a_param_is_in_every_log_prior(src, want):
    """The declared support truncates the distribution (docs/language.md).  A normalizer that
    reads another unknown changes the posterior, so the log prior MCMC sees subtracts it too,
    and differs from the evidence methods' fully normalized one (`normalize_truncation`) by a
    constant at most: NUTS and SMC share one target."""
    import jax
    from augury.model import precision_scope
    with precision_scope("float64"):
        low, _ = augury.compile(src).bind({}, precision="float64")
        run = jax.jit(lambda v, full: low.run(lambda u, c, env: v[u.name], normalize_truncation=full).log_prior,
                      static_argnums=1)
        gaps = []
        for mu, b in ((0.3, 0.2), (0.6, 0.1), (0.05, 0.5)):
            v = {"mu": np.float64(mu), "b": np.float64(b)}
            plain, full = float(run(v, False)), float(run(v, True))
            assert plain == pytest.approx(want(mu, b), abs=1e-9), (mu, b, plain, want(mu, b))
            gaps.append(full - plain)
    assert np.ptp(gaps) < 1e-9


@pytest.mark.parametrize("src, name, want", [
    # student_t's df reaches its CDF only through the incomplete beta function: no gradient in it
    ("param nu : positive\nparam s : positive\nnu ~ gamma(2, 0.5)\ns ~ student_t(nu, 0, 1)", "s",
     lambda v: stats.gamma(2, scale=2).logpdf(v["nu"]) + stats.t(v["nu"]).logpdf(v["s"])),
    ("param a : positive\nparam p : real(lower = 0.1, upper = 0.9)\na ~ gamma(2, 1)\np ~ beta(a, 2)", "p",
     lambda v: stats.gamma(2).logpdf(v["a"]) + stats.beta(v["a"], 2).logpdf(v["p"])),
    # a multivariate distribution has no truncation normalizer here
    ("param mu : real[2]\nparam b : positive[2]\nmu ~ normal(0, 1)\nb ~ mvnormal(mu, [[1, 0], [0, 1]])", "b",
     lambda v: stats.norm.logpdf(v["mu"]).sum() + stats.multivariate_normal(v["mu"]).logpdf(v["b"])),
])
def test_a_varying_normalizer_without_a_gradient_leaves_mcmc_stans_restriction_and_says_so(src, name, want):
    """NUTS ran these before the truncation normalizers that read a param entered its density;
    they have no exact gradient, so MCMC keeps Stan's restricted density (finite gradient) and
    the run's warning names the param (docs/language.md, "Truncation: the two exceptions")."""
    import jax
    from augury.model import precision_scope, truncation_warnings
    with precision_scope("float64"):
        low, _ = augury.compile(src).bind({}, precision="float64")
        assert low.restricted_truncations == [name] and truncation_warnings(low, "smc") == []
        assert f"`{name}`" in truncation_warnings(low, "nuts")[0]
        v = {"nu": 3.0, "s": 0.7, "a": 1.5, "p": 0.4, "mu": np.array([0.3, -0.2]), "b": np.array([0.5, 1.1])}
        v = {u.name: jax.numpy.asarray(v[u.name], jax.numpy.float64) for u in low.unknowns}
        log_prior = lambda v: low.run(lambda u, c, env: v[u.name]).log_prior  # noqa: E731
        assert float(log_prior(v)) == pytest.approx(want({k: np.asarray(x) for k, x in v.items()}), abs=1e-9)
        grads = jax.grad(log_prior)(v)
        assert all(np.isfinite(np.asarray(g)).all() for g in grads.values())


def test_flat_on_bounds_that_read_a_param_says_which_uniform_each_method_takes():
    from augury.model import precision_scope, truncation_warnings
    with precision_scope("float64"):
        low, _ = augury.compile("param a : unit\nparam b : real(lower = 0, upper = 1 - a)\na ~ beta(2, 2)\n"
                                "b ~ flat()").bind({}, precision="float64")
    assert low.joint_flat == ["b"] and low.restricted_truncations == []
    assert "joint region" in truncation_warnings(low, "nuts")[0]
    assert "given the other params" in truncation_warnings(low, "smc")[0]


def test_bounds_that_read_other_parameters():
    low = lower("param a : unit\nparam b : real(lower = 0, upper = 1 - a)\na ~ beta(2, 2)\nb ~ uniform(0, 1)", {})
    order = [k for kind, k in low.order if kind == "unknown"]
    assert order.index("a") < order.index("b")
    env = low.base.child(a=0.25)
    c = low.constraint_of(next(u for u in low.unknowns if u.name == "b"), env)
    assert float(c.upper_bound) == pytest.approx(0.75)
    assert float(c.lower_bound) == 0.0


def test_elementwise_priors_in_a_loop_equal_the_vector_prior():
    src = "data m : real[K]\nparam mu : real[K]\nfor k in range(K) { mu[k] ~ normal(m[k], 2) }"
    m = np.array([0.0, 1.0, -2.0])
    low = lower(src, {"m": m})
    x = np.array([0.3, 0.2, -1.0])
    res = evaluate(low, {"mu": x})
    assert float(res.log_prior) == pytest.approx(stats.norm(m, 2).logpdf(x).sum(), rel=1e-5)


def test_deterministic_recurrence_is_a_scan():
    src = """
data x : real[T]
param a : real
let s[0] = x[0]
for t in range(1, T) { let s[t] = a * s[t - 1] + x[t] }
a ~ normal(0, 1)
"""
    x = np.array([1.0, 2.0, -1.0, 0.5, 3.0])
    low = lower(src, {"x": x})
    res = evaluate(low, {"a": 0.5})
    want = [x[0]]
    for t in range(1, 5):
        want.append(0.5 * want[-1] + x[t])
    np.testing.assert_allclose(res.values["s"], want, rtol=1e-6)


def test_mutual_recurrence_arma_errors():
    src = """
data y : real[T]
param mu : real
param phi : real
param theta : real
let nu[0] = mu + phi * mu
let err[0] = y[0] - nu[0]
for t in range(1, T) {
  let nu[t] = mu + phi * y[t - 1] + theta * err[t - 1]
  let err[t] = y[t] - nu[t]
}
mu ~ normal(0, 10)
phi ~ normal(0, 2)
theta ~ normal(0, 2)
"""
    y = np.array([0.3, -0.2, 1.1, 0.4, 0.0, -0.7])
    low = lower(src, {"y": y})
    res = evaluate(low, {"mu": 0.1, "phi": 0.4, "theta": -0.3})
    nu = [0.1 + 0.4 * 0.1]
    err = [y[0] - nu[0]]
    for t in range(1, 6):
        nu.append(0.1 + 0.4 * y[t - 1] - 0.3 * err[t - 1])
        err.append(y[t] - nu[t])
    np.testing.assert_allclose(res.values["err"], err, rtol=1e-5, atol=1e-6)


MIX = """
data x : real[N]
param w : simplex(2)
param mu : ordered(2)
param z : category(2)[N]
w ~ dirichlet([1, 1])
mu ~ normal(0, 5)
for n in range(N) {
  z[n] ~ categorical(w)
  x[n] ~ normal(mu[z[n]], 1)
}
"""


def test_discrete_plate_is_summed_out_exactly():
    x = np.array([-2.0, -1.5, 0.1, 2.2, 3.0])
    low = lower(MIX, {"x": x})
    assert [u.name for u in low.unknowns] == ["w", "mu"]
    w, mu = np.array([0.3, 0.7]), np.array([-1.0, 2.0])
    res = evaluate(low, {"w": w, "mu": mu})
    comp = np.log(w)[None, :] + stats.norm(mu[None, :], 1).logpdf(x[:, None])
    assert float(res.log_likelihood) == pytest.approx(logsumexp(comp, axis=1).sum(), rel=1e-5)


def test_semi_supervised_labels_fix_the_observed_ones():
    src = MIX.replace("param z : category(2)[N]", "data z : category(2)[N] missing -1")
    x = np.array([-2.0, -1.5, 0.1, 2.2, 3.0])
    z = np.array([0, -1, 1, -1, 1])
    low = lower(src, {"x": x, "z": z})
    w, mu = np.array([0.4, 0.6]), np.array([-1.0, 2.0])
    res = evaluate(low, {"w": w, "mu": mu})
    comp = np.log(w)[None, :] + stats.norm(mu[None, :], 1).logpdf(x[:, None])
    want = sum(comp[n, z[n]] if z[n] >= 0 else logsumexp(comp[n]) for n in range(5))
    assert float(res.log_likelihood) == pytest.approx(want, rel=1e-5)


HMM = """
data y : real[T]
param p : unit
param q : unit
param mu : ordered(2)
param z : category(2)[T]
let P = [[p, 1 - p], [1 - q, q]]
p ~ beta(2, 2)
q ~ beta(2, 2)
mu ~ normal(0, 5)
z[0] ~ categorical([0.5, 0.5])
for t in range(1, T) { z[t] ~ categorical(P[z[t - 1]]) }
for t in range(T) { y[t] ~ normal(mu[z[t]], 1) }
"""


def test_hmm_forward_algorithm_equals_brute_force():
    y = np.array([-1.0, -0.5, 2.0, 2.5, 0.3])
    low = lower(HMM, {"y": y})
    assert low.plans["z"].kind == "chain"
    p, q, mu = 0.8, 0.6, np.array([-1.0, 2.0])
    res = evaluate(low, {"p": p, "q": q, "mu": mu})
    P = np.array([[p, 1 - p], [1 - q, q]])
    total = []
    for path in itertools.product([0, 1], repeat=5):
        lp = np.log(0.5) + sum(np.log(P[path[t - 1], path[t]]) for t in range(1, 5))
        lp += stats.norm(mu[list(path)], 1).logpdf(y).sum()
        total.append(lp)
    assert float(res.log_likelihood) == pytest.approx(logsumexp(total), rel=1e-5)


def test_hmm_backward_sampling_matches_exact_marginals():
    import jax
    y = np.array([-1.0, 1.8, 2.0])
    low = lower(HMM, {"y": y})
    p, q, mu = 0.7, 0.7, np.array([-1.0, 2.0])
    vals = {"p": np.float32(p), "q": np.float32(q), "mu": mu.astype(np.float32)}
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    draws = jax.jit(jax.vmap(lambda k: low.run(lambda u, c, env: vals[u.name], enum_key=k).values["z"]))(keys)
    P = np.array([[p, 1 - p], [1 - q, q]])
    paths = list(itertools.product([0, 1], repeat=3))
    lps = np.array([np.log(0.5) + sum(np.log(P[s[t - 1], s[t]]) for t in (1, 2))
                    + stats.norm(mu[list(s)], 1).logpdf(y).sum() for s in paths])
    probs = np.exp(lps - logsumexp(lps))
    exact = np.array([sum(pr for s, pr in zip(paths, probs) if s[t] == 1) for t in range(3)])
    freq = np.asarray(draws).mean(axis=0)
    # binomial standard error with 4000 draws is at most 0.008; allow 4 of them
    np.testing.assert_allclose(freq, exact, atol=0.032)


def test_missing_continuous_entries_become_unknowns():
    src = "data y : real[N] missing\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)"
    low = lower(src, {"y": np.array([0.5, np.nan, 1.0, np.nan])})
    u = [u for u in low.unknowns if u.kind == "missing"]
    assert len(u) == 1 and u[0].shape == (2,)
    res = evaluate(low, {"mu": 0.2, "y__missing": np.array([3.0, -1.0])})
    np.testing.assert_allclose(res.values["y"], [0.5, 3.0, 1.0, -1.0])
    assert float(res.log_likelihood) == pytest.approx(stats.norm(0.2, 1).logpdf([0.5, 3, 1, -1]).sum(), rel=1e-5)


def test_mixture_distribution_marginalizes_the_component():
    src = "data y : real[N]\nparam mu : ordered(2)\nparam th : unit\nmu ~ normal(0, 2)\nth ~ beta(5, 5)\n" \
          "y ~ mixture([th, 1 - th], normal(mu, 1))"
    y = np.array([-1.0, 0.0, 2.0])
    low = lower(src, {"y": y})
    res = evaluate(low, {"mu": np.array([-0.5, 1.5]), "th": 0.3})
    want = np.logaddexp(np.log(0.3) + stats.norm(-0.5, 1).logpdf(y), np.log(0.7) + stats.norm(1.5, 1).logpdf(y))
    assert float(res.log_likelihood) == pytest.approx(want.sum(), rel=1e-5)


def test_sliding_window_slice_with_loop_bounds():
    src = """
data y : real[N]
param beta : real[K]
const K = 2
for t in range(K, N) { y[t] ~ normal(dot(beta, y[t - K:t]), 1) }
beta ~ normal(0, 1)
"""
    y = np.array([0.1, 0.4, -0.2, 0.3, 0.9])
    low = lower(src, {"y": y})
    b = np.array([0.5, -0.25])
    res = evaluate(low, {"beta": b})
    want = sum(stats.norm(b @ y[t - 2:t], 1).logpdf(y[t]) for t in range(2, 5))
    assert float(res.log_likelihood) == pytest.approx(want, rel=1e-5)


def test_let_elements_must_be_assigned_exactly_once():
    src = "data x : real[T]\nparam a : real\na ~ normal(0, 1)\nfor t in range(2, T) { let s[t] = a * x[t] }"
    with pytest.raises(AuguryError, match=r"element `s\[0\]` is never assigned"):
        lower(src, {"x": np.ones(4)})


def test_data_shape_error_names_the_declaration():
    with pytest.raises(augury.AuguryDataError) as e:
        lower(EIGHT, {"y": Y8, "sigma": S8[:7]})
    assert "sigma" in str(e.value) and "y" in str(e.value)


def test_const_override_and_unknown_const():
    src = "const K = 2\nparam mu : real[K]\nmu ~ normal(0, 1)"
    assert lower(src, {}, consts={"K": 4}).param_shapes["mu"] == (4,)
    with pytest.raises(AuguryError, match="cannot override `KK`: the model has no const `KK`"):  # as compile says
        lower(src, {}, consts={"KK": 4})


TRIANGULAR = """
data y : real[N, N]
param L : real[N, N]
for i in range(N) {
  for j in range(i + 1) { L[i, j] ~ normal(0, 1) }
  for j in range(i + 1, N) { L[i, j] ~ normal(0, 0.1) }
}
for i in range(N) { for j in range(i + 1) { let W[i, j] = L[i, j] * (i - j + 1) } }
for i in range(N) { for j in range(i + 1, N) { let W[i, j] = 0.0 } }
y ~ normal(W, 1)
"""


def test_triangular_loops_run_over_their_iterations():
    y = np.arange(16.0).reshape(4, 4) / 10
    low = lower(TRIANGULAR, {"y": y})
    x = np.random.default_rng(1).normal(size=(4, 4))
    res = evaluate(low, {"L": x})
    lower_tri = np.tril(np.ones((4, 4), bool))
    prior = stats.norm.logpdf(x[lower_tri]).sum() + stats.norm(0, 0.1).logpdf(x[~lower_tri]).sum()
    w = np.tril(x * (np.arange(4)[:, None] - np.arange(4)[None, :] + 1))
    assert float(res.log_prior) == pytest.approx(prior, rel=1e-5)
    np.testing.assert_allclose(res.values["W"], w, rtol=1e-5, atol=1e-6)
    assert float(res.log_likelihood) == pytest.approx(stats.norm(w, 1).logpdf(y).sum(), rel=1e-5)


def test_recurrence_over_a_triangular_loop_runs_in_loop_order():
    src = """
param a : real
a ~ normal(0, 1)
let s[0, 0] = a
for j in range(1, 4) { let s[0, j] = 0.0 }
for i in range(1, 4) {
  for j in range(i) { let s[i, j] = s[i - 1, j] + 1 }
  for j in range(i, 4) { let s[i, j] = 0.0 }
}
"""
    res = evaluate(lower(src, {}), {"a": 0.5})
    want = np.zeros((4, 4))
    want[0, 0] = 0.5
    for i in range(1, 4):
        for j in range(i):
            want[i, j] = want[i - 1, j] + 1
    np.testing.assert_allclose(res.values["s"], want)


def test_elementwise_priors_must_cover_every_element_once():
    with pytest.raises(AuguryError, match=r"element `x\[1\]` of the parameter `x` has no distribution"):
        lower("data y : real[N]\nparam x : real[N]\nfor i in range(1) { x[i] ~ normal(0, 1) }", {"y": np.ones(3)})
    src = "data y : real[N]\nparam x : real[N]\nfor i in range(N) { x[i] ~ normal(0, 1) }\n" \
          "for i in range(1, N) { x[i] ~ normal(0, 2) }"
    with pytest.raises(AuguryError, match=r"element `x\[1\]` has more than one distribution"):
        lower(src, {"y": np.ones(3)})
    src = "data y : real[N]\nparam x : real\nx ~ normal(0, 1)\nfor i in range(N) { y[i] ~ normal(x, 1) }\n" \
          "for i in range(2, N) { y[i] ~ normal(x, 2) }"
    with pytest.raises(AuguryError, match=r"element `y\[2\]` has more than one distribution"):
        lower(src, {"y": np.ones(3)})


CHANGE_POINT = """
data y : int[T]
param e : positive
param l : positive
param s : int(lower = 0, upper = T)
e ~ exponential(1)
l ~ exponential(1)
s ~ categorical(ones(T + 1) / (T + 1))
let rate = where(arange(T) < s, e, l)
y ~ poisson(rate)
"""


def _change_point_terms(y, e, l):
    t = np.arange(len(y))
    return np.array([np.log(1 / (len(y) + 1)) + stats.poisson(np.where(t < s, e, l)).logpmf(y).sum()
                     for s in range(len(y) + 1)])


def test_scalar_discrete_unknown_is_summed_over_its_values():
    y = np.array([1, 0, 2, 1, 5, 4, 6])
    low = lower(CHANGE_POINT, {"y": y})
    assert low.plans["s"].kind == "global" and low.plans["s"].lets == ("rate",)
    res = evaluate(low, {"e": 1.2, "l": 4.5})
    want = logsumexp(_change_point_terms(y, 1.2, 4.5))
    assert float(res.log_likelihood) == pytest.approx(want, rel=1e-5)
    assert float(res.log_prior) == pytest.approx(stats.expon.logpdf([1.2, 4.5]).sum(), rel=1e-5)


def test_scalar_discrete_unknown_and_its_lets_are_drawn_from_the_exact_conditional():
    import jax
    y = np.array([1, 0, 2, 1, 5, 4, 6])
    low = lower(CHANGE_POINT, {"y": y})
    vals = {"e": np.float32(1.2), "l": np.float32(4.5)}
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    out = jax.jit(jax.vmap(lambda k: {n: low.run(lambda u, c, env: vals[u.name], enum_key=k).values[n]
                                      for n in ("s", "rate")}))(keys)
    terms = _change_point_terms(y, 1.2, 4.5)
    exact = np.exp(terms - logsumexp(terms))
    freq = np.bincount(np.asarray(out["s"]), minlength=len(y) + 1) / 4000
    # binomial standard error with 4000 draws is at most 0.008; allow 4 of them
    np.testing.assert_allclose(freq, exact, atol=0.032)
    s = np.asarray(out["s"])
    np.testing.assert_allclose(np.asarray(out["rate"]), np.where(np.arange(7) < s[:, None], 1.2, 4.5), rtol=1e-6)


Y4 = np.array([0.3, -1.2, 0.8, 2.0])
Y32 = np.array([[0.1, -0.4], [1.3, 0.2], [-0.7, 0.9]])
POS = np.array([[1, 0], [0, 1], [1, 0]])
X33 = np.arange(9.0).reshape(3, 3) / 4 - 1


def _changes(y, mu):
    """log p(y | mu) of the change point model below: s summed over 0 … T-1, uniform."""
    t = np.arange(len(y))
    return logsumexp([np.log(1 / len(y)) + stats.norm(np.where(t < s, mu, -mu), 1).logpdf(y).sum()
                      for s in range(len(y))])


@pytest.mark.parametrize("src, data, values, log_prior, log_lik", [
    # an integer-array index on the left (orthogonal indexing): one statement, several elements
    ("data y : real[N]\ndata idx : int[M]\nparam mu : real\nmu ~ normal(0, 1)\ny[idx] ~ normal(mu, 1)\n",
     {"y": Y4, "idx": np.array([0, 2])}, {"mu": 0.4},
     stats.norm.logpdf(0.4), stats.norm(0.4, 1).logpdf(Y4[[0, 2]]).sum()),
    # an index reading two loop variables is one integer per iteration
    ("data y : real[N, K]\ndata pos : int[N, K]\nparam mu : real\nmu ~ normal(0, 1)\n"
     "for i in range(N) { for j in range(K) { y[i, pos[i, j]] ~ normal(mu + j, 1) } }\n",
     {"y": Y32, "pos": POS}, {"mu": 0.4}, stats.norm.logpdf(0.4),
     sum(stats.norm(0.4 + j, 1).logpdf(Y32[i, POS[i, j]]) for i in range(3) for j in range(2))),
    # a whole row per iteration, through an index array as long as the loop
    ("data cols : int[N]\nparam x : real[N, N]\nfor i in range(N) { x[i, cols] ~ normal(i, 1 + cols) }\n",
     {"cols": np.array([2, 0, 1])}, {"x": X33},
     sum(stats.norm(i, 1 + np.array([2, 0, 1])).logpdf(X33[i, [2, 0, 1]]).sum() for i in range(3)), 0.0),
    # an index computed by a let of data alone
    ("data y : real[N]\ndata idx : int[N]\nparam mu : real\nlet j = idx - 1\nmu ~ normal(0, 1)\n"
     "for n in range(N) { y[j[n]] ~ normal(mu * n, 1) }\n", {"y": Y4[:3], "idx": np.array([3, 1, 2])},
     {"mu": 0.4}, stats.norm.logpdf(0.4), sum(stats.norm(0.4 * n, 1).logpdf(Y4[i - 1]) for n, i in
                                              enumerate([3, 1, 2]))),
    # a discrete unknown whose bound is a let of data alone
    ("data y : real[T]\nlet M = T - 1\nparam s : int(lower = 0, upper = M)\nparam mu : real\nmu ~ normal(0, 1)\n"
     "s ~ categorical(ones(T) / T)\ny ~ normal(where(arange(T) < s, mu, -mu), 1)\n", {"y": Y4}, {"mu": 0.4},
     stats.norm.logpdf(0.4), _changes(Y4, 0.4)),
])
def test_left_side_indices_that_bind(src, data, values, log_prior, log_lik):
    res = evaluate(lower(src, data), values)
    assert float(res.log_prior) == pytest.approx(log_prior, rel=1e-5)
    assert float(res.log_likelihood) == pytest.approx(log_lik, rel=1e-5, abs=1e-6)


def test_a_discrete_unknown_with_too_many_values_is_refused_before_allocating():
    src = "data y : real[T]\nparam s : int(lower = 0, upper = 1000000000)\nparam mu : real\nmu ~ normal(0, 1)\n" \
          "s ~ poisson(3)\ny ~ normal(mu + s, 1)\n"
    with pytest.raises(AuguryError, match="has 1000000001 values, too many to sum out"):
        lower(src, {"y": np.ones(4)})
