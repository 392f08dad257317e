"""The figure of an image-shaped posterior: the measurement (its hidden pixels marked), the truth
when known, the posterior mean and sd with colour bars, and draws on one grid (what `augury run`
writes after a diffusion method)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from augury.errors import AuguryError

HIDDEN_RGBA = (1.0, 0.15, 0.15, 0.55)  # the overlay on hidden pixels: red, half transparent


def pyplot(files: bool = True):
    """matplotlib's pyplot; on the Agg backend when it is first imported to write files (a
    session that chose a backend, such as a notebook, keeps its own)."""
    import sys
    try:
        import matplotlib
        if files and "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AuguryError("plotting needs matplotlib: `pip install augury[plot]`") from None
    return plt


def finish(fig, grid: tuple[int, int] | None = None) -> None:
    """Lay out below the figure's title (a fixed 0.4 inch band, whatever the height): measured
    (tight layout) or, for a `grid` of (rows, cols) axes with labels, fixed margins in inches,
    which costs no measuring of every tick label (a 12 × 3 grid: seconds less)."""
    w, h = fig.get_figwidth(), fig.get_figheight()
    if grid is None:
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / h))
        return
    rows, cols = grid
    top, bottom, left, right = 1 - 0.45 / h, 0.5 / h, 0.75 / w, 1 - 0.15 / w
    cell_h, cell_w = (top - bottom) * h / rows, (right - left) * w / cols
    fig.subplots_adjust(top=top, bottom=bottom, left=left, right=right,
                        hspace=0.75 / max(cell_h - 0.75, 0.3), wspace=0.8 / max(cell_w - 0.8, 0.3))


def _image(a: np.ndarray) -> np.ndarray:
    """The last two axes as an image (the first channel of colour or batched arrays)."""
    a = np.asarray(a, np.float64)
    return a.reshape((-1,) + a.shape[-2:])[0] if a.ndim > 2 else a


def hidden_overlay(hidden: np.ndarray) -> np.ndarray:
    """(H, W, 4) RGBA: HIDDEN_RGBA on hidden pixels, transparent elsewhere."""
    h = _image(hidden) > 0.5
    out = np.zeros(h.shape + (4,))
    out[h] = HIDDEN_RGBA
    return out


def _panel(fig, ax, img, title: str, *, cmap: str, lo=None, hi=None, bar: bool = False, hidden=None):
    im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
    if hidden is not None:
        ax.imshow(hidden_overlay(hidden), interpolation="nearest")
    if bar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def image_grid(post, name: str, measurement: Optional[np.ndarray] = None, path=None, samples: int = 8, *,
               hidden: Optional[np.ndarray] = None, truth: Optional[np.ndarray] = None):
    """Measurement | truth | mean | sd on the first row, then up to `samples` draws; `hidden` (a
    boolean image: the pixels a `mask` operator hides) is drawn in red over the measurement and
    outlined on the mean.  Saves a PNG to `path` when given and returns the matplotlib figure."""
    plt = pyplot(path is not None)
    draws = post.resampled(name)  # weighted particles: equally weighted copies, so a zero-weight one is never shown
    if draws.ndim < 3:
        raise AuguryError(f"`{name}` is not image-shaped (its shape is {post.shape(name)})")
    picks = np.linspace(0, len(draws) - 1, min(samples, len(draws))).astype(int)
    hid = None if hidden is None or not np.any(hidden) else np.asarray(hidden, bool)
    top = []
    if measurement is not None and np.ndim(measurement) >= 2:
        top.append(("measurement" + (" (red: hidden)" if hid is not None else ""), _image(measurement), hid))
    if truth is not None and np.ndim(truth) >= 2:
        top.append(("truth", _image(truth), None))
    top += [("posterior mean", _image(post.mean(name)), None), ("posterior sd", _image(post.sd(name)), None)]
    cols = max(len(top), 4)
    rows = 1 + -(-len(picks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.0 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    values = [p for t, p, _ in top if t != "posterior sd"] + [_image(draws[i]) for i in picks]
    lo, hi = min(float(np.min(p)) for p in values), max(float(np.max(p)) for p in values)
    for k, (title, img, mark) in enumerate(top):
        ax = axes[0, k]
        ax.axis("on")
        sd = title == "posterior sd"
        _panel(fig, ax, img, title, cmap="magma" if sd else "gray", lo=None if sd else lo, hi=None if sd else hi,
               bar=title.startswith("posterior"), hidden=mark)
        if title.startswith("posterior") and hid is not None:  # where the answer is the prior's, not the data's
            ax.contour(_image(hid).astype(float), levels=[0.5], colors="tab:red", linewidths=0.8)
    axes[0, 0].set_ylabel("row")
    axes[0, 0].set_xlabel("column")
    for j, i in enumerate(picks):
        ax = axes[1 + j // cols, j % cols]
        ax.axis("on")
        _panel(fig, ax, _image(draws[i]), f"draw {i}", cmap="gray", lo=lo, hi=hi)
    fig.suptitle(f"{name}: {post.method or 'posterior'}, {len(draws)} draws", fontsize=9)
    finish(fig)
    if path is not None:
        fig.savefig(str(Path(path)), dpi=120)
        plt.close(fig)
    return fig
