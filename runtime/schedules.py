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

Predictions (eps, x0, score, v), Tweedie's mean and data ranges are in runtime/predictions.py.

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
    "make_schedule",
]


# --------------------------------------------------------------------- helpers


def as_float(t: ArrayLike) -> Array:
    """`t` as a floating JAX array (integer / bool inputs get the default float)."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.inexact):
        t = t.astype(jnp.result_type(float))
    return t


def check_real(name: str, value: Any) -> float:
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
        bmin = check_real("beta_min", self.beta_min)
        bmax = check_real("beta_max", self.beta_max)
        eps = check_real("t_eps", self.t_eps)
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
        t = as_float(t)
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integrated_beta(self, t: ArrayLike) -> Array:
        """B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2."""
        t = as_float(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def alpha(self, t: ArrayLike) -> Array:
        """alpha_t = exp(-B(t) / 2)."""
        return jnp.exp(-0.5 * self.integrated_beta(t))

    def sigma(self, t: ArrayLike) -> Array:
        """sigma_t = sqrt(1 - alpha_t^2) = sqrt(-expm1(-B(t)))."""
        return jnp.sqrt(-jnp.expm1(-self.integrated_beta(t)))

    def drift(self, x: ArrayLike, t: ArrayLike) -> Array:
        """f(x, t) = -beta(t) x / 2."""
        return -0.5 * self.beta(t) * as_float(x)

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
        s = as_float(sigma)
        return self._t_of_integrated_beta(-jnp.log1p(-s * s))

    def t_of_log_snr(self, log_snr: ArrayLike) -> Array:
        """Inverse of `log_snr`: alpha^2 = sigmoid(lambda), B = softplus(-lambda)."""
        lam = as_float(log_snr)
        return self._t_of_integrated_beta(jax.nn.softplus(-lam))

    def grid(self, steps: int, dtype: Any = None) -> Array:
        """`steps + 1` times, uniform in t, from t_max = 1 down to t_min = t_eps."""
        steps = _check_steps(steps, 1)
        return jnp.linspace(1.0, self.t_eps, steps + 1, dtype=_grid_dtype(dtype))

    def perturb(self, x0: ArrayLike, t: ArrayLike, eps: ArrayLike) -> Array:
        """x_t = alpha_t x0 + sigma_t eps."""
        return self.alpha(t) * as_float(x0) + self.sigma(t) * as_float(eps)


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
        smin = check_real("sigma_min", self.sigma_min)
        smax = check_real("sigma_max", self.sigma_max)
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
        return jnp.ones_like(as_float(t))

    def sigma(self, t: ArrayLike) -> Array:
        """sigma(t) = sigma_min (sigma_max / sigma_min)^t."""
        return self.sigma_min * jnp.exp(as_float(t) * self._log_ratio)

    def drift(self, x: ArrayLike, t: ArrayLike) -> Array:
        """f = 0."""
        return jnp.zeros_like(as_float(x) * jnp.zeros_like(as_float(t)))

    def diffusion(self, t: ArrayLike) -> Array:
        """g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min))."""
        return self.sigma(t) * math.sqrt(2.0 * self._log_ratio)

    def log_snr(self, t: ArrayLike) -> Array:
        """log(1 / sigma(t)^2)."""
        return -2.0 * (math.log(self.sigma_min) + as_float(t) * self._log_ratio)

    def t_of_sigma(self, sigma: ArrayLike) -> Array:
        """t = log(sigma / sigma_min) / log(sigma_max / sigma_min)."""
        return (jnp.log(as_float(sigma)) - math.log(self.sigma_min)) / self._log_ratio

    def t_of_log_snr(self, log_snr: ArrayLike) -> Array:
        """Inverse of `log_snr`: sigma = exp(-lambda / 2)."""
        return self.t_of_sigma(jnp.exp(-0.5 * as_float(log_snr)))

    def grid(self, steps: int, dtype: Any = None) -> Array:
        """`steps + 1` times, uniform in t (geometric in sigma), from 1 down to 0."""
        steps = _check_steps(steps, 1)
        return jnp.linspace(1.0, 0.0, steps + 1, dtype=_grid_dtype(dtype))

    def perturb(self, x0: ArrayLike, t: ArrayLike, eps: ArrayLike) -> Array:
        """x_t = x0 + sigma(t) eps."""
        return as_float(x0) + self.sigma(t) * as_float(eps)


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
        smin = check_real("sigma_min", self.sigma_min)
        smax = check_real("sigma_max", self.sigma_max)
        rho = check_real("rho", self.rho)
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
        return jnp.ones_like(as_float(t))

    def sigma(self, t: ArrayLike) -> Array:
        """sigma(t) = t."""
        return as_float(t)

    def drift(self, x: ArrayLike, t: ArrayLike) -> Array:
        """f = 0."""
        return jnp.zeros_like(as_float(x) * jnp.zeros_like(as_float(t)))

    def diffusion(self, t: ArrayLike) -> Array:
        """g(t) = sqrt(2 t)."""
        return jnp.sqrt(2.0 * as_float(t))

    def log_snr(self, t: ArrayLike) -> Array:
        """log(1 / t^2)."""
        return -2.0 * jnp.log(as_float(t))

    def t_of_sigma(self, sigma: ArrayLike) -> Array:
        """t = sigma."""
        return as_float(sigma)

    def t_of_log_snr(self, log_snr: ArrayLike) -> Array:
        """t = exp(-lambda / 2)."""
        return jnp.exp(-0.5 * as_float(log_snr))

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
        return as_float(x0) + as_float(t) * as_float(eps)


Schedule = Union[VP, VE, EDM]

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
        check_real(key, value)
    return cls(**merged)
