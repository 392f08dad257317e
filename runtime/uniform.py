"""`flat()` made proper: the uniform distribution on a compact declared support,
with a normalized density (−log of the support's volume), for prior sampling
and evidence estimates.

    support            distribution          density
    unit, real/interval/positive with both bounds
                       Uniform(low, high)    1 / (high − low)
    simplex(K)         Dirichlet(1, …, 1)    (K−1)! w.r.t. Lebesgue measure on
                                             the first K−1 coordinates
    sphere(D)          uniform on S^{D−1}    Γ(D/2) / (2 π^{D/2})
    cholesky_corr(D)   LKJCholesky(D, 1)     NumPyro's LKJ normalizer
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as nd

from .dist_base import float_dtype
from .sphere import UniformSphere

_INTERVALS = ("real", "interval", "positive", "unit")
_UNBOUNDED = ("real", "positive", "spd", "ordered", "positive_ordered")


def uniform_on(support: str, event_shape: tuple[int, ...] = (), low=None, high=None):
    """The uniform distribution on `support` (a support name of the type table)
    with event shape `event_shape`; `low`/`high` are a real's declared bounds
    (arrays broadcasting with the batch shape). Draw from it with `draw`.
    Raises ValueError on a support of infinite volume."""
    event_shape = tuple(int(s) for s in event_shape)
    if support in _INTERVALS:
        return _interval(support, low, high)
    if support == "simplex":
        return nd.Dirichlet(jnp.ones(event_shape[-1], float_dtype()))
    if support == "sphere":
        return UniformSphere(event_shape[-1])
    if support == "cholesky_corr":
        return nd.LKJCholesky(event_shape[-1], 1.0)
    if support in _UNBOUNDED:
        raise ValueError(f"`flat()` on a {support} support is improper (its volume is infinite): there is no "
                         "uniform distribution to draw from")
    raise ValueError(f"`flat()` has no uniform distribution on a {support} support")


def _interval(support: str, low, high) -> nd.Uniform:
    """Uniform(low, high) on a unit, positive or real support with both bounds known."""
    if support == "unit":
        low = 0.0 if low is None else jnp.maximum(low, 0.0)
        high = 1.0 if high is None else jnp.minimum(high, 1.0)
    elif support == "positive":
        low = 0.0 if low is None else jnp.maximum(low, 0.0)
    if low is None or high is None:
        side = "a lower" if low is None else "an upper"
        raise ValueError(f"`flat()` on a {support} support without {side} bound is improper (its volume is "
                         "infinite): there is no uniform distribution to draw from")
    dtype = float_dtype(low, high)
    return nd.Uniform(jnp.asarray(low, dtype), jnp.asarray(high, dtype))


def log_volume(support: str, event_shape: tuple[int, ...], low=None, high=None):
    """log of the support's volume, the negative of the uniform density's log."""
    dist = uniform_on(support, event_shape, low, high)
    if support in _INTERVALS:
        return jnp.log(dist.high - dist.low)
    if support == "simplex":
        return -dist.log_prob(jnp.full(event_shape, 1.0 / event_shape[-1]))
    return -dist.log_prob(jnp.eye(event_shape[-1]) if support == "cholesky_corr" else
                          jnp.eye(event_shape[-1])[0])
