"""Noise processes for diffusion priors (LANGUAGE.md §5: `vp(…)`, `ve(…)`, `edm(…)`,
used by `diffusion(net = …, sde = …, predicts = …)` and the analytic priors).

Every process is a frozen dataclass whose methods are pure and jittable (the
dataclass is hashable, so it can be closed over or passed as a static argument).
Floating dtypes follow the inputs: a float32 `t` gives float32 results, a float64
`t` float64; integer or Python inputs get JAX's default float dtype. No global JAX
flag is read or set.

All three processes have Gaussian marginals

    x_t = alpha(t) x_0 + sigma(t) eps,        eps ~ N(0, I),

and forward SDEs dx = f(x, t) dt + g(t) dw with `drift` f and `diffusion` g.

* `VP` — variance preserving (Song et al. 2021, "Score-based generative modeling
  through stochastic differential equations", ICLR, eq. 11 and appendix B):
  beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1];
  f(x, t) = -beta(t) x / 2, g(t) = sqrt(beta(t));
  alpha_t = exp(-B(t) / 2) with B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2,
  sigma_t = sqrt(1 - alpha_t^2).
  Sampling stops at a small `t_eps` (default 1e-3, as in Song et al.'s code)
  because sigma_t -> 0 at t = 0 and the score blows up: `t_min = t_eps`, and
  `grid` is uniform in t from 1 down to t_eps.
* `VE` — variance exploding (Song et al. 2021, eq. 9 and appendix B):
  sigma(t) = sigma_min (sigma_max / sigma_min)^t, f = 0,
  g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min)), alpha = 1.
  CONVENTION: the marginal noise is sigma(t) itself, x_t = x_0 + sigma(t) eps
  (not sqrt(sigma(t)^2 - sigma_min^2)). Since d sigma(t)^2 / dt = g(t)^2 this is
  exactly the law of the SDE started at t = 0 from the sigma_min-smoothed data
  x_0 + sigma_min eps_0; it is what NCSN-style networks are conditioned on, and it
  keeps sigma > 0 (so log_snr finite) down to t_min = 0.
* `EDM` — Karras et al. 2022 ("Elucidating the design space of diffusion-based
  generative models", NeurIPS, eq. 5 and Table 1): sigma(t) = t, alpha = 1, f = 0,
  g(t) = sqrt(2 t) (so sigma(t)^2 = int_0^t g^2 and the probability-flow ODE is
  dx/dt = -t grad log p(x; t)); t ranges over [sigma_min, sigma_max] and the
  sampling grid is Karras's rho-spaced one, followed by t = 0.

Grids: `grid(steps)` returns `steps + 1` decreasing times t_0 > … > t_steps, i.e.
`steps` integration intervals. For VP and VE they run from `t_max` to `t_min`
(both hit exactly); for EDM t_0 … t_{steps-1} are Karras's eq. 5 with N = steps
(t_0 = sigma_max, t_{steps-1} = sigma_min exactly) and t_steps = 0.

Predictions: `convert` maps between what a network predicts at (x_t, t) —
"eps", "x0", "score" or "v" — through x_t = alpha x0 + sigma eps,
score = -eps / sigma, v = alpha eps - sigma x0 (Salimans & Ho 2022, "Progressive
distillation", sec. 4 / appendix D). `tweedie_mean` is E[x0 | x_t] from the score.

Data ranges: `data_map(network_range, model_range)` gives the affine map between
the range a network was trained on (e.g. [-1, 1]) and the model's (e.g. [0, 1]),
with the score transformed accordingly. It is never inferred: both ranges are
given explicitly.

`make_schedule` builds a process from the evaluator's value for `vp(…)`,
`ve(…)`, `edm(…)`: `(name, args, sorted kwargs items)`, see compiler/evaluate.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Union

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = Union[jax.Array, float, int]

__all__ = [
    "VP",
    "VE",
    "EDM",
    "Schedule",
    "KINDS",
    "convert",
    "tweedie_mean",
    "DataRange",
    "AffineDataMap",
    "data_map",
    "make_schedule",
]


# --------------------------------------------------------------------- helpers


def _float(t: ArrayLike) -> Array:
    """`t` as a floating JAX array (integer / bool inputs get the default float)."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.inexact):
        t = t.astype(jnp.result_type(float))
    return t


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np

            if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
                value = value.item()
            elif isinstance(value, (np.integer, np.floating)):
                value = value.item()
            else:
                raise TypeError
        except TypeError:
            raise ValueError(f"{name} must be a real number, got {value!r}") from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _check_steps(steps: Any, minimum: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < minimum:
        raise ValueError(f"steps must be an integer >= {minimum}, got {steps!r}")
    return steps


def _grid_dtype(dtype: Any) -> Any:
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


# ------------------------------------------------------------------ processes


@dataclass(frozen=True)
class VP:
    """Variance-preserving SDE (Song et al. 2021, ICLR, eq. 11, appendix B).

    beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1];
    dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw;
    x_t | x_0 ~ N(alpha_t x_0, sigma_t^2) with alpha_t = exp(-B(t)/2),
    B(t) = int_0^t beta(s) ds = beta_min t + (beta_max - beta_min) t^2 / 2,
    sigma_t = sqrt(1 - alpha_t^2).

    `t_eps` (default 1e-3) is where sampling stops (`t_min`); the grid is uniform
    in t from 1 to t_eps.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    t_eps: float = 1e-3

    def __post_init__(self) -> None:
        bmin = _check_real("beta_min", self.beta_min)
        bmax = _check_real("beta_max", self.beta_max)
        eps = _check_real("t_eps", self.t_eps)
        if bmin < 0:
            raise ValueError(f"beta_min must be >= 0, got {bmin}")
        if bmin >= bmax:
            raise ValueError(f"beta_min ({bmin}) must be < beta_max ({bmax})")
        if not 0 < eps < 1:
            raise ValueError(f"t_eps must be in (0, 1), got {eps}")
        object.__setattr__(self, "beta_min", bmin)
        object.__setattr__(self, "beta_max", bmax)
        object.__setattr__(self, "t_eps", eps)

    name = "vp"

    @property
    def t_min(self) -> float:
        return self.t_eps

    @property
    def t_max(self) -> float:
        return 1.0

    def beta(self, t: ArrayLike) -> Array:
        """beta(t) = beta_min + t (beta_max - beta_min)."""
        t = _float(t)
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integrated_beta(self, t: ArrayLike) -> Array:
        """B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2."""
        t = _float(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def alpha(self, t: ArrayLike) -> Array:
        """alpha_t = exp(-B(t) / 2)."""
        return jnp.exp(-0.5 * self.integrated_beta(t))

    def sigma(self, t: ArrayLike) -> Array:
        """sigma_t = sqrt(1 - alpha_t^2) = sqrt(-expm1(-B(t)))."""
        return jnp.sqrt(-jnp.expm1(-self.integrated_beta(t)))

    def drift(self, x: ArrayLike, t: ArrayLike) -> Array:
        """f(x, t) = -beta(t) x / 2."""
        return -0.5 * self.beta(t) * _float(x)

    def diffusion(self, t: ArrayLike) -> Array:
        """g(t) = sqrt(beta(t))."""
        return jnp.sqrt(self.beta(t))

    def log_snr(self, t: ArrayLike) -> Array:
        """log(alpha^2 / sigma^2) = -B - log(-expm1(-B))."""
        b = self.integrated_beta(t)
        return -b - jnp.log(-jnp.expm1(-b))

    def _t_of_integrated_beta(self, b: Array) -> Array:
        # root of (bmax - bmin) t^2 / 2 + bmin t - b = 0, in the cancellation-free form
        d = self.beta_max - self.beta_min
        return 2.0 * b / (self.beta_min + jnp.sqrt(self.beta_min**2 + 2.0 * d * b))

    def t_of_sigma(self, sigma: ArrayLike) -> Array:
        """Inverse of `sigma` for sigma in [0, 1): B = -log(1 - sigma^2), then t from
        the quadratic B(t) = B."""
        s = _float(sigma)
        return self._t_of_integrated_beta(-jnp.log1p(-s * s))

    def t_of_log_snr(self, log_snr: ArrayLike) -> Array:
        """Inverse of `log_snr`: alpha^2 = sigmoid(lambda), B = softplus(-lambda)."""
        lam = _float(log_snr)
        return self._t_of_integrated_beta(jax.nn.softplus(-lam))

    def grid(self, steps: int, dtype: Any = None) -> Array:
        """`steps + 1` times, uniform in t, from t_max = 1 down to t_min = t_eps."""
        steps = _check_steps(steps, 1)
        return jnp.linspace(1.0, self.t_eps, steps + 1, dtype=_grid_dtype(dtype))

    def perturb(self, x0: ArrayLike, t: ArrayLike, eps: ArrayLike) -> Array:
        """x_t = alpha_t x0 + sigma_t eps."""
        return self.alpha(t) * _float(x0) + self.sigma(t) * _float(eps)


@dataclass(frozen=True)
class VE:
    """Variance-exploding SDE (Song et al. 2021, ICLR, eq. 9, appendix B).

    sigma(t) = sigma_min (sigma_max / sigma_min)^t, t in [0, 1];
    dx = g(t) dw with g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min)), so
    d sigma(t)^2 / dt = g(t)^2; alpha = 1.

    Convention: x_t = x_0 + sigma(t) eps (noise sigma(t), not
    sqrt(sigma(t)^2 - sigma_min^2)); this is the law at time t of the SDE started
    at t = 0 from x_0 + sigma_min eps_0. `t_min` = 0 (sigma = sigma_min > 0).
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self) -> None:
        smin = _check_real("sigma_min", self.sigma_min)
        smax = _check_real("sigma_max", self.sigma_max)
        if smin <= 0:
            raise ValueError(f"sigma_min must be > 0, got {smin}")
        if smin >= smax:
            raise ValueError(f"sigma_min ({smin}) must be < sigma_max ({smax})")
        object.__setattr__(self, "sigma_min", smin)
        object.__setattr__(self, "sigma_max", smax)

    name = "ve"

    @property
    def t_min(self) -> float:
        return 0.0

    @property
    def t_max(self) -> float:
        return 1.0

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def alpha(self, t: ArrayLike) -> Array:
        """alpha = 1."""
        return jnp.ones_like(_float(t))

    def sigma(self, t: ArrayLike) -> Array:
        """sigma(t) = sigma_min (sigma_max / sigma_min)^t."""
        return self.sigma_min * jnp.exp(_float(t) * self._log_ratio)

    def drift(self, x: ArrayLike, t: ArrayLike) -> Array:
        """f = 0."""
        return jnp.zeros_like(_float(x) * jnp.zeros_like(_float(t)))

    def diffusion(self, t: ArrayLike) -> Array:
        """g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min))."""
        return self.sigma(t) * math.sqrt(2.0 * self._log_ratio)

    def log_snr(self, t: ArrayLike) -> Array:
        """log(1 / sigma(t)^2)."""
        return -2.0 * (math.log(self.sigma_min) + _float(t) * self._log_ratio)

    def t_of_sigma(self, sigma: ArrayLike) -> Array:
        """t = log(sigma / sigma_min) / log(sigma_max / sigma_min)."""
        return (jnp.log(_float(sigma)) - math.log(self.sigma_min)) / self._log_ratio

    def t_of_log_snr(self, log_snr: ArrayLike) -> Array:
        """Inverse of `log_snr`: sigma = exp(-lambda / 2)."""
        return self.t_of_sigma(jnp.exp(-0.5 * _float(log_snr)))

    def grid(self, steps: int, dtype: Any = None) -> Array:
        """`steps + 1` times, uniform in t (geometric in sigma), from 1 down to 0."""
        steps = _check_steps(steps, 1)
        return jnp.linspace(1.0, 0.0, steps + 1, dtype=_grid_dtype(dtype))

    def perturb(self, x0: ArrayLike, t: ArrayLike, eps: ArrayLike) -> Array:
        """x_t = x0 + sigma(t) eps."""
        return _float(x0) + self.sigma(t) * _float(eps)


@dataclass(frozen=True)
class EDM:
    """Karras et al. 2022 (NeurIPS, "Elucidating the design space…"), Table 1.

    sigma(t) = t, alpha = 1; dx = sqrt(2 t) dw (sigma(t)^2 = int_0^t 2s ds), whose
    probability-flow ODE is dx/dt = -t grad_x log p(x; t). t in [sigma_min,
    sigma_max]. Sampling grid (eq. 5), N = steps:
    t_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
    i = 0 … N-1, then t_N = 0.
    """

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0

    def __post_init__(self) -> None:
        smin = _check_real("sigma_min", self.sigma_min)
        smax = _check_real("sigma_max", self.sigma_max)
        rho = _check_real("rho", self.rho)
        if smin <= 0:
            raise ValueError(f"sigma_min must be > 0, got {smin}")
        if smin >= smax:
            raise ValueError(f"sigma_min ({smin}) must be < sigma_max ({smax})")
        if rho <= 0:
            raise ValueError(f"rho must be > 0, got {rho}")
        object.__setattr__(self, "sigma_min", smin)
        object.__setattr__(self, "sigma_max", smax)
        object.__setattr__(self, "rho", rho)

    name = "edm"

    @property
    def t_min(self) -> float:
        return self.sigma_min

    @property
    def t_max(self) -> float:
        return self.sigma_max

    def alpha(self, t: ArrayLike) -> Array:
        """alpha = 1."""
        return jnp.ones_like(_float(t))

    def sigma(self, t: ArrayLike) -> Array:
        """sigma(t) = t."""
        return _float(t)

    def drift(self, x: ArrayLike, t: ArrayLike) -> Array:
        """f = 0."""
        return jnp.zeros_like(_float(x) * jnp.zeros_like(_float(t)))

    def diffusion(self, t: ArrayLike) -> Array:
        """g(t) = sqrt(2 t)."""
        return jnp.sqrt(2.0 * _float(t))

    def log_snr(self, t: ArrayLike) -> Array:
        """log(1 / t^2)."""
        return -2.0 * jnp.log(_float(t))

    def t_of_sigma(self, sigma: ArrayLike) -> Array:
        """t = sigma."""
        return _float(sigma)

    def t_of_log_snr(self, log_snr: ArrayLike) -> Array:
        """t = exp(-lambda / 2)."""
        return jnp.exp(-0.5 * _float(log_snr))

    def grid(self, steps: int, dtype: Any = None) -> Array:
        """Karras eq. 5 with N = steps (>= 2) points from sigma_max to sigma_min
        (both set exactly), then 0: `steps + 1` times."""
        steps = _check_steps(steps, 2)
        dt = _grid_dtype(dtype)
        inv = 1.0 / self.rho
        a, b = self.sigma_max**inv, self.sigma_min**inv
        i = jnp.arange(steps, dtype=dt)
        t = (a + i / (steps - 1) * (b - a)) ** self.rho
        t = t.at[0].set(self.sigma_max).at[steps - 1].set(self.sigma_min)
        return jnp.concatenate([t, jnp.zeros((1,), dt)])

    def perturb(self, x0: ArrayLike, t: ArrayLike, eps: ArrayLike) -> Array:
        """x_t = x0 + t eps."""
        return _float(x0) + _float(t) * _float(eps)


Schedule = Union[VP, VE, EDM]

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
    p = _float(pred)
    if kind_from == kind_to:
        return p
    x_t, alpha, sigma = _float(x_t), _float(alpha), _float(sigma)

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
    sigma = _float(sigma)
    return (_float(x_t) + sigma * sigma * _float(score)) / _float(alpha)


# ---------------------------------------------------------------- data ranges


@dataclass(frozen=True)
class DataRange:
    """A closed interval [lo, hi] of data values, lo < hi, both finite."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo = _check_real("lo", self.lo)
        hi = _check_real("hi", self.hi)
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
        scale = _check_real("scale", self.scale)
        shift = _check_real("shift", self.shift)
        if scale == 0:
            raise ValueError("scale must be nonzero")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "shift", shift)

    def to_network(self, x: ArrayLike) -> Array:
        """Model data -> network data: scale x + shift."""
        return self.scale * _float(x) + self.shift

    def from_network(self, y: ArrayLike) -> Array:
        """Network data -> model data: (y - shift) / scale."""
        return (_float(y) - self.shift) / self.scale

    def score_to_network(self, score_x: ArrayLike) -> Array:
        """grad_y log p_Y = grad_x log p_X / scale."""
        return _float(score_x) / self.scale

    def score_from_network(self, score_y: ArrayLike) -> Array:
        """grad_x log p_X = scale * grad_y log p_Y."""
        return self.scale * _float(score_y)

    def sigma_to_network(self, sigma_x: ArrayLike) -> Array:
        """A noise level in model units, in network units: |scale| sigma."""
        return abs(self.scale) * _float(sigma_x)

    def sigma_from_network(self, sigma_y: ArrayLike) -> Array:
        """A noise level in network units, in model units: sigma / |scale|."""
        return _float(sigma_y) / abs(self.scale)

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


# ------------------------------------------------------------------ factory

_CLASSES = {"vp": VP, "ve": VE, "edm": EDM}


def make_schedule(spec: Any, *args: Any, **kwargs: Any) -> Schedule:
    """A noise process from its language value.

    `spec` is either the evaluator's tuple for `vp(…)` / `ve(…)` / `edm(…)`,
    `(name, args, ((key, value), …))`, or a bare name with the arguments given
    here: `make_schedule("vp", beta_max = 20.0)`. Positional arguments follow the
    language's order: vp(beta_min, beta_max), ve(sigma_min, sigma_max),
    edm(sigma_min, sigma_max, rho). Raises ValueError naming the argument for an
    unknown schedule or keyword, too many or repeated arguments, non-numbers and
    invalid values (beta_min >= beta_max, sigma_min <= 0, rho <= 0, …).
    """
    if isinstance(spec, tuple):
        if args or kwargs:
            raise ValueError("give either a schedule tuple or a name with arguments, not both")
        if len(spec) != 3 or not isinstance(spec[0], str):
            raise ValueError(f"a schedule tuple is (name, args, kwargs items), got {spec!r}")
        name, args, items = spec
        args = tuple(args)
        kwargs = {}
        for item in items:
            try:
                key, value = item
            except (TypeError, ValueError):
                raise ValueError(f"bad keyword item {item!r} in schedule tuple") from None
            if key in kwargs:
                raise ValueError(f"{key} given twice")
            kwargs[key] = value
    else:
        name = spec
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"unknown noise schedule {name!r}; expected one of {tuple(_CLASSES)}")
    cls = _CLASSES[name]
    order = {"vp": ("beta_min", "beta_max"), "ve": ("sigma_min", "sigma_max"),
             "edm": ("sigma_min", "sigma_max", "rho")}[name]
    allowed = tuple(f.name for f in fields(cls))
    if len(args) > len(order):
        raise ValueError(f"{name}() takes at most {len(order)} positional arguments {order}, got {len(args)}")
    merged: dict[str, Any] = dict(zip(order, args))
    for key, value in kwargs.items():
        if key not in allowed:
            raise ValueError(f"{name}() got an unknown keyword argument {key!r}; expected one of {allowed}")
        if key in merged:
            raise ValueError(f"{name}() got {key} both positionally and by keyword")
        merged[key] = value
    for key, value in merged.items():
        _check_real(key, value)
    return cls(**merged)
