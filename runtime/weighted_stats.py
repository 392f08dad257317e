"""Statistics of weighted draws on the host (NumPy): quantiles and equally weighted copies, for
the Posterior of any weighted run (particle methods)."""

from __future__ import annotations

import numpy as np


def weighted_quantile(x: np.ndarray, w: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles of each column of x (n, m) under weights w (n,): linear interpolation of the
    weighted CDF taken at the midpoint of each draw's weight; returns (len(qs), m)."""
    n, m = x.shape
    if n == 0 or m == 0:
        return np.full((len(qs), m), np.nan)
    order = np.argsort(x, axis=0, kind="stable")
    xs = np.take_along_axis(x, order, axis=0)
    ws = w[order]
    cdf = np.cumsum(ws, axis=0) - 0.5 * ws                      # (n, m), non-decreasing
    cols = np.arange(m)
    out = np.empty((len(qs), m))
    for i, q in enumerate(qs):
        hi = np.clip((cdf < q).sum(axis=0), 1, n - 1) if n > 1 else np.zeros(m, dtype=int)
        lo = np.maximum(hi - 1, 0)
        c0, c1 = cdf[lo, cols], cdf[hi, cols]
        x0, x1 = xs[lo, cols], xs[hi, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(c1 > c0, (q - c0) / (c1 - c0), 0.0)
        out[i] = x0 + np.clip(t, 0.0, 1.0) * (x1 - x0)
    return out


def systematic_indices(weights: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n indices drawn by systematic resampling (Kitagawa 1996) from normalized `weights`: each
    draw is repeated about n·w times."""
    u = np.random.default_rng(seed).uniform()
    idx = np.searchsorted(np.cumsum(weights), (np.arange(n) + u) / n)
    return np.minimum(idx, len(weights) - 1)
