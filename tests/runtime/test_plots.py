"""The figures of `--plots` and the report (runtime/plots*.py, runtime/figures.py): one run of each
family with tiny settings (nuts, smc, em, a diffusion method on the inpainting example), each
figure's panels, titles and labels, and the drawn data against the posterior's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import augury  # noqa: E402
from augury.errors import AuguryError  # noqa: E402
from augury.runtime.figures import HIDDEN_RGBA, image_grid  # noqa: E402
from augury.runtime.plots import (figures, rank_counts, variable_figure, write_plots)  # noqa: E402
from augury.runtime.plots_context import run_context, truth_beside  # noqa: E402
from augury.runtime.plots_mixture import class_probabilities, mixture_figure, projection  # noqa: E402
from augury.runtime.plots_particles import particle_figure  # noqa: E402
from augury.runtime.posterior import Posterior  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"

NORMAL = """
data  y : real[N]
param mu : real
param theta : real[14]
mu ~ normal(0, 5)
theta ~ normal(mu, 1)
y ~ normal(mu, 1)
"""

BLOBS = """
const K = 2
data  X : real[N, 2]
param w : simplex(K)
param mu : real[K, 2]
param z : category(K)[N]
w ~ dirichlet(ones(K))
for k in range(K) { mu[k] ~ mvnormal(zeros(2), 100 * eye(2)) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], eye(2))
}
"""


def _close_all():
    plt.close("all")


@pytest.fixture(scope="module")
def normal_model():  # smc's model (slow tier)
    return augury.compile(NORMAL)


@pytest.fixture(scope="module")
def nuts():
    # tests/cli/test_cli.py compiles the same run (4 chains of 20 draws): the XLA cache is shared
    model = augury.compile(EXAMPLES / "eight_schools.aug")
    return model.sample(str(EXAMPLES / "eight_schools.json"), method="nuts", seed=0, warmup=20, samples=20)


@pytest.fixture(scope="module")
def smc(normal_model):
    y = np.random.default_rng(1).normal(2.0, 1.0, size=20)
    return normal_model.sample({"y": y}, method="smc", seed=0, particles=64)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(2)
    z = np.repeat([0, 1], 20)
    X = np.array([[0.0, 0.0], [9.0, 0.0]])[z] + rng.normal(size=(40, 2))
    X[0] = [4.5, 0.0]  # halfway: its assignment is uncertain
    model = augury.compile(BLOBS)
    return model.sample({"X": X}, method="em", seed=0, restarts=1), X, z


@pytest.fixture(scope="module")
def inpaint():
    model = augury.compile(EXAMPLES / "inpaint_digits.aug")
    data = str(EXAMPLES / "inpaint_digits.json")
    post = model.sample(data, method="ddrm", seed=0, particles=4, steps=5)
    return post, run_context(model, data, post, truth_beside(EXAMPLES / "inpaint_digits.aug"))


# ------------------------------------------------------------------ traces, ranks, densities

def test_rank_counts_are_the_ranks_of_the_pooled_draws():
    # chain 1 lies wholly above chain 0: all its draws rank in the top half
    chains = np.stack([np.arange(100.0), 1000 + np.arange(100.0)])
    counts = rank_counts(chains, bins=4)
    np.testing.assert_array_equal(counts, [[50, 50, 0, 0], [0, 0, 50, 50]])
    mixed = np.random.default_rng(0).normal(size=(4, 500))
    assert rank_counts(mixed).sum(axis=1).tolist() == [500] * 4


def test_variable_figure_shows_every_element_up_to_the_cap(nuts):
    fig = variable_figure(nuts, "theta")
    axes = np.asarray(fig.axes).reshape(8, 3)  # all eight schools (the cap is 12)
    assert [a.get_title() for a in axes[0]] == ["theta[0] trace", "theta[0] rank", "theta[0] density"]
    assert fig._suptitle.get_text() == "theta: nuts, 4 chains × 20 draws"
    trace = axes[3, 0]
    assert len(trace.lines) == 4 and trace.get_xlabel() == "draw" and trace.get_ylabel() == "theta[3]"
    np.testing.assert_allclose(trace.lines[1].get_ydata(), nuts.draws["theta"][1, :, 3])
    assert [t.get_text() for t in axes[0, 0].get_legend().get_texts()] == [f"chain {c}" for c in range(4)]
    assert axes[5, 1].get_xlabel() == "rank of draw (all chains)" and axes[5, 2].get_ylabel() == "density"
    # the rank plot's steps are each chain's rank counts: 20 of the 80 ranks per chain
    assert [np.sum(line.get_ydata()) for line in axes[5, 1].lines[:4]] == [20] * 4
    _close_all()
    fig = variable_figure(nuts, "theta", max_elements=5)
    assert len(fig.axes) == 15 and fig._suptitle.get_text().endswith("(3 more elements not shown)")
    _close_all()


def test_overview_keeps_the_plot_layout(nuts):
    fig = nuts.plot(["mu", "theta"], max_elements=6)
    assert fig.axes[0].get_title() == "mu trace" and len(fig.axes[0].lines) == 4
    assert fig.axes[2].get_title() == "theta trace" and len(fig.axes[2].lines) == 4 * 6
    assert fig.axes[3].get_legend().get_title().get_text() == "2 more"
    _close_all()


# ----------------------------------------------------------------------------- particles

def test_particle_figure_of_a_diffusion_sampler():
    """A tds-shaped posterior (per reverse step: ESS, resampled, residual), made by hand."""
    rng = np.random.default_rng(0)
    ess = rng.uniform(5, 32, size=30)
    resampled = ess < 16
    post = Posterior({"x": rng.normal(size=(32, 8, 8))}, log_weights=rng.normal(size=32), method="tds",
                     sample_stats={"ess": ess, "resampled": resampled, "residual": np.linspace(3, 0.1, 30)},
                     settings={"particles": 32})
    fig = particle_figure(post)
    assert [a.get_ylabel() for a in fig.axes] == ["ESS", "resamplings", "residual"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_xdata(), np.flatnonzero(resampled))
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), ess[resampled])
    assert fig.axes[0].get_title() == f"effective sample size ({resampled.sum()} resamplings)"
    assert fig.axes[2].get_xlabel() == "reverse step" and fig._suptitle.get_text() == \
        "particles: tds, 32 particles, 30 steps"
    _close_all()


@pytest.mark.slow  # an smc run compiles a sampler: ≈ 20 s on a loaded 2-core CPU
def test_particle_figure_draws_ess_resamplings_and_temperature(smc):
    fig = particle_figure(smc)
    st = smc.sample_stats
    titles = [a.get_title() for a in fig.axes]
    assert titles[0].startswith("effective sample size") and titles[1] == "resampling events so far"
    assert titles[2].startswith("temperature λ") and len(fig.axes) == 5
    ess_line, marks = fig.axes[0].lines[:2]
    np.testing.assert_allclose(ess_line.get_ydata(), st["ess"])
    np.testing.assert_array_equal(marks.get_xdata(), np.flatnonzero(st["resampled"]))
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), np.cumsum(st["resampled"]))
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), st["temperature"])
    assert fig.axes[2].lines[0].get_ydata()[-1] == 1.0  # the run reached the posterior
    assert fig.axes[-1].get_xlabel() == "temperature step" and fig.axes[0].get_ylabel() == "ESS"
    assert "smc, 64 particles" in fig._suptitle.get_text()
    _close_all()


def test_no_particle_figure_without_per_step_ess(nuts):
    assert particle_figure(nuts) is None


# ------------------------------------------------------------------------------ mixtures

def test_projection_is_pca_above_two_dimensions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [5.0, 1.0, 0.1]
    xy, (xl, yl) = projection(X)
    # the first two principal components: their variances are the two largest of X's covariance
    top = np.sort(np.linalg.eigvalsh(np.cov(X.T)))[::-1][:2]
    np.testing.assert_allclose(np.var(xy, axis=0, ddof=1), top, rtol=1e-10)
    assert xl.startswith("PC 1 (") and yl.startswith("PC 2 (")
    flat, labels = projection(X[:, :2])
    np.testing.assert_array_equal(flat, X[:, :2])
    assert labels == ("coordinate 0", "coordinate 1")


def test_class_probabilities_sum_a_class_s_prototypes():
    r = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    post = Posterior({"w": np.zeros((1, 2))}, method="em", sample_stats={"responsibilities": r},
                     settings={"mixture": {"names": {"data": "X"}, "groups": [0, 0, 1], "K": 3}})
    np.testing.assert_allclose(class_probabilities(post), [[0.3, 0.7], [1.0, 0.0]])


def test_mixture_figure_of_a_sampler_shows_the_number_of_components():
    """A split_merge-shaped posterior made by hand: 3-D points (drawn on their principal
    components), responsibilities, and the occupied components per draw."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    r = rng.dirichlet(np.ones(4), size=30)
    counts = np.array([[3, 3, 4, 3], [3, 2, 3, 3]])
    post = Posterior({"w": rng.dirichlet(np.ones(4), size=(2, 4)), "z": rng.integers(0, 4, (2, 4, 30))}, chains=2,
                     method="split_merge", sample_stats={"responsibilities": r, "num_components": counts},
                     settings={"mixture": {"names": {"data": "X", "weights": "w", "assignment": "z"},
                                           "groups": None, "K": 4}})
    post.observed_data = {"X": X}
    fig = mixture_figure(post)
    scatter, weights, number = fig.axes
    np.testing.assert_allclose(scatter.collections[0].get_offsets(), projection(X)[0])
    np.testing.assert_allclose(scatter.collections[0].get_facecolors()[:, 3], 0.15 + 0.85 * r.max(axis=1))
    assert scatter.get_xlabel().startswith("PC 1") and weights.get_xlabel() == "component of w"
    # P(3 components) = 6/8, P(2) = P(4) = 1/8
    assert [(p.get_x() + p.get_width() / 2, p.get_height()) for p in number.patches] == \
        [(2, 0.125), (3, 0.75), (4, 0.125)]
    assert [f.stem for f in figures(post)] == ["clusters", "w_trace"]  # z is in the clusters, not traced
    _close_all()


@pytest.mark.slow  # an em run compiles: ≈ 12 s on a loaded 2-core CPU
def test_mixture_figure_colours_points_by_assignment_and_certainty(blobs):
    post, X, z = blobs
    fig = mixture_figure(post, {"z": z})
    scatter, truth_panel, weights = fig.axes
    probs = class_probabilities(post)
    colours = scatter.collections[0].get_facecolors()
    np.testing.assert_allclose(scatter.collections[0].get_offsets(), X)
    np.testing.assert_allclose(colours[:, 3], 0.15 + 0.85 * probs.max(axis=1))
    # the two blobs are found (up to the labels' order); the point halfway is the least certain
    found = probs.argmax(axis=1)
    assert abs(np.mean(found[1:] == z[1:]) - 0.5) == 0.5
    assert np.argmin(probs.max(axis=1)) == 0 and probs.max(axis=1)[1:].min() > 0.99
    assert scatter.get_xlabel() == "coordinate 0" and truth_panel.get_title() == "the true classes"
    np.testing.assert_allclose([p.get_height() for p in weights.patches], post.mean("w"))
    assert fig._suptitle.get_text() == "clusters: em, 40 points"
    _close_all()


# ---------------------------------------------------------------------------- image grids

def test_image_grid_marks_hidden_pixels_and_shows_the_truth(inpaint):
    post, ctx = inpaint
    assert ctx.hidden["x"][5:].all() and not ctx.hidden["x"][:5].any()  # box_mask(top = 5, height = 3)
    fig = image_grid(post, "x", ctx.measurements["x"], hidden=ctx.hidden["x"], truth=ctx.truth["x"])
    by_title = {a.get_title(): a for a in fig.axes if a.get_title()}
    meas = by_title["measurement (red: hidden)"]
    overlay = np.asarray(meas.images[1].get_array())
    np.testing.assert_array_equal(overlay[..., 3] > 0, ctx.hidden["x"])
    np.testing.assert_allclose(overlay[5, 0], HIDDEN_RGBA)
    truth = json.loads((EXAMPLES / "inpaint_digits_truth.json").read_text())["x"]
    np.testing.assert_allclose(by_title["truth"].images[0].get_array(), truth)
    np.testing.assert_allclose(by_title["posterior mean"].images[0].get_array(), post.mean("x"), rtol=1e-6)
    np.testing.assert_allclose(by_title["posterior sd"].images[0].get_array(), post.sd("x"), rtol=1e-6)
    # a colour bar beside the mean and the sd: two axes without titles, with a y range
    bars = [a for a in fig.axes if not a.get_title() and a.get_label() == "<colorbar>"]
    assert len(bars) == 2
    assert sum(t.startswith("draw ") for t in by_title) == 4
    assert fig._suptitle.get_text() == "x: ddrm, 4 draws"
    _close_all()


def test_image_grid_refuses_a_vector(nuts):
    with pytest.raises(AuguryError, match="not image-shaped"):
        image_grid(nuts, "theta")


# --------------------------------------------------------------------------- the file set

@pytest.mark.parametrize("which, stems", [
    pytest.param("smc", ["particles", "mu", "theta"], marks=pytest.mark.slow),
    pytest.param("em", ["clusters"], marks=pytest.mark.slow),  # em keeps one draw (the MAP): no trace of it
    ("ddrm", ["x_images"]),
])
def test_write_plots_writes_each_family_s_figures(which, stems, request, tmp_path):
    """(nuts: in tests/cli/test_cli_plots.py, through `augury run --plots`)"""
    fixture = {"smc": "smc", "em": "blobs", "ddrm": "inpaint"}[which]
    post, ctx = {"smc": lambda p: (p, None), "em": lambda p: (p[0], None), "ddrm": lambda p: p}[which](
        request.getfixturevalue(fixture))
    stems = [s if s in ("particles", "clusters", "x_images") else f"{s}_trace" for s in stems]
    paths = write_plots(post, tmp_path / "figs", ctx)
    assert [p.stem for p in paths] == stems
    for p in paths:
        assert p.read_bytes()[:8] == PNG
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(f"{s}.png" for s in stems)


def test_figures_cap_the_variables(nuts):
    assert [f.stem for f in figures(nuts, max_variables=2)] == ["mu_trace", "tau_trace"]
    _close_all()
