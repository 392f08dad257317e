"""Recognizing mixtures in model files (compiler/mixture.py): what `augury check` says, which
methods apply, and the bound `MixtureProblem` (hyperparameters, labels, shapes)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import augury
from augury.compiler.mixture import recognize
from augury.compiler.mixture_binding import mixture_problem
from augury.errors import AuguryError

GCD = """
model gcd
const Kmax = 30
data  X : real[N, D]
data  z : category(Kmax)[N] missing -1
param w : simplex(Kmax)
param mu : real[Kmax, D]
param Sigma : spd(D)[Kmax]
w ~ dirichlet_process(alpha = 1.0)
Sigma ~ inv_wishart(D + 2, eye(D))
for k in range(Kmax) { mu[k] ~ mvnormal(zeros(D), 10 * Sigma[k]) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])
}
infer by split_merge(sweeps = 200)
"""

KNOWN = """
const K = 3
data X : real[N, D]
param w : simplex(K)
param mu : real[K, D]
param z : category(K)[N]
w ~ dirichlet(ones(K))
mu ~ normal(1.0, 10)
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ normal(mu[z[n]], 0.5)
}
"""

VMF = """
data X : sphere(3)[N]
param mu : sphere(3)[4]
param kappa : positive
param w : simplex(4)
param z : category(4)[N]
w ~ stick_breaking(2.0)
mu ~ von_mises_fisher([0.0, 0.0, 1.0], 0.5)
kappa ~ gamma(2, 0.1)
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ von_mises_fisher(mu[z[n]], kappa)
}
"""

PROTOTYPES = """
const C = 3
const M = 2
data X : sphere(5)[N]
data z : category(C)[N] missing -1
param w : simplex(C)
param v : simplex(M)[C]
param mu : sphere(5)[C, M]
w ~ dirichlet(ones(C))
v ~ dirichlet(full(M, 0.5))
mu ~ flat()
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mixture(v[z[n]], von_mises_fisher(mu[z[n]], 20.0))
}
"""

MARGINAL = """
data X : real[N, 2]
param w : simplex(3)
param mu : real[3, 2]
param Sigma : spd(2)[3]
w ~ dirichlet(ones(3))
Sigma ~ inv_wishart(4, eye(2))
mu ~ normal(0, 5)
for n in range(N) { X[n] ~ mixture(w, mvnormal(mu, Sigma)) }
"""

MIXTURE_METHODS = ("em", "vi", "gibbs", "split_merge")


def _bind(src, data):
    m = augury.compile(src)
    with jax.enable_x64(True):
        bound, _ = m.bind(data, None, "float64", inverse=True)
        return mixture_problem(bound, recognize(m.structure))


def _unit(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_language_references_gcd_model_is_a_conjugate_dp_mixture_with_labels():
    m = augury.compile(GCD)
    report = m.check_report()
    assert ("mixture of Gaussian components of `X`: assignment `z`, labels partially observed (`z` missing); "
            "Dirichlet process weights `w`; normal–inverse-Wishart (conjugate: collapsed updates exact)") in report
    X = np.random.default_rng(0).normal(size=(12, 2))
    z = -np.ones(12, int)
    z[:2] = [3, 7]
    p = _bind(GCD, {"X": X, "z": z})
    assert p.K == 30 and p.family == "gaussian" and p.weights.kind == "dp" and p.weights.alpha == 1.0
    g = p.gaussian
    assert g.kind == "niw" and g.kappa0 == pytest.approx(0.1) and g.nu0 == 4.0
    np.testing.assert_array_equal(g.Psi0, np.eye(2))
    np.testing.assert_array_equal(g.m0, np.zeros(2))
    np.testing.assert_array_equal(p.labels, z)
    assert p.names == {"data": "X", "means": "mu", "weights": "w", "covariances": "Sigma", "assignment": "z"}
    assert p.shapes["Sigma"] == (30, 2, 2) and p.X.dtype == np.float64


def test_known_scale_and_elementwise_mean_prior():
    p = _bind(KNOWN, {"X": np.zeros((5, 2))})
    g = p.gaussian
    assert g.kind == "known_cov" and p.weights.kind == "dirichlet"
    np.testing.assert_allclose(g.cov, np.broadcast_to(0.25 * np.eye(2), (3, 2, 2)))
    np.testing.assert_allclose(g.S0, 100 * np.eye(2))
    np.testing.assert_allclose(g.m0, np.ones(2))
    assert (p.labels == -1).all()
    table = augury.compile(KNOWN).methods()
    assert "Dirichlet" in table["split_merge"]


def test_vmf_with_a_shared_gamma_concentration():
    p = _bind(VMF, {"X": _unit(7, 3)})
    assert p.family == "vmf" and p.weights.kind == "dp" and p.weights.alpha == 2.0
    v = p.vmf
    assert v.kappa is None and v.kappa_shape == 2 and v.kappa_rate == 0.1 and v.kappa_shared
    np.testing.assert_allclose(v.m0, [0, 0, 1]) and v.tau0 == 0.5
    reason = augury.compile(VMF).methods()["split_merge"]
    assert "conjugate" in reason and "gibbs" in reason


def test_several_components_per_class():
    z = np.array([0, 1, 2] + [-1] * 7)
    p = _bind(PROTOTYPES, {"X": _unit(10, 5), "z": z})
    assert p.K == 6 and p.weights.kind == "dirichlet"
    np.testing.assert_array_equal(p.weights.groups, [0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(p.weights.within, 0.5)
    assert p.vmf.kappa == 20.0 and p.vmf.tau0 == 0.0
    allowed = p.allowed()
    assert allowed[0].tolist() == [True, True, False, False, False, False] and allowed[5].all()
    assert "several components per class (`v`)" in augury.compile(PROTOTYPES).check_report()


def test_the_marginal_mixture_form():
    p = _bind(MARGINAL, {"X": np.zeros((4, 2))})
    assert p.gaussian.kind == "independent" and "assignment" not in p.names
    np.testing.assert_allclose(p.gaussian.S0, 25 * np.eye(2))
    assert augury.compile(MARGINAL).methods()["gibbs"] is None or "implemented" in augury.compile(MARGINAL).methods()["gibbs"]


@pytest.mark.parametrize("src, reason", [
    ("data y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n", "there is no mixture"),
    (KNOWN.replace("X[n] ~ normal(mu[z[n]], 0.5)", "X[n] ~ student_t(3, mu[z[n]], 0.5)"),
     "the components are `student_t(...)`"),
    (KNOWN.replace("param mu : real[K, D]", "param mu : real[K, D]\nparam s : positive").replace(
        "X[n] ~ normal(mu[z[n]], 0.5)", "X[n] ~ normal(mu[z[n]], s)").replace("mu ~ normal(1.0, 10)",
                                                                              "mu ~ normal(1.0, 10)\ns ~ gamma(1, 1)"),
     "needs a known scale"),
    (GCD.replace("mvnormal(zeros(D), 10 * Sigma[k])", "mvnormal(zeros(D), Sigma[k] @ Sigma[k])"),
     "must be `c * Sigma[k]`"),
    (KNOWN.replace("w ~ dirichlet(ones(K))", "param a : positive\na ~ gamma(1, 1)\nw ~ dirichlet(a * ones(K))"),
     "reads a parameter"),
    (GCD.replace("param Sigma : spd(D)[Kmax]", "param Sigma : spd(D)").replace("Sigma[z[n]]", "Sigma").replace(
        "10 * Sigma[k]", "10 * eye(D)"), "one covariance shared by the components"),
])
def test_what_is_not_a_mixture_says_why(src, reason):
    m = augury.compile(src)
    for meth in MIXTURE_METHODS:
        assert reason in (m.methods()[meth] or ""), (meth, m.methods()[meth])


def test_bad_labels_and_off_sphere_points_are_errors_at_the_declaration():
    z = -np.ones(12, int)
    z[3] = 31
    with pytest.raises(AuguryError) as e:
        _bind(GCD, {"X": np.zeros((12, 2)), "z": z})
    assert "z" in str(e.value)
    X = _unit(7, 3)
    X[2] *= 2
    with pytest.raises(AuguryError) as e:
        _bind(VMF, {"X": X})
    msg = str(e.value)
    assert "X" in msg and ("norm" in msg or "unit" in msg)


def test_known_per_component_covariances_and_one_prior_statement_per_parameter():
    src = KNOWN.replace("data X : real[N, D]", "data X : real[N, D]\ndata S : spd(D)[K]").replace(
        "X[n] ~ normal(mu[z[n]], 0.5)", "X[n] ~ mvnormal(mu[z[n]], S[z[n]])")
    S = np.stack([np.eye(2), 2 * np.eye(2), 3 * np.eye(2)])
    p = _bind(src, {"X": np.zeros((4, 2)), "S": S})
    assert p.gaussian.kind == "known_cov"
    np.testing.assert_allclose(p.gaussian.cov, S)
    two = KNOWN.replace("mu ~ normal(1.0, 10)", "mu[0] ~ normal(-100, 0.1)\nmu[1] ~ normal(100, 0.1)\n"
                                                "mu[2] ~ normal(0, 1)")
    assert "3 prior statements" in augury.compile(two).methods()["em"]


def test_a_non_positive_dirichlet_concentration_is_an_error_at_the_prior():
    src = KNOWN.replace("w ~ dirichlet(ones(K))", "w ~ dirichlet(full(K, -1.0))")
    with pytest.raises(AuguryError) as e:
        _bind(src, {"X": np.zeros((4, 2))})
    assert "must be positive" in str(e.value) and ":7:" in str(e.value)


def _at(src: str, text: str, nth: int = 0) -> str:
    """`<string>:line:col` of the `nth` occurrence of `text` in the model source (1-based)."""
    i = -1
    for _ in range(nth + 1):
        i = src.index(text, i + 1)
    line = src.count("\n", 0, i) + 1
    return f"<string>:{line}:{i - src.rfind(chr(10), 0, i)}"


@pytest.mark.parametrize("decl", ["positive[Kmax, D]", "real(lower = 0)[Kmax, D]"])
def test_means_on_a_restricted_support_are_refused_at_their_declaration(decl):
    """The declared type wins (the prior is truncated to it) and the conjugate updates draw means
    on all of R^D: every mixture method refuses, saying where and what samples that support."""
    src = GCD.replace("param mu : real[Kmax, D]", f"param mu : {decl}")
    m = augury.compile(src)
    where = _at(src, "param mu")
    for meth in MIXTURE_METHODS:
        reason = m.methods()[meth] or ""
        assert f"`mu` are declared `{decl}` ({where})" in reason and "nuts or smc" in reason, (meth, reason)
    with pytest.raises(AuguryError, match="does not apply") as e:
        m.sample({"X": np.zeros((4, 2)), "z": -np.ones(4, int)})      # its `infer by split_merge`
    assert where in str(e.value) and "nuts" in str(e.value)


def test_ordered_means_are_refused_too():
    src = KNOWN.replace("data X : real[N, D]", "data X : real[N]").replace("param mu : real[K, D]",
                                                                            "param mu : ordered(K)")
    reason = augury.compile(src).methods()["gibbs"]
    assert f"declared `ordered(K)` ({_at(src, 'param mu')})" in reason


@pytest.mark.parametrize("labelled", [False, True])
def test_an_assignment_sized_unlike_the_data_is_an_error_naming_both(labelled):
    """`z : category(K)[70]` with 60 points: an error at z's declaration, not z cut to 60."""
    if labelled:
        src = GCD.replace("data  z : category(Kmax)[N] missing -1", "data  z : category(Kmax)[70] missing -1")
        data = {"X": np.zeros((60, 2)), "z": -np.ones(70, int)}
    else:
        src = KNOWN.replace("param z : category(K)[N]", "param z : category(K)[70]")
        data = {"X": np.zeros((60, 2))}
    with pytest.raises(AuguryError) as e:
        _bind(src, data)
    msg = str(e.value)
    assert f"{_at(src, 'data  z' if labelled else 'param z')}: error:" in msg
    assert "`z` has shape (70,)" in msg and "`X` has 60 points" in msg


NIW_DATA = {"X": np.random.default_rng(0).normal(size=(12, 2)), "z": -np.ones(12, int)}


@pytest.mark.parametrize("old, new, data, at, says", [
    # no points
    ("", "", {"X": np.zeros((0, 2)), "z": np.zeros(0, int)}, "data  X", "has no points"),
    # a non-positive factor of the normal–inverse-Wishart prior covariance
    ("10 * Sigma[k]", "0 * Sigma[k]", NIW_DATA, "0 * Sigma", "must be one positive number"),
    ("10 * Sigma[k]", "-1 * Sigma[k]", NIW_DATA, "-1 * Sigma", "must be one positive number"),
    ("10 * Sigma[k]", "Sigma[k] / c", {**NIW_DATA, "c": 0.0}, "c)", "must be one positive number"),
    # non-positive-definite scales
    ("inv_wishart(D + 2, eye(D))", "inv_wishart(D + 2, -1 * eye(D))", NIW_DATA, "-1 * eye", "positive definite"),
    ("inv_wishart(D + 2, eye(D))", "inv_wishart(D + 2, S)", {**NIW_DATA, "S": [[1.0, 2.0], [2.0, 1.0]]}, "S)",
     "positive definite"),
    ("inv_wishart(D + 2, eye(D))", "inv_wishart(1, eye(D))", NIW_DATA, "1, eye", "exceed D − 1"),
    # a DP concentration that is not positive (from data: no constant check catches it)
    ("dirichlet_process(alpha = 1.0)", "dirichlet_process(alpha = a)", {**NIW_DATA, "a": 0.0}, "a)",
     "must be one positive number"),
    ("dirichlet_process(alpha = 1.0)", "dirichlet_process(alpha = a)", {**NIW_DATA, "a": -1.0}, "a)",
     "must be one positive number"),
])
def test_bad_hyperparameters_and_empty_data_are_errors_at_their_place(old, new, data, at, says):
    src = GCD.replace(old, new) if old else GCD
    for name in ("c", "S", "a"):
        if name in data:
            kind = "real[D, D]" if name == "S" else "real"
            src = src.replace("data  X : real[N, D]", f"data  X : real[N, D]\ndata {name} : {kind}")
    with pytest.raises(AuguryError) as e:
        augury.compile(src).sample(data)          # through the Python API: refused before any sampling
    msg = str(e.value)
    assert f"{_at(src, at)}: error:" in msg and says in msg, msg


def test_a_known_covariance_that_is_not_positive_definite_is_an_error_at_the_likelihood():
    src = KNOWN.replace("data X : real[N, D]", "data X : real[N, D]\ndata S : real[D, D]").replace(
        "X[n] ~ normal(mu[z[n]], 0.5)", "X[n] ~ mvnormal(mu[z[n]], S)")
    with pytest.raises(AuguryError) as e:
        _bind(src, {"X": np.zeros((4, 2)), "S": -np.eye(2)})
    assert f"{_at(src, 'S)')}: error: the component covariance must be symmetric positive definite" in str(e.value)


def test_a_dp_alpha_of_zero_is_refused_through_the_python_api():
    src = GCD.replace("dirichlet_process(alpha = 1.0)", "dirichlet_process(alpha = 0.0)")
    with pytest.raises(AuguryError, match="alpha"):
        augury.compile(src).sample(NIW_DATA)
