"""The figure of an image-shaped posterior: the measurement, draws, the mean and the standard
deviation on one grid (what `augury run` writes after a diffusion method)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from augury.errors import AuguryError


def _image(a: np.ndarray) -> np.ndarray:
    """The last two axes as an image (the first channel of colour or batched arrays)."""
    a = np.asarray(a, np.float64)
    return a.reshape((-1,) + a.shape[-2:])[0] if a.ndim > 2 else a


def image_grid(post, name: str, measurement: Optional[np.ndarray] = None, path=None, samples: int = 8):
    """Measurement | mean | sd on the first row, then up to `samples` draws; saves a PNG to `path`
    when given and returns the matplotlib figure."""
    try:
        import matplotlib
        matplotlib.use("Agg") if path is not None else None
        import matplotlib.pyplot as plt
    except ImportError:
        raise AuguryError("plotting needs matplotlib: `pip install augury[plot]`") from None
    draws = post.resampled(name)  # weighted particles: equally weighted copies, so a zero-weight one is never shown
    if draws.ndim < 3:
        raise AuguryError(f"`{name}` is not image-shaped (its shape is {post.shape(name)})")
    picks = np.linspace(0, len(draws) - 1, min(samples, len(draws))).astype(int)
    panels = ([(_image(measurement), "measurement")] if measurement is not None and np.ndim(measurement) >= 2 else [])
    panels += [(_image(post.mean(name)), "posterior mean"), (_image(post.sd(name)), "posterior sd")]
    top = len(panels)
    panels += [(_image(draws[i]), f"draw {i}") for i in picks]
    cols = max(top, 4)
    rows = 1 + -(-len(picks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    lo = min(float(np.min(p)) for p, t in panels if t != "posterior sd")
    hi = max(float(np.max(p)) for p, t in panels if t != "posterior sd")
    for k, (img, title) in enumerate(panels):
        ax = axes[0, k] if k < top else axes[1 + (k - top) // cols, (k - top) % cols]
        sd = title == "posterior sd"
        ax.imshow(img, cmap="magma" if sd else "gray", vmin=None if sd else lo, vmax=None if sd else hi)
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"{name}: {post.method}, {len(draws)} draws", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(Path(path)), dpi=120)
        plt.close(fig)
    return fig
