"""A posterior's figures: the overview `Posterior.plot` draws, one figure per variable (trace with
one line per chain, rank plot, density), and the set `augury run --plots DIR` writes and the run
report embeds (these, the image grids, the particle and the mixture figures)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from augury.errors import AuguryError

from .figures import finish, image_grid, pyplot
from .plots_context import RunContext
from .plots_mixture import mixture_figure, mixture_names
from .plots_particles import particle_figure

MAX_ELEMENTS = 12  # elements of a vector drawn before a note says how many more
MAX_VARIABLES = 12  # variables that get a figure each (params first)
RANK_BINS = 20
DPI = 80  # the report embeds every figure: small files, still legible


@dataclass
class Figure:
    """One figure of a run: its file stem, a caption, and the matplotlib figure."""

    stem: str
    caption: str
    fig: Any

    def png(self) -> bytes:
        """The figure as PNG bytes (the figure is closed afterwards)."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=DPI)
        pyplot().close(self.fig)
        return buf.getvalue()


def is_image(shape: tuple) -> bool:
    """Shapes drawn as pictures: the last two axes at least 8 × 8."""
    return len(shape) >= 2 and shape[-1] >= 8 and shape[-2] >= 8


def element_names(name: str, shape: tuple) -> list[str]:
    """`theta[0]`, `theta[1]`, ... (0-based, as the summary)."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


def _size(post) -> str:
    if post.chains is not None:
        return f"{post.chains} chains × {post.num_samples // max(post.chains, 1)} draws"
    return f"{post.num_samples} {'particles' if post.log_weights is not None else 'draws'}"


def _by_chain(post, name: str, k: int) -> np.ndarray:
    """(chains, draws, k) of the first k elements (chains = 1 for particles)."""
    x = np.asarray(post.draws[name], np.float64)
    lead = 2 if post.chains is not None else 1
    flat = x.reshape(x.shape[:lead] + (-1,))[..., :k]
    return flat if post.chains is not None else flat[None]


def rank_counts(chains: np.ndarray, bins: int = RANK_BINS) -> np.ndarray:
    """(chains, bins) counts of each chain's draws among the ranks of all draws pooled (Vehtari et
    al. 2021): flat when the chains mix, uneven when one chain sits apart."""
    c, n = chains.shape
    ranks = np.argsort(np.argsort(chains.ravel(), kind="stable"), kind="stable").reshape(c, n)
    edges = np.linspace(0, c * n, bins + 1)
    return np.stack([np.histogram(r, bins=edges)[0] for r in ranks])


def _trace(ax, series: np.ndarray, label: str, legend: bool) -> None:
    for c, line in enumerate(series):
        ax.plot(line, lw=0.6, label=f"chain {c}")
    ax.set_xlabel("draw")
    ax.set_ylabel(label)
    if legend and len(series) > 1:
        ax.legend(fontsize=6, loc="upper right", ncol=min(len(series), 4))


def _rank(ax, series: np.ndarray, label: str) -> None:
    counts = rank_counts(series)
    centers = (np.arange(RANK_BINS) + 0.5) * series.size / RANK_BINS
    for c, row in enumerate(counts):
        ax.step(centers, row, where="mid", lw=0.8, label=f"chain {c}")
    ax.axhline(series.shape[1] / RANK_BINS, color="k", ls=":", lw=0.8)  # a uniform rank histogram
    ax.set_xlabel("rank of draw (all chains)")
    ax.set_ylabel("count")
    ax.set_title(f"{label} rank", fontsize=8)


def _density(ax, x: np.ndarray, w: np.ndarray, label: str) -> None:
    ax.hist(x, bins=40, weights=w, density=True, histtype="step", label=label)
    ax.set_xlabel(label)
    ax.set_ylabel("density")


def variable_figure(post, name: str, max_elements: int = MAX_ELEMENTS):
    """Trace | rank | density for each element of `name` (up to `max_elements`, then a note);
    weighted or independent draws (no chains) get the density only."""
    plt = pyplot()
    shape = post.shape(name)
    labels = element_names(name, shape)
    k = min(len(labels), max_elements)
    series = _by_chain(post, name, k)
    mcmc = post.chains is not None
    cols = 3 if mcmc else 1
    fig, axes = plt.subplots(k, cols, figsize=(4.0 * cols if mcmc else 5.0, 1.9 * k + 0.6), squeeze=False)
    w = post.weights
    for j in range(k):
        if mcmc:
            _trace(axes[j, 0], series[..., j], labels[j], legend=j == 0)
            axes[j, 0].set_title(f"{labels[j]} trace", fontsize=8)
            _rank(axes[j, 1], series[..., j], labels[j])
        dens = axes[j, -1]
        _density(dens, series[..., j].ravel(), w, labels[j])
        dens.set_title(f"{labels[j]} density" + ("" if mcmc else " (weighted)" if post.log_weights is not None else ""),
                       fontsize=8)
    more = len(labels) - k
    head = f"{name}: {post.method or 'posterior'}, {_size(post)}"
    fig.suptitle(head + (f" ({more} more elements not shown)" if more else ""), fontsize=9)
    finish(fig, (k, cols))
    return fig


def overview(post, names: Iterable[str] | None = None, path: str | Path | None = None,
             max_elements: int = MAX_ELEMENTS):
    """`Posterior.plot`: one row per variable, trace (one line per chain) and density of up to
    `max_elements` elements; image-shaped variables as draws, mean and sd.  Saves to `path` when
    given; returns the matplotlib figure."""
    plt = pyplot(path is not None)
    names = post.names if names is None else list(names)
    for n in names:
        post.shape(n)  # an unknown name is an AuguryError before anything is drawn
    image = any(is_image(post.shape(n)) for n in names)
    fig, axes = plt.subplots(len(names), 6 if image else 2, figsize=(12, 2.6 * max(len(names), 1)), squeeze=False)
    for row, name in zip(axes, names):
        for ax in row:
            ax.axis("off")
        if is_image(post.shape(name)):
            _image_row(fig, post, name, row)
        else:
            _overview_row(post, name, row, max_elements)
    fig.suptitle(f"{post.method or 'posterior'}, {_size(post)}", fontsize=9)
    finish(fig)
    if path is not None:
        fig.savefig(str(path))
        plt.close(fig)
    return fig


def _image_row(fig, post, name: str, row) -> None:
    shape = post.shape(name)
    n = post.num_samples
    imgs = post.samples(name).reshape((n, -1) + shape[-2:])[:, 0].astype(np.float64)
    mean = np.tensordot(post.weights, imgs, axes=(0, 0))
    sd = np.sqrt(np.tensordot(post.weights, (imgs - mean) ** 2, axes=(0, 0)))
    picks = np.linspace(0, n - 1, min(4, n)).astype(int)
    panels = [(imgs[i], f"{name} sample {i}", False) for i in picks] + [(mean, f"{name} mean", True),
                                                                         (sd, f"{name} sd", True)]
    for ax, (img, title, bar) in zip(row, panels):
        ax.axis("on")
        im = ax.imshow(img, cmap="magma" if title.endswith(" sd") else "gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if bar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title, fontsize=8)


def _overview_row(post, name: str, row, max_elements: int) -> None:
    labels = element_names(name, post.shape(name))
    k = min(len(labels), max_elements)
    series = _by_chain(post, name, k)
    trace, dens = row[0], row[1]
    trace.axis("on")
    dens.axis("on")
    for j in range(k):
        _trace(trace, series[..., j], name, legend=False)
        _density(dens, series[..., j].ravel(), post.weights, labels[j])
    dens.set_xlabel(name)
    if k == 1 and series.shape[0] > 1:
        trace.legend(fontsize=6, loc="upper right", ncol=min(series.shape[0], 4))
    more = len(labels) - k
    trace.set_title(f"{name} trace", fontsize=8)
    dens.set_title(f"{name} density", fontsize=8)
    if k > 1:
        dens.legend(fontsize=6, title=f"{more} more" if more else None, title_fontsize=6)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def figures(post, ctx: Optional[RunContext] = None, max_variables: int = MAX_VARIABLES) -> list[Figure]:
    """Every figure of a run: image grids, the particle and the mixture figures, then one figure
    per other variable (params first, up to `max_variables`)."""
    ctx = ctx or RunContext()
    out: list[Figure] = []
    skip = set(mixture_names(post))
    numeric = [n for n in post.names if post.draws[n].size and post.draws[n].dtype.kind in "biuf"]
    for n in numeric:
        if is_image(post.shape(n)):
            fig = image_grid(post, n, ctx.measurements.get(n), hidden=ctx.hidden.get(n), truth=ctx.truth.get(n))
            out.append(Figure(f"{_safe(n)}_images", f"{n}: the measurement, the posterior mean and sd, and draws",
                              fig))
    fig = particle_figure(post)
    if fig is not None:
        out.append(Figure("particles", "the particles at each step: ESS, resampling events and the "
                                       "method's schedule", fig))
    fig = mixture_figure(post, ctx.truth)
    if fig is not None:
        out.append(Figure("clusters", "the points coloured by their most probable component; faint "
                                      "points are uncertain", fig))
    order = {"param": 0, "missing": 1, "let": 2}
    rest = sorted((n for n in numeric if not is_image(post.shape(n)) and n not in skip),
                  key=lambda n: order.get(post.kinds.get(n, "param"), 3))
    if post.num_samples >= 2:
        for n in rest[:max_variables]:
            out.append(Figure(f"{_safe(n)}_trace", f"{n}: " + ("traces, ranks and density" if post.chains is not None
                                                               else "density"), variable_figure(post, n)))
    return out


def check_plots_dir(folder: str | Path) -> Path:
    """Refuse, before any sampling, a figures folder that is a file or cannot be made or written
    (a missing folder is made when its parent exists)."""
    from .output_paths import check_writable
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AuguryError(f"cannot write figures to `{folder}`: it is a file, not a folder")
    if not folder.exists():
        parent = folder.parent if str(folder.parent) else Path(".")
        if not parent.is_dir():
            raise AuguryError(f"cannot write figures to `{folder}`: the folder `{parent}` does not exist"
                              + (" (it is a file)" if parent.exists() else ""))
        check_writable(parent / f"{folder.name}.png", (".png",), "figures")
        return folder
    check_writable(folder / "figure.png", (".png",), "figures")
    return folder


def render(post, ctx: Optional[RunContext] = None) -> list[tuple[str, str, bytes]]:
    """Every figure of `figures` as (stem, caption, PNG bytes), each drawn once (for the figures
    folder and the report alike)."""
    return [(f.stem, f.caption, f.png()) for f in figures(post, ctx)]


def write_plots(post, folder: str | Path, ctx: Optional[RunContext] = None,
                rendered: Optional[list[tuple[str, str, bytes]]] = None) -> list[Path]:
    """Write every figure (`rendered`, else drawn now) as `folder/STEM.png`; the folder is made if
    missing.  Returns the paths."""
    folder = check_plots_dir(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AuguryError(f"cannot write figures to `{folder}`: {e.strerror or e}") from None
    paths = []
    for stem, _, png in render(post, ctx) if rendered is None else rendered:
        p = folder / f"{stem}.png"
        p.write_bytes(png)
        paths.append(p)
    return paths
