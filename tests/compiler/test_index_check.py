"""Every index is checked against its axis when data is bound (LANGUAGE.md §4: negative and
out-of-range indices are errors, never wrapped or clamped), in plates (vmap) and in
recurrences (scan) alike, where the loop variable is a tracer."""


import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import stats

import augury
from augury.errors import AuguryCheckError

RNG = np.random.default_rng(0)


def bind(src, data, consts=None):
    lowered, _ = augury.compile(src).bind(data, consts=consts)
    return lowered


def refused(src, data) -> str:
    with pytest.raises(AuguryCheckError) as e:
        bind(src, data)
    return str(e.value)


def densities(lowered, values):
    """Log prior and log likelihood at the given values (eager, no compilation)."""
    res = lowered.run(lambda u, c, env: jnp.asarray(values[u.name], lowered.dtype))
    return float(res.log_prior), float(res.log_likelihood)


# ------------------------------------------------------------ the two examples

AR = "data y : real[T]\nparam mu : real\nmu ~ normal(0, 1)\nfor t in range({lo}T) {{ y[t] ~ normal(mu * y[{read}], 1) }}\n"
Y = RNG.normal(size=20)


def test_plate_reading_before_the_first_element_is_refused():
    msg = refused(AR.format(lo="", read="t - 1"), {"y": Y})
    assert "error: index -1 (at t = 0) is out of range for axis 0 of `y`, which has size 20" in msg
    assert "<string>:4:42:" in msg and "^~~~~" in msg  # at the index `t - 1`
    assert "0-based and never wrap" in msg


def test_plate_reading_past_the_last_element_is_refused():
    msg = refused(AR.format(lo="", read="t + 1"), {"y": Y})
    assert "index 20 (at t = 19) is out of range for axis 0 of `y`, which has size 20" in msg
    assert "the valid indices of axis 0 are 0 … 19" in msg


def test_in_range_lag_model_binds_and_its_density_is_unchanged():
    low = bind(AR.format(lo="1, ", read="t - 1"), {"y": Y})
    lp, ll = densities(low, {"mu": 0.7})
    assert lp == pytest.approx(stats.norm.logpdf(0.7), rel=1e-5)
    assert ll == pytest.approx(stats.norm(0.7 * Y[:-1], 1).logpdf(Y[1:]).sum(), rel=1e-5)


SCAN = """
data x : real[T]
param a : real
a ~ normal(0, 1)
for t in range({lo}T) {{ let s[t] = {a} * s[t - 1] + x[{read}] }}
{first}
"""


@pytest.mark.parametrize("a", ["a", "0.5"])  # a let of params (scan at trace) or of data alone
def test_scan_reading_before_the_first_element_is_refused(a):
    msg = refused(SCAN.format(lo="", a=a, read="t", first=""), {"x": Y})
    assert "index -1 (at t = 0) is out of range for axis 0 of `s`, which has size 20" in msg


@pytest.mark.parametrize("a", ["a", "0.5"])
def test_scan_reading_data_past_the_end_is_refused(a):
    msg = refused(SCAN.format(lo="1, ", a=a, read="t + 1", first="let s[0] = 0.0"), {"x": Y})
    assert "index 20 (at t = 19) is out of range for axis 0 of `x`, which has size 20" in msg


def test_in_range_scan_binds_and_computes_the_recurrence():
    low = bind(SCAN.format(lo="1, ", a="a", read="t", first="let s[0] = x[0]"), {"x": Y})
    res = low.run(lambda u, c, env: jnp.asarray(0.5, low.dtype))
    want = [Y[0]]
    for t in range(1, 20):
        want.append(0.5 * want[-1] + Y[t])
    np.testing.assert_allclose(res.values["s"], want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------- other forms

def test_constant_indices_are_checked():
    src = "data y : real[N]\nparam mu : real[3]\nmu ~ normal(0, 1)\ny ~ normal(mu[{i}], 1)\n"
    # (the checker may refuse these before data is bound, with its own words)
    msg = refused(src.format(i=3), {"y": Y})
    assert "index 3" in msg and "`mu`" in msg and "4:15" in msg
    msg = refused(src.format(i=-1), {"y": Y})
    assert "-1" in msg and "`mu`" in msg and "4:15" in msg
    assert "out of range" in refused("data x : real[N]\nparam mu : real\nmu ~ normal(0, 1)\n"
                                     "x[0] ~ normal(mu, 1)\n", {"x": np.zeros(0)})


def test_nested_data_index_is_checked_inner_first():
    src = "data y : real[N]\ndata z : real[M]\ndata idx : int[K]\nparam mu : real\nmu ~ normal(0, 1)\n" \
          "for m in range(M) {{ z[m] ~ normal(mu * y[idx[{i}]], 1) }}\n"
    data = {"y": np.ones(4), "z": np.ones(3), "idx": np.array([0, 3, 4])}
    assert "index 4 (at m = 2) is out of range for axis 0 of `y`, which has size 4" in refused(src.format(i="m"), data)
    msg = refused(src.format(i="m + 1"), data)
    assert "index 3 (at m = 2) is out of range for axis 0 of `idx`, which has size 3" in msg
    data["idx"] = np.array([0, 3, 2])
    lp, ll = densities(bind(src.format(i="m"), data), {"mu": 0.5})
    assert ll == pytest.approx(stats.norm(0.5, 1).logpdf(np.ones(3)).sum(), rel=1e-5)


def test_index_into_a_let_of_params():
    src = "data y : real[N]\nparam s : positive[N]\nparam mu : real\ns ~ exponential(1)\nmu ~ normal(0, 1)\n" \
          "let v = 2 * s\nfor t in range(N) { y[t] ~ normal(mu, v[t + 1]) }\n"
    assert "index 20 (at t = 19) is out of range for axis 0 of `v`, which has size 20" in refused(src, {"y": Y})
    src = src.replace("let v = 2 * s", "let v = [s, s]").replace("v[t + 1]", "v[1, t + 1]")
    assert "index 20 (at t = 19) is out of range for axis 1 of `v`, which has size 20" in refused(src, {"y": Y})
    src = src.replace("v[1, t + 1]", "(2 * s)[t + 1]")
    assert "index 20 (at t = 19) is out of range for axis 0 of `2 * s`, which has size 20" in refused(src, {"y": Y})


def test_sliding_window_slices_are_checked():
    src = "data y : real[N]\nconst K = 2\nparam beta : real[K]\nbeta ~ normal(0, 1)\n" \
          "for t in range({lo}, N) {{ y[t] ~ normal(dot(beta, y[t - K:t{hi}]), 1) }}\n"
    assert "slice start -1 (at t = 1) is out of range for axis 0 of `y`" in refused(src.format(lo=1, hi=""), {"y": Y})
    msg = refused(src.format(lo=2, hi=" + 2").replace("t - K:", "t - K + 2:"), {"y": Y})
    assert "slice end 21 (at t = 19) is out of range for axis 0 of `y`, which has size 20" in msg
    bind(src.format(lo=2, hi=""), {"y": Y})
    # constant slices too: `y[-2:]` is not the last two elements
    msg = refused("data y : real[N]\ndata z : real[2]\nparam mu : real\nmu ~ normal(0, 1)\n"
                  "z ~ normal(mu + y[-2:], 1)\n", {"y": Y, "z": np.ones(2)})
    assert "slice start -2 is out of range for axis 0 of `y`, which has size 20" in msg


def test_triangular_nest_names_the_iteration():
    src = "data y : real[N, N]\nparam mu : real\nmu ~ normal(0, 1)\n" \
          "for i in range(N) { for j in range(i + 1) { y[i, j] ~ normal(mu + y[i, j + 1], 1) } }\n"
    msg = refused(src, {"y": np.ones((4, 4))})
    assert "index 4 (at i = 3, j = 3) is out of range for axis 1 of `y`, which has size 4" in msg


def test_negative_let_target_is_refused():
    for a in ("a", "0.5"):
        src = f"data x : real[T]\nparam a : real\na ~ normal(0, 1)\nfor t in range(T) {{ let s[t - 1] = {a} * x[t] }}\n"
        assert "index -1 (at t = 0) of `s` is negative" in refused(src, {"x": Y})


def test_loop_bound_reading_data_is_checked():
    src = "const n = [1, 2]\ndata y : real[M, K]\nparam mu : real\nmu ~ normal(0, 1)\n" \
          "for m in range(M) {{ for k in range(n[{i}]) {{ y[m, k] ~ normal(mu, 1) }} }}\n"
    msg = refused(src.format(i="m + 1"), {"y": np.ones((2, 3))})
    assert "index 2 (at m = 1) is out of range for axis 0 of `n`, which has size 2" in msg
    bind(src.format(i="m"), {"y": np.ones((2, 3))})


def test_indices_that_read_summed_out_unknowns_are_skipped():
    src = "data x : real[N]\nparam w : simplex(2)\nparam mu : ordered(2)\nparam z : category(2)[N]\n" \
          "w ~ dirichlet([1, 1])\nmu ~ normal(0, 5)\n" \
          "for n in range(N) { z[n] ~ categorical(w)\n x[n] ~ normal(mu[z[n]], 1) }\n"
    bind(src, {"x": np.array([-1.0, 0.5, 2.0])})


# ------------------------------------------------------------------ property


def _shift(var: str, c: int) -> str:
    return var if c == 0 else f"{var} + {c}" if c > 0 else f"{var} - {-c}"


@st.composite
def loop_models(draw):
    """(source, data, out_of_range, log_density(values) or None, values)."""
    kind = draw(st.sampled_from(["plate", "scan", "nest"]))
    mu = 0.3
    if kind == "plate":
        T = draw(st.integers(0, 5))
        a, b = draw(st.integers(0, 3)), draw(st.integers(0, T + 2))
        c_tgt, c_read = draw(st.integers(-2, 2)), draw(st.integers(-3, 3))
        stop = draw(st.sampled_from([str(b), f"T + {b - T}" if b >= T else f"T - {T - b}"]))
        src = f"data y : real[T]\ndata x : real[T]\nparam mu : real\nmu ~ normal(0, 1)\n" \
              f"for t in range({a}, {stop}) {{ y[{_shift('t', c_tgt)}] ~ normal(mu * x[{_shift('t', c_read)}], 1) }}\n"
        y, x = RNG.normal(size=T), RNG.normal(size=T)
        ts = range(a, b)
        bad = any(not (0 <= t + c < T) for t in ts for c in (c_tgt, c_read))
        want = None if bad else \
            sum(stats.norm(mu * x[t + c_read], 1).logpdf(y[t + c_tgt]) for t in ts)
        return src, {"y": y, "x": x}, bad, want
    if kind == "scan":
        T = draw(st.integers(1, 5))
        lag, c_read = draw(st.integers(1, 3)), draw(st.integers(-2, 2))
        coef = draw(st.sampled_from(["a", "0.5"]))  # a recurrence of params, or of data alone
        src = f"data x : real[T]\ndata y : real[T]\nparam a : real\nparam mu : real\n" \
              f"a ~ normal(0, 1)\nmu ~ normal(0, 1)\nlet s[0] = 0.0\n" \
              f"for t in range(1, T) {{ let s[t] = {coef} * s[t - {lag}] + x[{_shift('t', c_read)}] }}\n" \
              f"y ~ normal(s + mu, 1)\n"
        x, y = RNG.normal(size=T), RNG.normal(size=T)
        bad = any(t - lag < 0 or not (0 <= t + c_read < T) for t in range(1, T))
        want = None
        if not bad:
            s = [0.0]
            for t in range(1, T):
                s.append(0.5 * s[t - lag] + x[t + c_read])
            want = stats.norm(np.array(s) + mu, 1).logpdf(y).sum()
        return src, {"x": x, "y": y}, bad, want
    I, J, N = draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 5))
    ragged = draw(st.booleans())
    e = draw(st.integers(-1, 2)) if ragged else draw(st.integers(0, J + 1))
    c = draw(st.integers(-2, 2))
    jstop = _shift("i", e) if ragged else str(e)
    src = f"data z : real[I, J]\ndata y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\n" \
          f"for i in range(I) {{ for j in range({jstop}) {{ z[i, j] ~ normal(mu + y[{_shift('i + j', c)}], 1) }} }}\n"
    z, y = RNG.normal(size=(I, J)), RNG.normal(size=N)
    its = [(i, j) for i in range(I) for j in range((i + e) if ragged else e)]
    bad = any(j >= J or not (0 <= i + j + c < N) for i, j in its)
    want = None if bad else sum(stats.norm(mu + y[i + j + c], 1).logpdf(z[i, j]) for i, j in its)
    return src, {"z": z, "y": y}, bad, want


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(loop_models())
def test_exactly_the_models_with_an_out_of_range_index_are_refused(case):
    src, data, bad, want = case
    if bad:
        with pytest.raises(AuguryCheckError, match="out of range|is negative"):
            bind(src, data)
        return
    low = bind(src, data)
    lp, ll = densities(low, {"mu": 0.3, "a": 0.5})
    assert lp == pytest.approx(stats.norm.logpdf(0.3) + (stats.norm.logpdf(0.5) if "param a" in src else 0),
                               rel=1e-5)
    assert ll == pytest.approx(want, rel=1e-4, abs=1e-4)


def test_data_indices_inside_a_trace_stay_concrete():
    # `let s[idx[n]]` of params is indexed while the model is traced; so is a ragged bound `range(n[m])`
    src = "data idx : int[N]\ndata y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\n" \
          "for n in range(N) { let s[idx[n]] = mu * n }\ny ~ normal(s, 1)\n"
    low = bind(src, {"y": np.ones(3), "idx": np.array([2, 0, 1])})
    res = low.run(lambda u, c, env: jnp.asarray(2.0, low.dtype))
    np.testing.assert_allclose(res.values["s"], [2.0, 4.0, 0.0])
    msg = refused(src.replace("idx[n]", "idx[n] - 1"), {"y": np.ones(3), "idx": np.array([2, 0, 1])})
    assert "index -1 (at n = 1) of `s` is negative" in msg


def test_negative_target_of_a_sample_is_refused():
    msg = refused("data y : real[T]\nparam x : real[T]\nfor t in range(T) { x[t - 1] ~ normal(0, 1) }\n",
                  {"y": np.ones(5)})
    assert "index -1 (at t = 0) is out of range for axis 0 of `x`, which has size 5" in msg
    # past the end: refused (today by the coverage count, with its own words)
    assert "out of range" in refused("data y : real[T]\nparam x : real[T]\n"
                                     "for t in range(T) { x[t + 1] ~ normal(0, 1) }\n", {"y": np.ones(5)})
