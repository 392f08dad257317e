"""The diffusion methods and what the model declares around them (issue 16): the parameter's
bounds (every draw inside them), Poisson counts (refused when negative), a network's NaN (its
error, not a step size's) and equal weights (no weight-collapse warning)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import augury
from augury.errors import AuguryDataError, AuguryInferenceError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exact_networks import jax_gaussian_eps, torch_gaussian_eps  # noqa: E402

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
ROOT = Path(__file__).resolve().parents[3]

BOUNDED = """
model bounded
data y : real[2]
data M : real[2, 4]
param x : TYPE
x ~ gaussian(0.3 * ones(4), 0.5)
op A = matrix(M)
y ~ normal(A(x), 0.3)
"""
DENOISED = """
model bounded_denoise
data y : real[4]
param x : TYPE
x ~ gaussian(0.3 * ones(4), 0.5)
y ~ normal(x, 0.3)
"""
METHODS = {"ddrm": dict(particles=200, steps=8), "pigdm": dict(particles=200, steps=8),
           "dps": dict(particles=200, steps=8, zeta=0.3), "pc": dict(particles=200, steps=8), "tweedie": {}}


def _run(method, kind):
    """A run of `method` on the Gaussian problem with `x` declared `kind` (same data and seed)."""
    src = DENOISED if method == "tweedie" else BOUNDED
    rng = np.random.default_rng(SEED)
    M = rng.normal(size=(2, 4))
    data = {"y": rng.normal(size=4)} if method == "tweedie" else {"y": M @ rng.normal(size=4), "M": M}
    if method == "tweedie":
        data["y"][:2] = [-1.0, 2.0]  # a posterior mean outside [0, 1] in the first two elements
    return augury.compile(src.replace("TYPE", kind)).sample(data, method=method, seed=SEED, **METHODS[method])


@pytest.fixture(scope="module")
def unbounded():
    """The unbounded runs, by method, made once."""
    runs = {}

    def get(method):
        if method not in runs:
            runs[method] = _run(method, "real[4]")
        return runs[method]
    return get


def _check_box(post, lo, hi):
    x = post.samples("x")
    assert np.all((x >= lo) & (x <= hi))
    assert post.settings["bounds"] == "real(lower = 0, upper = 1)[4]" and post.settings["clipped"] > 0
    assert any("not truncated" in w and "clipped" in w for w in post.warnings), post.warnings


@pytest.mark.parametrize("method", ["ddrm", "tweedie"])
def test_draws_are_the_unbounded_draws_projected_onto_the_bounds(unbounded, method):
    """`real(lower = 0, upper = 1)`: every draw is the unbounded run's draw (same seed, same
    exact Gaussian prior) clipped onto [0, 1], elementwise; the unbounded run is untouched
    (nothing clipped, nothing reported); the share clipped is reported, and a warning says
    that an analytic prior is not truncated.  (The reverse-process methods share this
    projection, reverse.run_reverse; tweedie has its own.)"""
    free, bounded = unbounded(method), _run(method, "real(lower = 0, upper = 1)[4]")
    u, x = free.samples("x"), bounded.samples("x")
    outside = (u < 0) | (u > 1)
    assert outside.any(), "the unbounded posterior must put mass outside [0, 1] for this test to mean anything"
    assert "clipped" not in free.settings and not any("clipped" in w for w in free.warnings)
    np.testing.assert_allclose(x, np.clip(u, 0, 1), rtol=0, atol=1e-12)
    assert bounded.settings["clipped"] == pytest.approx(outside.mean())
    _check_box(bounded, 0, 1)


@pytest.mark.parametrize("method", ["pigdm", "dps", "pc"])
def test_every_method_draws_inside_the_bounds(method):
    _check_box(_run(method, "real(lower = 0, upper = 1)[4]"), 0, 1)


def test_open_and_one_sided_bounds(unbounded):
    """`positive` keeps every draw strictly above 0 (the nearest float32 inside, an open bound);
    `real(lower = 0.5)` clips from below only."""
    u = unbounded("ddrm").samples("x")
    x = _run("ddrm", "positive[4]").samples("x")
    assert np.any(u <= 0) and np.all(x > 0)
    np.testing.assert_allclose(x, np.maximum(u, np.nextafter(np.float32(0), np.float32(1))), rtol=0, atol=0)
    np.testing.assert_allclose(_run("ddrm", "real(lower = 0.5)[4]").samples("x"), np.maximum(u, 0.5), rtol=0,
                               atol=1e-12)


def test_the_shipped_digits_example_draws_inside_its_bounds():
    """The example's `param x : real(lower = 0, upper = 1)[8, 8]` with the digits network (trained
    on [-1, 1]): before, about 22% of the pixels came out below 0 or above 1."""
    model = augury.compile(str(ROOT / "examples" / "inpaint_digits.aug"))
    post = model.sample(str(ROOT / "examples" / "inpaint_digits.json"), method="ddrm", particles=4, steps=5,
                        seed=SEED)
    x = post.samples("x")
    assert x.shape == (4, 8, 8) and np.all((x >= 0) & (x <= 1))
    assert 0 < post.settings["clipped"] < 0.5
    assert "of elements clipped onto real(lower = 0, upper = 1)[8, 8]" in repr(post)  # the summary's header
    assert not any("truncated" in w for w in post.warnings)  # a network's range is not a truncation


@pytest.mark.parametrize("kind", ["simplex(4)", "sphere(4)", "ordered(4)"])
def test_constrained_types_other_than_boxes_are_refused(kind):
    model = augury.compile(BOUNDED.replace("TYPE", kind))
    reason = model.methods()["ddrm"]
    assert reason is not None and f"`x` is declared `{kind}`" in reason and "box" in reason


COUNTS = """
model counts
data y : int[3]
param x : real[3]
x ~ gaussian(2 * ones(3), 0.25)
y ~ poisson(x)
"""


def test_negative_counts_are_refused_before_sampling():
    """y ~ poisson(...) with a negative count: a data error naming the entry, before dps runs."""
    with pytest.raises(AuguryDataError, match=r"`y` holds counts .* 1 of its 3 entries is not \(first: y\[1\] = -1\)"):
        augury.compile(COUNTS).sample({"y": np.array([3, -1, 2])}, method="dps", particles=4, steps=5)
    with pytest.raises(AuguryDataError, match="non-whole"):  # non-integer counts: the int type's check
        augury.compile(COUNTS).sample({"y": np.array([3, 1.5, 2])}, method="dps", particles=4, steps=5)
    post = augury.compile(COUNTS).sample({"y": np.array([3, 0, 2])}, method="dps", particles=4, steps=5)
    assert np.all(np.isfinite(post.samples("x")))


NETWORK = """
model net
data y : real[4]
data keep : real[4]
param x : real[4]
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
op A = mask(keep)
y ~ normal(A(x), 0.1)
"""


def _nan_below(t_bad: float):
    """The exact ε of N(0, 0.3 I), but NaN for t < t_bad."""
    exact = jax_gaussian_eps(np.zeros(4), 0.3)
    return lambda x, t: jnp.where((t < t_bad)[:, None], jnp.nan, exact(x, t))


def _torch_nan_below(t_bad: float):
    torch = pytest.importorskip("torch")
    exact = torch_gaussian_eps(np.zeros(4), 0.3)

    class NanBelow(torch.nn.Module):
        def forward(self, x, t):
            return torch.where((t < t_bad)[:, None], torch.nan, exact(x, t))

    return NanBelow()


@pytest.mark.parametrize("method,framework", [("dps", "jax"), ("pigdm", "jax"), ("ddrm", "jax"), ("pc", "jax"),
                                              ("pc", "torch")])
def test_a_network_that_returns_nan_is_named(method, framework):
    """NaN from the network on finite inputs is the network's error, at `net = unet`, with the
    step and its times, not advice to lower a step size.  10 steps on vp: step 7 is the first
    from a t < 0.45 (t = 0.4006)."""
    net = _nan_below(0.45) if framework == "jax" else _torch_nan_below(0.45)
    model = augury.compile(NETWORK, bind={"unet": net})
    with pytest.raises(AuguryInferenceError) as err:
        model.sample({"y": np.ones(4), "keep": np.array([1.0, 1, 0, 0])}, method=method, particles=4, steps=10)
    msg = str(err.value)
    # pc's corrector calls the network at the step's end time: step 6 (0.5005 -> 0.4006) fails there
    step = 6 if method == "pc" else 7
    assert "the network `net = unet`" in msg and f"produced NaN or infinity at step {step} of 10" in msg, msg
    assert "t = 0.4006" in msg and "zeta" not in msg and "step size" in msg  # "no step size ... causes this"
    assert err.value.span.line == 6  # the `x ~ diffusion(net = unet ...)` line


def test_tweedie_names_a_network_that_returns_nan():
    src = NETWORK.replace("op A = mask(keep)\n", "").replace("A(x)", "x").replace("data keep : real[4]\n", "")
    model = augury.compile(src, bind={"unet": _nan_below(2.0)})
    with pytest.raises(AuguryInferenceError, match=r"the network `net = unet` .* produced NaN or infinity at step 1 of 1"):
        model.sample({"y": np.ones(4)}, method="tweedie")


def test_a_guidance_blowup_still_blames_the_step_size():
    """With a network that is finite on finite inputs (ε̂ = 1000 x: a steep x̂₀, so a large
    gradient), DPS with ζ = 1e34 overflows the chains' state in its first step: the guidance's
    fault, and the network is not blamed for the NaN it then returns on infinite inputs."""
    model = augury.compile(NETWORK, bind={"unet": lambda x, t: 1e3 * x})
    with pytest.raises(AuguryInferenceError, match="lower the step size zeta") as err:
        model.sample({"y": np.ones(4), "keep": np.array([1.0, 1, 0, 0])}, method="dps", particles=4, steps=10,
                     zeta=1e34)
    assert "the network" not in str(err.value)


DENOISE = """
model denoise
data y : real[4]
param x : real[4]
x ~ gaussian(zeros(4), 1)
y ~ normal(x, 0.5)
"""


@pytest.mark.parametrize("method,settings", [("tweedie", {}), ("ddrm", dict(particles=1, steps=5))])
def test_equal_weights_never_collapse(method, settings):
    """tweedie (one draw, the mean) and a one-chain ddrm have equal weights: no "weights
    collapsed" warning (it came from the driver's particle check, ESS 1 < 1.5)."""
    post = augury.compile(DENOISE).sample({"y": np.ones(4)}, method=method, **settings)
    assert post.samples("x").shape == (1, 4)
    assert not any("collapsed" in w for w in post.warnings), post.warnings
