"""The checker accepts valid models, warns where stanc3 would, and reports errors with spans."""

from __future__ import annotations

import pytest

from augury.dsl.check import check
from augury.errors import AuguryCheckError, Diagnostic
from augury.dsl.parser import parse
from models import HMM, VALID


def run(src: str, consts=None, file: str = "m.aug") -> list[Diagnostic]:
    return check(parse(src, file), consts)


def errors(src: str, consts=None) -> list[Diagnostic]:
    with pytest.raises(AuguryCheckError) as info:
        run(src, consts)
    return info.value.diagnostics


@pytest.mark.parametrize("name", [n for n in VALID if n != "hmm"])
def test_valid_models_check_cleanly(name):
    assert run(VALID[name], file=f"{name}.aug") == []


def test_hmm_with_flat_prior_warns_only():
    warnings = run(HMM)
    assert [w.message for w in warnings] == [
        "`theta` has an improper flat prior; methods that draw from the prior (SMC, diffusion) will refuse it"]
    assert warnings[0].severity == "warning" and warnings[0].span.line == 9


def test_unused_data_warns():
    src = "data y : real[N]\ndata x : real[N]\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"
    (w,) = run(src)
    assert w.message == "data `x` is declared but never used"
    assert (w.span.line, w.span.col, w.span.end_col) == (2, 6, 7)


def test_data_used_only_as_size_or_covariate_is_used():
    src = ("data N : int\ndata X : real[N, P]\ndata y : real[N]\nparam b : real[P]\n"
           "b ~ normal(0, 1)\ny ~ normal(X @ b, 1)\n")
    assert run(src) == []


def test_support_narrowing_warns():
    (w,) = run("param sigma : real\nsigma ~ gamma(2, 2)\n")
    assert w.severity == "warning"
    assert w.message == "`sigma` is declared real, but `gamma` puts mass only on the positive reals"
    assert w.notes == ("declare `param sigma : positive` so that samplers move in the right space",)
    (w,) = run("param p : real[K]\np ~ uniform(0, 1)\n")
    assert "declare `param p : real(lower = 0, upper = 1)[K]`" in w.notes[0]
    (w,) = run("param p : positive\np ~ beta(2, 2)\n")
    assert "`param p : unit`" in w.notes[0]


def test_wider_support_is_fine():
    # the declared type wins: a half-Cauchy, a half-normal
    assert run("param sigma : positive\nsigma ~ cauchy(0, 2.5)\n") == []
    assert run("param p : unit\np ~ normal(0.5, 1)\n") == []
    assert run("param b : real(lower = 0)\nb ~ gamma(2, 2)\n") == []


def test_all_errors_are_collected_and_sorted():
    src = "data y : real[N]\nparam mu : real\nparam sigma : positive\ny ~ normal(muu, sigm)\n"
    diags = errors(src)
    assert [(d.span.line, d.message) for d in diags] == [
        (2, "parameter `mu` has no distribution"),
        (3, "parameter `sigma` has no distribution"),
        (4, "unknown name `muu`"),
        (4, "unknown name `sigm`"),
    ]
    assert all(d.severity == "error" for d in diags)


def test_error_object():
    with pytest.raises(AuguryCheckError) as info:
        run("param mu : real\nmu ~ normal(0, scal = 1)\n")
    err = info.value
    assert err.message == "`normal` has no parameter `scal`"
    assert (err.span.line, err.span.col, err.span.end_col) == (2, 16, 20)
    assert str(err).startswith("m.aug:2:16: error: `normal` has no parameter `scal`\n    mu ~ normal(0, scal = 1)\n")


def test_const_overrides():
    src = "const K = 3\nparam w : simplex(K)\nw ~ dirichlet(ones(K))\n"
    assert run(src, {"K": 5}) == []
    (d,) = errors(src, {"k": 5})
    assert d.message == "cannot override `k`: the model has no const `k`" and d.notes == ("did you mean `K`?",)
    (d,) = errors(src, {"K": "five"})
    assert "must be a number" in d.message


def test_const_override_changes_shapes():
    src = "const K = 3\ndata y : real[5]\nparam mu : real[K]\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"
    assert errors(src)[0].message == "shape mismatch in likelihood of `y`"
    assert run(src, {"K": 5}) == []
    assert run(src, {"K": 1}) == []


def test_elementwise_recurrences_are_not_cycles():
    src = ("data y : real[T]\nparam a : real\na ~ normal(0, 1)\nlet s[0] = 1.0\n"
           "for t in range(1, T) { let s[t] = a * s[t - 1] }\nfor t in range(T) { y[t] ~ normal(s[t], 1) }\n")
    assert run(src) == []


def test_coupled_chains_are_not_cycles():
    src = ("param x : real[T]\nparam v : real[T]\nx[0] ~ normal(0, 1)\nv[0] ~ normal(0, 1)\n"
           "for t in range(1, T) {\n  v[t] ~ normal(v[t - 1], 0.1)\n  x[t] ~ normal(x[t - 1] + v[t - 1], 0.1)\n}\n")
    assert run(src) == []


def test_bounds_may_depend_on_params_but_not_cyclically():
    assert run("param a : unit\nparam b : real(lower = 0, upper = 1 - a)\na ~ beta(1, 1)\nb ~ beta(1, 1)\n") == []
    (d,) = errors("param a : real(upper = b)\nparam b : real(lower = a)\na ~ normal(0, 1)\nb ~ normal(0, 1)\n")
    assert d.message == "`b` depends on itself"


def test_transformed_data_on_the_left():
    src = "data y : positive[N]\nparam m : real\nlet ly = log(y)\nm ~ normal(0, 1)\nly ~ normal(m, 1)\n"
    assert run(src) == []


def test_slices_with_loop_bounds_do_not_error():
    src = ("data y : real[N]\nparam b : real[K]\nb ~ normal(0, 1)\n"
           "for t in range(K, N) { y[t] ~ normal(dot(b, y[t - K:t]), 1) }\n")
    assert run(src) == []


def test_concrete_shapes_agree():
    src = ("data X : real[10, 3]\ndata y : real[10]\nparam beta : real[3]\nbeta ~ normal(0, 1)\n"
           "y ~ normal(X @ beta, 1)\n")
    assert run(src) == []


def test_broadcasting_scalars_and_ones():
    src = ("data y : real[4, 3]\nparam a : real[3]\nparam b : real[4, 1]\na ~ normal(0, 1)\n"
           "b ~ normal(0, 1)\ny ~ normal(a + b, 1)\n")
    assert run(src) == []


def test_mvnormal_event_shapes():
    ok = "param x : real[3]\nx ~ mvnormal(zeros(3), eye(3))\n"
    assert run(ok) == []
    (d,) = errors("param x : real[3]\nx ~ mvnormal(zeros(4), eye(3))\n")
    assert d.message == "shape mismatch in prior of `x`" and d.notes == (
        "`zeros(4)` has shape (4,) but `x` is declared real[3]",)
    (d,) = errors("param x : real[3]\nx ~ mvnormal(zeros(3), cov = eye(4))\n")
    assert d.notes == ("`eye(4)` has shape (4, 4) but `x` is declared real[3]",)


def test_missing_labels_and_infer_targets():
    src = ("data X : real[N]\ndata z : category(2)[N] missing -1\nparam mu : real[2]\n"
           "mu ~ normal(0, 5)\nfor n in range(N) {\n  z[n] ~ categorical(logits = zeros(2))\n"
           "  X[n] ~ normal(mu[z[n]], 1)\n}\ninfer [mu, z] by gibbs(sweeps = 10)\n")
    assert run(src) == []


def test_operators_bound_from_python_are_accepted():
    src = ("data y : real[8]\nparam x : real[8]\nop A = my_operator\nx ~ diffusion(net = unet, predicts = \"x0\")\n"
           "y ~ normal(A(x), 0.1)\n")
    assert run(src) == []


def test_distribution_in_expression_is_refused():
    (d,) = errors("param mu : real\nlet m = normal(0, 1)\nmu ~ normal(0, 1)\n")
    assert d.message == "`normal` is a distribution; it can only stand on the right of `~`"


def test_range_bounds_and_loop_scoping():
    (d,) = errors("data y : real[N]\nfor i in range(N) { y[i] ~ normal(0, 1) }\nlet z = i\n")
    assert d.message == "unknown name `i`" and "exists only inside that loop" in d.notes[0]


def test_size_typo_warns():
    src = "const K = 3\nparam mu : real[k]\nmu ~ normal(0, 1)\n"
    (w,) = run(src)
    assert w.message == "`k` is declared nowhere, so it is a new size"
    assert w.notes == ("it is bound from the shape of the data; did you mean `K`?",)
    assert (w.span.line, w.span.col) == (2, 17)


def test_likelihood_may_read_values_computed_from_the_data():
    """GARCH: the volatility reads earlier observations, and the likelihood reads the volatility."""
    src = ("data y : real[T]\nparam mu : real\nparam a0 : positive\nparam a1 : unit\n"
           "mu ~ normal(0, 1)\na0 ~ exponential(1)\na1 ~ beta(2, 2)\nlet sigma[0] = 1.0\n"
           "for t in range(1, T) { let sigma[t] = sqrt(a0 + a1 * (y[t - 1] - mu) ** 2) }\n"
           "y ~ normal(mu, sigma)\n")
    assert run(src) == []


def test_fft_mask_measurements_have_a_real_and_imaginary_axis():
    base = "data m : real[8, 8]\nparam x : real[1, 8, 8]\nx ~ normal(0, 1)\nop A = fft_mask(m)\n"
    assert run(base + "data y : real[1, 2, 8, 8]\ny ~ normal(A(x), 0.1)\n") == []
    (e,) = errors(base + "data y : real[1, 8, 8]\ny ~ normal(A(x), 0.1)\n")
    assert "(1, 2, 8, 8)" in e.message + " ".join(e.notes)
