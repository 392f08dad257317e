"""What every distribution object of the runtime shares: the `LogDensity` base
class of the language's own distributions, and `draw`, one draw of a given
shape from any distribution `make_distribution` returns.

Shape convention: `shape` is the value shape of one evaluation of a `~`
statement, batch shape + event shape. NumPyro distributions broadcast their
parameters against the batch part (as `log_prob` does); the classes here
implement `draw(key, shape)` themselves.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints


class LogDensity:
    """A distribution given by `log_prob` (what MCMC needs) and `draw` (what
    prior sampling needs)."""

    event_shape: tuple = ()
    support = constraints.real

    def log_prob(self, value):  # pragma: no cover - interface
        raise NotImplementedError

    def draw(self, key, shape: tuple[int, ...]) -> jax.Array:  # pragma: no cover - interface
        raise NotImplementedError


def batch_of(shape: tuple[int, ...], event_shape: tuple[int, ...], what: str = "the distribution") -> tuple:
    """The batch part of `shape`, checking that it ends in `event_shape`."""
    e = len(event_shape)
    if len(shape) < e or tuple(shape[len(shape) - e:]) != tuple(event_shape):
        raise ValueError(f"{what} has event shape {tuple(event_shape)}, which the requested shape "
                         f"{tuple(shape)} does not end in")
    return tuple(shape[:len(shape) - e])


def draw(dist, key, shape) -> jax.Array:
    """One draw of exactly `shape` (batch + event) from `dist`: the language's
    classes draw themselves; a NumPyro distribution is expanded to the batch
    shape (its parameters broadcast against it) and sampled once."""
    shape = tuple(int(s) for s in shape)
    own = getattr(dist, "draw", None)
    if callable(own):
        return own(key, shape)
    return _draw_numpyro(dist, key, shape)


def _draw_numpyro(dist, key, shape: tuple[int, ...]) -> jax.Array:
    name = type(dist).__name__
    batch = batch_of(shape, tuple(dist.event_shape), f"`{name}`")
    if tuple(dist.batch_shape) != batch:
        try:
            dist = dist.expand(batch)
        except ValueError:
            raise ValueError(f"`{name}` has batch shape {tuple(dist.batch_shape)}, which does not broadcast "
                             f"to the requested batch shape {batch}") from None
    return dist.sample(key)


def float_dtype(*xs):
    """The floating dtype the arrays `xs` compute in (float32 unless x64 is on)."""
    return jnp.result_type(float, *[jnp.asarray(x) for x in xs])


LOG_2PI = math.log(2 * math.pi)
