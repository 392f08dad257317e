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


def test_flat_on_a_compact_support_is_proper():
    # the HMM's `theta : simplex(K)[K]` with `theta ~ flat()`: uniform on simplexes, a proper prior
    assert run(HMM) == []
    for ty in ("sphere(3)", "simplex(4)", "unit[2]", "cholesky_corr(3)", "real(lower = 0, upper = 1)"):
        assert run(f"param w : {ty}\nw ~ flat()\n") == [], ty


@pytest.mark.parametrize("ty", ["bool", "category(3)", "category(3)[2]", "int(lower = 1, upper = 4)",
                                "int(lower = -2, upper = 2)[3]"])
def test_flat_on_a_finite_discrete_support_is_proper(ty):
    """`flat()` on bool, category(K) or an int with both bounds is the uniform distribution on
    finitely many values: neither flagged by the checker nor refused by the methods that draw
    from the prior (the method table called it "a flat prior on an unbounded support")."""
    import augury
    src = f"param k : {ty}\nk ~ flat()\n"
    assert run(src) == [], ty
    assert augury.compile(src).methods()["prior"] is None, ty
    unbounded = "param k : int(lower = 0)\nk ~ flat()\n"  # one bound: infinitely many values
    assert "improper" in run(unbounded)[0].message
    assert "unbounded support" in augury.compile(unbounded).methods()["prior"]


def test_flat_on_an_unbounded_support_warns():
    src = "data y : real[N]\nparam mu : real\nmu ~ flat()\ny ~ normal(mu, 1)\n"
    (w,) = run(src)
    assert w.message == ("`mu` has an improper flat prior; methods that draw from the prior (SMC, diffusion) "
                         "will refuse it")
    assert w.severity == "warning" and (w.span.line, w.span.col) == (3, 6)
    for ty in ("positive", "real(lower = 0)", "real(upper = 1)", "ordered(3)", "positive_ordered(3)", "spd(2)",
               "real(lower = 0, upper = inf)"):
        (w,) = run(f"data y : real[N]\nparam mu : {ty}\nmu ~ flat()\ny ~ normal(sum(mu), 1)\n")
        assert "improper flat prior" in w.message, ty


def test_improper_posterior_warns():
    (w,) = run("param mu : real\nmu ~ flat()\n")
    assert w.severity == "warning"
    assert w.message == ("the posterior of `mu` is improper: its prior is flat on an unbounded support and no "
                         "data informs it")
    assert (w.span.line, w.span.col) == (2, 6)
    # data read only through a let still informs it; so does data reached through a hierarchy
    assert [x.message for x in run("data y : real[N]\nparam mu : positive\nmu ~ flat()\nlet m = 2 * mu\n"
                                   "y ~ normal(m, 1)\n")] == [
        "`mu` has an improper flat prior; methods that draw from the prior (SMC, diffusion) will refuse it"]
    hier = "param mu : real\nparam th : real[J]\nmu ~ flat()\nth ~ normal(mu, 1)\n"
    assert "the posterior of `mu` is improper" in run(hier)[0].message
    assert "improper flat prior" in run(hier + "data y : real[J]\ny ~ normal(th, 1)\n")[0].message
    # a param the data does not read: its posterior is its (improper) prior
    (w,) = run("data y : real[N]\nparam a : real\nparam b : real\na ~ normal(0, 1)\nb ~ flat()\n"
               "y ~ normal(a, 1)\n")
    assert w.message.startswith("the posterior of `b` is improper")


def test_prior_on_a_constrained_type_it_does_not_match_warns():
    (w,) = run("param w : simplex(3)\nw ~ normal(0, 1)\n")
    assert w.severity == "warning"
    assert w.message == "`w` is declared simplex(3), but `normal` is not a distribution on simplexes"
    assert w.notes == ("the declared type wins: the density of `normal` is restricted to simplexes, not renormalized",
                       "for a prior on simplexes, use `dirichlet(...)`")
    assert (w.span.line, w.span.col) == (2, 5)
    (w,) = run("param s : spd(2)\ns ~ normal(0, 1)\n")
    assert "symmetric positive-definite" in w.message and "wishart" in w.notes[1]
    (w,) = run("param u : sphere(3)\nu ~ normal(0, 1)\n")
    assert "unit vectors" in w.message
    # the Stan idioms stay quiet: a half-Cauchy, a truncated normal, an ordered vector with a normal prior
    assert run("param tau : positive\ntau ~ cauchy(0, 5)\n") == []
    assert run("param b : real(lower = 0, upper = 3)\nb ~ normal(0, 1)\n") == []
    assert run("param m : ordered(3)\nm ~ normal(0, 1)\n") == []
    assert run("param w : simplex(3)\nw ~ dirichlet(ones(3))\n") == []


def test_empty_model_warns():
    (w,) = run("")
    assert w.severity == "warning" and w.message == "the model declares nothing"
    assert str(w).startswith("m.aug: warning: the model declares nothing")
    (w,) = run("model foo\n# nothing else\n")
    assert w.message == "the model declares nothing" and (w.span.line, w.span.col) == (1, 1)
    assert run("param mu : real\nmu ~ normal(0, 1)\n") == []


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


# ---------------------------------------------------------------- stack and concat

@pytest.mark.parametrize("expr, shape", [
    ("stack([a, b])", "real[2, 3]"), ("stack([a, b], axis = 1)", "real[3, 2]"),
    ("stack([a, b], axis = -1)", "real[3, 2]"), ("stack(X)", "real[2, 3]"), ("stack(X, axis = 1)", "real[3, 2]"),
    ("concat([a, c])", "real[7]"), ("concat([a, b], axis = 0)", "real[6]"), ("concat(X)", "real[6]"),
    ("concat([X, X], axis = 1)", "real[2, 6]"), ("concat([X, stack([a])])", "real[3, 3]"),
])
def test_stack_and_concat_take_a_list(expr, shape):
    head = ("data X : real[2, 3]\nparam a : real[3]\nparam b : real[3]\nparam c : real[4]\n"
            "a ~ normal(0, 1)\nb ~ normal(0, 1)\nc ~ normal(0, 1)\n")
    tail = "let uses_X = X\n" if "X" not in expr else ""
    assert run(head + tail + f"data y : {shape}\ny ~ normal({expr}, 1)\n") == []
    (d,) = errors(head + tail + f"data y : real[5, 5, 5]\ny ~ normal({expr}, 1)\n")
    assert d.message == "shape mismatch in likelihood of `y`" and f"has shape ({shape[5:-1]}" in d.notes[0]


@pytest.mark.parametrize("expr, message", [
    ("stack(a, b)", "`stack` takes one list of arrays, as in NumPy"),
    ("concat(a, c)", "`concat` takes one list of arrays, as in NumPy"),
    ("stack([a, c])", "`stack` needs arrays of one shape"),
    ("concat([a, X])", "`concat` needs arrays whose shapes agree except along the axis"),
    ("concat([a, 1.0])", "`concat` joins arrays along an existing axis, but `1.0` is a scalar"),
    ("stack([a, b], axis = 2)", "axis 2 is out of range for `stack`"),
    ("concat([a, b], axis = 1)", "axis 1 is out of range for `concat`"),
    ("stack([])", "`stack` needs at least one array"),
    ("concat(a)", "`concat` joins arrays along an existing axis, but `a` has shape (3,): its items are scalars"),
])
def test_stack_and_concat_errors(expr, message):
    src = ("data X : real[2, 3]\nparam a : real[3]\nparam b : real[3]\nparam c : real[4]\n"
           "a ~ normal(0, 1)\nb ~ normal(0, 1)\nc ~ normal(0, 1)\n" + f"let z = {expr}\ndata y : real\n"
           "y ~ normal(sum(z), 1)\n")
    (d,) = errors(src)
    assert d.message == message
    assert d.span.line == 8


def test_variadic_stack_shows_the_list_form():
    (d,) = errors("param t1 : simplex(2)\nparam t2 : simplex(2)\nt1 ~ flat()\nt2 ~ flat()\n"
                  "let theta = stack(t1, t2)\n")
    assert d.notes == ("write `stack([t1, t2])`",)


# ---------------------------------------------------------------------- sizes

@pytest.mark.parametrize("decl, size, shown", [
    ("const K = 1/0\n", "K", "inf"), ("", "-3", "-3"), ("", "true", "true"), ("", "2.5", "2.5"),
    ("const K = 2\n", "K - 5", "-3"), ("const K = 0.5\n", "K", "0.5"), ("", '"a"', 'the string "a"'),
    ("", "[2, 3]", "an array of shape (2,)"), ("const K = 0/0\n", "K", "nan"),
])
def test_sizes_must_be_non_negative_integers(decl, size, shown):
    src = decl + f"param mu : real[{size}]\nmu ~ normal(0, 1)\n"
    (d,) = errors(src)
    assert d.message == f"a size must be a non-negative integer, got {shown}"
    line = decl.count("\n") + 1
    assert (d.span.line, d.span.col) == (line, 17)
    (d,) = errors(decl + f"param w : simplex({size})\nw ~ flat()\n")
    assert d.message == f"a size must be a non-negative integer, got {shown}"


def test_sizes_that_do_not_fit():
    (d,) = errors("param mu : real[10**100]\nmu ~ normal(0, 1)\n")
    assert d.message == "a size must be at most 2147483647, got 1e+100"
    (d,) = errors("param mu : real[2 ** 2 ** 100]\nmu ~ normal(0, 1)\n")
    assert d.message == "a size must be a non-negative integer, got inf"
    (d,) = errors("const K = 2147483647\nparam mu : real[K + 1]\nmu ~ normal(0, 1)\n")
    assert d.message == "a size must be at most 2147483647, got 2147483648"
    assert run("param mu : real[0]\nmu ~ normal(0, 1)\n") == []
    assert run("const K = 4 / 2\nparam mu : real[K]\nmu ~ normal(0, 1)\n") == []


def test_size_overrides_are_checked_like_sizes():
    src = "const K = 3\nparam w : simplex(K)\nw ~ dirichlet(ones(K))\nparam v : real[K + 1]\nv ~ normal(0, 1)\n"
    d1, d2 = errors(src, {"K": -2})
    assert d1.message == "a size must be a non-negative integer, got -2" and (d1.span.line, d1.span.col) == (2, 19)
    assert d1.notes == ("`K` is set to -2 by a run-time override of the const declared at m.aug:1:7",)
    assert d2.message == "a size must be a non-negative integer, got -1"
    assert d2.notes == ("`K + 1` is -1", "`K` is set to -2 by a run-time override of the const declared at m.aug:1:7")
    (d,) = errors(src, {"K": -1})
    assert d.span.line == 2
    assert errors(src, {"K": 10 ** 12})[0].message == "a size must be at most 2147483647, got 1000000000000"
    assert "is not an integer" in errors(src, {"K": float("inf")})[0].message
    assert run(src, {"K": 0}) == []
    # a loop bound may be negative: the loop is empty
    assert run("const K = 3\ndata y : real[5]\nfor i in range(K) { y[i] ~ normal(0, 1) }\n", {"K": -2}) == []


def test_a_malformed_const_is_reported_once():
    (d,) = errors("param w : simplex(K)\nw ~ flat()\nconst K : int = 2.5\n")
    assert d.message == "const `K` is declared int, but its value is not an integer"


# -------------------------------------------------------------------- strings

@pytest.mark.parametrize("src, message, col", [
    ('param mu : real\nmu ~ normal("zero", 1)\n', "`loc` of `normal` must be a number, not a string", 13),
    ('data x : real\nx ~ normal(0, "1")\n', "`scale` of `normal` must be a number, not a string", 15),
    ('param mu : real\nmu ~ normal(0, 1)\nlet a = "a" + 1\n', "a string cannot be used as a number", 9),
    ('param mu : real\nmu ~ normal(exp("a"), 1)\n', "a string cannot be used as a number", 17),
    ('param mu : real(lower = "0")\nmu ~ normal(0, 1)\n', "a string cannot be used as a number", 25),
    ('const s = "digits"\nparam mu : real\nmu ~ normal(0, 1)\n', "a string cannot be used as a number", 11),
    ('param mu : real\nmu ~ mixture([0.5, 0.5], normal(0, "1"))\n',
     "`scale` of `normal` must be a number, not a string", 36),
    ('param mu : real\nmu ~ normal(0, 1)\ninfer by nuts(samples = "1000")\n',
     "the setting `samples` of `nuts` is a number, not a string", 25),
])
def test_strings_where_numbers_are_expected(src, message, col):
    (d,) = errors(src)
    assert d.message == message
    assert d.span.col == col


def test_strings_where_the_signature_expects_them():
    src = ('data y : real[8]\nparam x : real[8]\nop A = python("pkg.mod:fn")\n'
           'x ~ diffusion(net = torch("a.b:c", weights = "w.safetensors"), sde = vp(0.1, 20), predicts = "eps")\n'
           'y ~ normal(A(x), 0.1)\ninfer x by particle_filter(resample = "systematic")\n')
    assert run(src) == []
    assert run('param x : real[8]\nx ~ diffusion(net = "digits")\n'
               'infer x by nuts(chain_method = "vectorized")\n') == []
    assert run('param x : real[8]\nx ~ diffusion(net = jax("m:f", weights = "w"))\n') == []


# --------------------------------------------------------- constant arguments

@pytest.mark.parametrize("dist, message", [
    ("uniform(2, 1)", "`low` of `uniform` must be less than `high`, got low = 2 and high = 1"),
    ("uniform(1, 1)", "`low` of `uniform` must be less than `high`, got low = 1 and high = 1"),
    ("uniform(0, inf)", "`high` of `uniform` must be a finite number, got inf"),
    ("normal(0, -1)", "`scale` of `normal` must be positive, got -1"),
    ("normal(0, 0)", "`scale` of `normal` must be positive, got 0"),
    ("normal(0, s)", "`scale` of `normal` must be positive, got -2.5"),
    ("normal(0, nan)", "`scale` of `normal` must be positive, got nan"),
    ("normal(0, inf)", "`scale` of `normal` must be a finite positive number, got inf"),
    ("cauchy(0, -5)", "`scale` of `cauchy` must be positive, got -5"),
    ("student_t(-1, 0, 1)", "`df` of `student_t` must be positive, got -1"),
    ("gamma(2, -1)", "`rate` of `gamma` must be positive, got -1"),
    ("exponential(0)", "`rate` of `exponential` must be positive, got 0"),
    ("mixture([0.5, 0.5], normal(0, [1, -1]))", "`scale` of `normal` must be positive, got -1 (element 1)"),
])
def test_constant_arguments_out_of_their_domain(dist, message):
    (d,) = errors(f"const s = -2.5\nparam x : real\nx ~ {dist}\n")
    assert d.message == message
    assert d.span.line == 3


def test_constant_arguments_of_discrete_and_multivariate_distributions():
    (d,) = errors("param x : real[2]\nx ~ uniform([0, 3], 2)\n")
    assert d.message == "`low` of `uniform` must be less than `high`, got low = 3 and high = 2 (element 1)"
    (d,) = errors("param w : simplex(3)\nw ~ dirichlet([1, -1, 2])\n")
    assert d.message == "`concentration` of `dirichlet` must be positive, got -1 (element 1)"
    assert (d.span.line, d.span.col, d.span.end_col) == (2, 15, 25)
    (d,) = errors("data k : int[N]\nk ~ poisson(-1)\n")
    assert d.message == "`rate` of `poisson` must be non-negative, got -1"
    (d,) = errors("data k : bool[N]\nk ~ bernoulli(1.5)\n")
    assert d.message == "`probs` of `bernoulli` must be between 0 and 1, got 1.5"


def test_arguments_that_are_not_constant_are_left_to_run_time():
    src = ("data y : real[N]\nparam a : real\nparam s : positive\na ~ normal(0, 1)\ns ~ exponential(1)\n"
           "y ~ normal(a, s)\nparam u : real(lower = a, upper = a + 1)\nu ~ uniform(a, a + 1)\nparam w : simplex(K)\n"
           "w ~ dirichlet(ones(K))\nparam v : real\nv ~ normal(0, -(-1))\n")
    assert run(src) == []


def test_type_bounds_in_the_wrong_order():
    (d,) = errors("param x : real(lower = 1, upper = 0)\nx ~ normal(0, 1)\n")
    assert d.message == "the lower bound of `x` must be less than its upper bound, got lower = 1 and upper = 0"
    assert (d.span.line, d.span.col) == (1, 35)
    (d,) = errors("param x : real(lower = 1, upper = 1)\nx ~ normal(0, 1)\n")
    assert "must be less than its upper bound" in d.message
    (d,) = errors("const lo = [0, 2]\nparam x : real(lower = lo, upper = 1)[2]\nx ~ normal(0, 1)\n")
    assert d.message.endswith("got lower = 2 and upper = 1 (at index [1])")
    (d,) = errors("param x : int(lower = 3, upper = 1)\nx ~ categorical(ones(4) / 4)\n")
    assert "must be at most its upper bound" in d.message
    assert run("param x : real(lower = 0, upper = inf)\nx ~ normal(0, 1)\n") == []
    assert run("param a : unit\nparam b : real(lower = a, upper = 1)\na ~ beta(1, 1)\nb ~ beta(1, 1)\n") == []


# ------------------------------------------------------------ constant indices

@pytest.mark.parametrize("src, message, col", [
    ("data y : real\nparam mu : real[3]\nmu ~ normal(0, 1)\ny ~ normal(mu[5], 1)\n",
     "index 5 is out of range for axis 0 of `mu`, which has size 3", 15),
    ("data y : real\nparam mu : real[3]\nmu ~ normal(0, 1)\ny ~ normal(mu[-1], 1)\n",
     "index -1 is out of range for axis 0 of `mu`, which has size 3", 15),
    ("data y : real\nparam mu : real[3, 2]\nmu ~ normal(0, 1)\ny ~ normal(mu[0, 2], 1)\n",
     "index 2 is out of range for axis 1 of `mu`, which has size 2", 18),
    ("const K = 3\ndata y : real\nparam mu : real[K]\nmu ~ normal(0, 1)\ny ~ normal(mu[K], 1)\n",
     "index 3 is out of range for axis 0 of `mu`, which has size 3", 15),
    ("data y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\nlet m = y[-2]\n",
     "index -2 is out of range for axis 0 of `y`", 11),
    ("data y : real\nparam mu : real[3]\nmu ~ normal(0, 1)\nlet m = mu[[0, 7]]\n",
     "index 7 is out of range for axis 0 of `mu`, which has size 3", 12),
    ("param mu : real[3]\nmu[3] ~ normal(0, 1)\nmu[0] ~ normal(0, 1)\n",
     "index 3 is out of range for axis 0 of `mu`, which has size 3", 4),
])
def test_constant_indices_out_of_range(src, message, col):
    ds = errors(src)
    assert ds[0].message == message and ds[0].span.col == col


def test_indices_that_are_in_range_or_not_constant():
    src = ("const K = 3\ndata y : real[N]\nparam mu : real[K]\nparam o : positive_ordered(2)\n"
           "mu[0] ~ normal(0, 1)\nmu[K - 1] ~ normal(0, 1)\nmu[1] ~ normal(mu[2], 1)\n"
           "o[0] ~ normal(3, 1)\no[1] ~ normal(10, 1)\n"
           "for n in range(N) { y[n] ~ normal(mu[n], 1) }\nlet last = y[5]\n")
    assert run(src) == []


def test_declared_twice_is_reported():
    """Item 10: the same name declared twice, or as data and param, is already an error."""
    ds = errors("data y : real[N]\ndata y : real[N]\nparam y : real\n")
    assert [d.message for d in ds] == ["`y` is declared twice",
                                       "`y` is declared as a param here, but it is already data"]


def test_shapes_of_lets_no_distribution_reads_are_checked():
    (d,) = errors("param x : real[3]\nx ~ normal(0, 1)\nlet a = x + [1, 2]\n")
    assert d.message == "shapes (3,) and (2,) cannot be broadcast together" and d.span.line == 3
    (d,) = errors("param x : real\nx ~ normal(0, 1)\nlet a = stack([x, x], axis = 10**100)\n")
    assert d.message == "axis 1e+100 is out of range for `stack`"
