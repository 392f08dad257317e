"""What a diffusion network predicts, and the data range it was trained on.

Predictions: `convert` maps between what a network predicts at (x_t, t) —
"eps", "x0", "score" or "v" — through x_t = alpha x0 + sigma eps,
score = -eps / sigma, v = alpha eps - sigma x0 (Salimans & Ho 2022, "Progressive
distillation", sec. 4 / appendix D). `tweedie_mean` is E[x0 | x_t] from the score.

Data ranges: `data_map(network_range, model_range)` gives the affine map between
the range a network was trained on (e.g. [-1, 1]) and the model's (e.g. [0, 1]),
with the score transformed accordingly. It is never inferred: both ranges are
given explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


from .schedules import Array, ArrayLike, as_float, check_real

__all__ = ["KINDS", "convert", "tweedie_mean", "DataRange", "AffineDataMap", "data_map"]


# ---------------------------------------------------------------- predictions

KINDS = ("eps", "x0", "score", "v")


def _check_kind(name: str, kind: Any) -> None:
    if kind not in KINDS:
        raise ValueError(f"{name} must be one of {KINDS}, got {kind!r}")


def convert(
    pred: ArrayLike,
    kind_from: str,
    kind_to: str,
    x_t: ArrayLike,
    alpha: ArrayLike,
    sigma: ArrayLike,
) -> Array:
    """Convert a network prediction at (x_t, t) between parametrisations.

    With x_t = alpha x0 + sigma eps:
      eps   -> x0 = (x_t - sigma eps) / alpha
      x0    -> eps = (x_t - alpha x0) / sigma
      score = -eps / sigma, i.e. eps = -sigma score
      v     = alpha eps - sigma x0 (Salimans & Ho 2022); from v, solving the 2 × 2
              system [alpha sigma; -sigma alpha] [x0; eps] = [x_t; v]:
              x0 = (alpha x_t - sigma v) / (alpha^2 + sigma^2),
              eps = (sigma x_t + alpha v) / (alpha^2 + sigma^2)
              (alpha^2 + sigma^2 = 1 for VP; the general form covers VE / EDM).
    `kind_from`, `kind_to` are among ("eps", "x0", "score", "v").
    """
    _check_kind("kind_from", kind_from)
    _check_kind("kind_to", kind_to)
    p = as_float(pred)
    if kind_from == kind_to:
        return p
    x_t, alpha, sigma = as_float(x_t), as_float(alpha), as_float(sigma)

    if kind_from == "eps":
        eps = p
        x0 = lambda: (x_t - sigma * eps) / alpha  # noqa: E731
    elif kind_from == "score":
        eps = -sigma * p
        x0 = lambda: (x_t + sigma * sigma * p) / alpha  # noqa: E731
    elif kind_from == "x0":
        eps = (x_t - alpha * p) / sigma
        x0 = lambda: p  # noqa: E731
    else:  # "v"
        norm = alpha * alpha + sigma * sigma
        eps = (sigma * x_t + alpha * p) / norm
        x0 = lambda: (alpha * x_t - sigma * p) / norm  # noqa: E731

    if kind_to == "eps":
        return eps
    if kind_to == "score":
        return -eps / sigma
    if kind_to == "x0":
        return x0()
    return alpha * eps - sigma * x0()


def tweedie_mean(score: ArrayLike, x_t: ArrayLike, alpha: ArrayLike, sigma: ArrayLike) -> Array:
    """Tweedie's formula: E[x0 | x_t] = (x_t + sigma^2 grad log p_t(x_t)) / alpha for
    x_t = alpha x0 + sigma eps (Efron 2011; Robbins 1956)."""
    sigma = as_float(sigma)
    return (as_float(x_t) + sigma * sigma * as_float(score)) / as_float(alpha)


# ---------------------------------------------------------------- data ranges


@dataclass(frozen=True)
class DataRange:
    """A closed interval [lo, hi] of data values, lo < hi, both finite."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo = check_real("lo", self.lo)
        hi = check_real("hi", self.hi)
        if lo >= hi:
            raise ValueError(f"lo ({lo}) must be < hi ({hi})")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def width(self) -> float:
        return self.hi - self.lo


@dataclass(frozen=True)
class AffineDataMap:
    """y = scale * x + shift from the model's data x to the network's data y.

    Densities: p_Y(y) = p_X((y - shift) / scale) / |scale|, so scores transform by
    the inverse slope, grad_y log p_Y(y) = grad_x log p_X(x) / scale, and noise
    levels by the slope, sigma_Y = |scale| sigma_X.
    """

    scale: float
    shift: float

    def __post_init__(self) -> None:
        scale = check_real("scale", self.scale)
        shift = check_real("shift", self.shift)
        if scale == 0:
            raise ValueError("scale must be nonzero")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "shift", shift)

    def to_network(self, x: ArrayLike) -> Array:
        """Model data -> network data: scale x + shift."""
        return self.scale * as_float(x) + self.shift

    def from_network(self, y: ArrayLike) -> Array:
        """Network data -> model data: (y - shift) / scale."""
        return (as_float(y) - self.shift) / self.scale

    def score_to_network(self, score_x: ArrayLike) -> Array:
        """grad_y log p_Y = grad_x log p_X / scale."""
        return as_float(score_x) / self.scale

    def score_from_network(self, score_y: ArrayLike) -> Array:
        """grad_x log p_X = scale * grad_y log p_Y."""
        return self.scale * as_float(score_y)

    def sigma_to_network(self, sigma_x: ArrayLike) -> Array:
        """A noise level in model units, in network units: |scale| sigma."""
        return abs(self.scale) * as_float(sigma_x)

    def sigma_from_network(self, sigma_y: ArrayLike) -> Array:
        """A noise level in network units, in model units: sigma / |scale|."""
        return as_float(sigma_y) / abs(self.scale)

    def log_abs_det(self, size: int = 1) -> float:
        """log |d y / d x| for `size` elements: size * log |scale| (density of Y is
        p_X(x) times exp(-log_abs_det))."""
        return size * math.log(abs(self.scale))


def _as_range(name: str, r: Any) -> DataRange:
    if isinstance(r, DataRange):
        return r
    try:
        lo, hi = r
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a DataRange or a (lo, hi) pair, got {r!r}") from None
    try:
        return DataRange(lo, hi)
    except ValueError as ex:
        raise ValueError(f"{name}: {ex}") from None


def data_map(network_range: Any, model_range: Any) -> AffineDataMap:
    """The increasing affine map sending `model_range` onto `network_range`
    (e.g. model [0, 1] -> network [-1, 1] is y = 2x - 1). Both ranges are given
    explicitly (DataRange or (lo, hi)); nothing is guessed."""
    net = _as_range("network_range", network_range)
    mod = _as_range("model_range", model_range)
    scale = net.width / mod.width
    return AffineDataMap(scale=scale, shift=net.lo - scale * mod.lo)
