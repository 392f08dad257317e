"""Truncation of a scalar distribution to a declared support [low, high]
(`param tau : positive` with `tau ~ cauchy(0, 5)` is a half-Cauchy): exact draws,
the normalizer log Z = log P(low ≤ X ≤ high), and the normalized density
log p(x) − log Z on [low, high] (−∞ outside). Bounds may be traced arrays that
broadcast with the batch shape.

Where the CDF is known (cdf.py) draws invert it. The interval is handled on
the side of the distribution where its mass is small: with F(low) ≤ S(high) a
draw solves log F(x) = log(F(low) + u Z), otherwise log S(x) = log(S(high) + u Z)
(S = 1 − F, u ~ U(0, 1)), so that a normal on [8, ∞) is drawn through
S(8) ≈ 6e-16 in log space rather than through 1 − F(8), which rounds to 0.
The equation is solved by Newton's method on log F (or log S) from a close
starting point, safeguarded by a bracket that shrinks at every step (bisection,
or doubling towards an infinite side, where a Newton step leaves it).

Mixtures whose components have known CDFs are truncated exactly, component by
component. Any other distribution falls back to rejection with a fixed budget
of rounds, and reports whether every draw was accepted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import logsumexp

from .cdf import INF, Family, Reduced, log1mexp, reduce_to_family
from .dist_base import draw, float_dtype

_MAX_NEWTON = 200  # enough to double from 1 past 1e38 and then bisect: only bad starting points get near it
_REJECTION_ROUNDS = 64


def _bound(x, default: float, dtype):
    return jnp.full((), default, dtype) if x is None else jnp.asarray(x, dtype)


def _log_diff(big, small):
    """log(e^big − e^small) for small ≤ big, −∞ where big is −∞."""
    finite = big > -INF
    safe_big = jnp.where(finite, big, 0.0)
    return jnp.where(finite, safe_big + log1mexp(jnp.minimum(jnp.where(finite, small, -INF) - safe_big, 0.0)), -INF)


def _mass(fam: Family, a, b):
    """(upper, log Z, log T at the interval's near end): `upper` where the draw
    works with the survival function (F(a) > S(b)), log Z = log(F(b) − F(a))."""
    (l_fa, l_sa), (l_fb, l_sb) = fam.end_logs(a), fam.end_logs(b)
    upper = l_fa > l_sb
    log_z = jnp.where(upper, _log_diff(l_sa, l_sb), _log_diff(l_fb, l_fa))
    return upper, log_z, jnp.where(upper, l_sb, l_fa)


def _fallback(lo, hi):
    """A point inside the bracket [lo, hi]: its midpoint (geometric when it spans
    decades of positive numbers), or a doubling step towards an infinite side."""
    both = jnp.isfinite(lo) & jnp.isfinite(hi)
    geometric = (lo > 0) & (hi > 8 * lo)
    mid = jnp.where(geometric, jnp.sqrt(jnp.abs(lo)) * jnp.sqrt(jnp.abs(hi)), lo + 0.5 * (hi - lo))
    up = lo + jnp.maximum(jnp.abs(lo), 1.0)
    down = hi - jnp.maximum(jnp.abs(hi), 1.0)
    return jnp.where(both, mid, jnp.where(jnp.isfinite(lo), up, jnp.where(jnp.isfinite(hi), down, 0.0)))


def solve_tail(fam: Family, target, upper, lo, hi):
    """x in [lo, hi] with log F(x) = target (log S(x) = target where `upper`).

    h(x) = ±(log T(x) − target) increases in x; Newton's step is h/h′ with
    h′ = f/T, i.e. Δx = h·e^{log T − log f}. Steps that leave the bracket (or
    are not finite) are replaced by `_fallback`; iteration stops where
    |h| ≤ 8 ε (1 + |target|), as accurate as log T can be computed, or where a
    step or the bracket is within 4 ε |x| (where rounding in log T leaves Newton
    cycling in the last digits)."""
    dtype = jnp.result_type(target)
    sign = jnp.where(upper, -1.0, 1.0).astype(dtype)
    eps = jnp.finfo(dtype).eps
    htol = 8 * eps * (1 + jnp.abs(target))
    x0 = jnp.clip(jnp.where(upper, fam.guess_upper(target), fam.guess_lower(target)), lo, hi)
    x0 = jnp.where(jnp.isfinite(x0), x0, _fallback(lo, hi))

    def body(state):
        i, x, lo, hi, done = state
        log_t = jnp.where(upper, fam.log_sf(x), fam.log_cdf(x))
        h = sign * (log_t - target)
        lo, hi = jnp.where(h <= 0, x, lo), jnp.where(h >= 0, x, hi)
        step = x - h * jnp.exp(log_t - fam.log_pdf(x))
        inside = jnp.isfinite(step) & (step > lo) & (step < hi)
        xtol = 4 * eps * jnp.abs(x) + jnp.finfo(dtype).tiny
        conv = (jnp.abs(h) <= htol) | (jnp.abs(step - x) <= xtol) | (hi - lo <= xtol)
        x_new = jnp.where(conv | done, x, jnp.where(inside, step, _fallback(lo, hi)))
        return i + 1, x_new, lo, hi, done | conv

    def cond(state):
        return (state[0] < _MAX_NEWTON) & ~jnp.all(state[4])

    init = (0, x0, lo, hi, jnp.zeros(x0.shape, bool))
    return lax.while_loop(cond, body, init)[1]


class _Truncated:
    """Shared by the truncations: bounds, `draw`, and the masked density."""

    event_shape = ()
    exact = True

    def __init__(self, dist, low, high):
        self.dist = dist
        dtype = float_dtype(*(x for x in (low, high) if x is not None))
        self.low, self.high = _bound(low, -INF, dtype), _bound(high, INF, dtype)
        self.support = dist.support

    def sample_with_flag(self, key, shape):  # pragma: no cover - interface
        raise NotImplementedError

    def sample(self, key, shape: tuple[int, ...]) -> jax.Array:
        """Draws of exactly `shape` (the batch shape: these are scalar distributions)."""
        return self.sample_with_flag(key, shape)[0]

    def draw(self, key, shape):
        return self.sample(key, tuple(shape))

    def log_normalizer(self):  # pragma: no cover - interface
        raise NotImplementedError

    def inside(self, value):
        return (value >= self.low) & (value <= self.high) & self.support(value)

    def log_prob(self, value):
        """log p(x) − log Z on [low, high], −∞ outside."""
        value = jnp.asarray(value)
        lp = self.dist.log_prob(value) - self.log_normalizer()
        return jnp.where(self.inside(value), lp, -INF)


class InverseCdfTruncation(_Truncated):
    """Exact truncation of a distribution whose CDF is known (cdf.py)."""

    def __init__(self, dist, low, high, reduced: Reduced):
        super().__init__(dist, low, high)
        self.reduced = reduced

    def _problem(self):
        r = self.reduced
        return r.family, r.low, r.high, _mass(r.family, r.low, r.high)

    def log_normalizer(self):
        """log P(low ≤ X ≤ high), exact."""
        _, _, _, (_, log_z, _) = self._problem()
        return log_z + self.reduced.log_factor

    def sample_with_flag(self, key, shape):
        shape = tuple(shape)
        fam, a, b, (upper, log_z, log_near) = self._problem()
        upper, log_z, log_near, a, b = (jnp.broadcast_to(t, shape) for t in (upper, log_z, log_near, a, b))
        u = jax.random.uniform(key, shape, log_z.dtype)
        target = jnp.logaddexp(log_near, jnp.log(u) + log_z)  # log(T(near end) + u Z)
        y = solve_tail(fam, target, upper, a, b)
        return self.reduced.to_value(y), jnp.array(True)


class MixtureTruncation(_Truncated):
    """Σ_k w_k p_k truncated: Z = Σ_k w_k Z_k, and a draw picks component k with
    probability w_k Z_k / Z, then draws from p_k truncated."""

    def __init__(self, mixture, low, high, components: _Truncated):
        super().__init__(mixture, low, high)
        self.components = components
        self.exact = components.exact

    def _log_post(self):
        return jnp.log(self.dist.weights) + self.components.log_normalizer()

    def log_normalizer(self):
        return logsumexp(self._log_post(), axis=-1)

    def sample_with_flag(self, key, shape):
        shape = tuple(shape)
        k_comp, k_value = jax.random.split(key)
        comp = jax.random.categorical(k_comp, self._log_post(), axis=-1, shape=shape)
        c = self.dist.weights.shape[-1]
        values, ok = self.components.sample_with_flag(k_value, shape + (c,))
        return jnp.take_along_axis(values, comp[..., None], axis=-1)[..., 0], ok


class RejectionTruncation(_Truncated):
    """Draws from the distribution until each lands in [low, high], for at most
    `rounds` rounds; `sample_with_flag` says whether all were accepted."""

    exact = False

    def __init__(self, dist, low, high, rounds: int = _REJECTION_ROUNDS):
        super().__init__(dist, low, high)
        self.rounds = int(rounds)

    def sample_with_flag(self, key, shape):
        """(draws, ok): entries still rejected after the budget are NaN (float) or
        the nearest bound (int), and ok is False."""
        shape = tuple(shape)
        first = draw(self.dist, key, shape)

        def body(state):
            i, k, x, done = state
            k, sub = jax.random.split(k)
            y = draw(self.dist, sub, shape)
            return i + 1, k, jnp.where(done, x, y), done | self.inside(y)

        def cond(state):
            return (state[0] < self.rounds) & ~jnp.all(state[3])

        init = (1, jax.random.fold_in(key, 1), first, self.inside(first))
        _, _, x, done = lax.while_loop(cond, body, init)
        if jnp.issubdtype(x.dtype, jnp.floating):
            x = jnp.where(done, x, jnp.nan)
        else:
            x = jnp.clip(x, self.low, self.high).astype(x.dtype)
        return x, jnp.all(done)

    def log_normalizer(self, key=None, n: int = 4096):
        """A Monte Carlo estimate of log P(low ≤ X ≤ high) from `n` draws (no CDF is
        known; `exact` is False): relative standard error √((1 − Z)/(n Z))."""
        key = jax.random.PRNGKey(0) if key is None else key
        batch = jnp.broadcast_shapes(tuple(getattr(self.dist, "batch_shape", ())), self.low.shape, self.high.shape)
        xs = draw(self.dist, key, (n,) + tuple(batch))
        return jnp.log(jnp.mean(self.inside(xs), axis=0))


def truncate(dist, low=None, high=None, method: str = "auto", rounds: int = _REJECTION_ROUNDS):
    """`dist` (scalar) truncated to [low, high]; None is an open side. `method`:
    "auto" (inverse CDF where known, then mixtures of such, else rejection) or
    "rejection". The result has `sample(key, shape)`, `sample_with_flag`,
    `draw`, `log_normalizer()`, `log_prob(value)` and `exact`."""
    if tuple(getattr(dist, "event_shape", ())) != ():
        raise ValueError(f"only scalar distributions can be truncated, not one with event shape "
                         f"{tuple(dist.event_shape)}")
    if method not in ("auto", "rejection"):
        raise ValueError(f"unknown truncation method {method!r}")
    if method == "auto":
        exact = _exact(dist, low, high)
        if exact is not None:
            return exact
    return RejectionTruncation(dist, low, high, rounds)


def _exact(dist, low, high):
    dtype = float_dtype(*(x for x in (low, high) if x is not None))
    lo, hi = _bound(low, -INF, dtype), _bound(high, INF, dtype)
    reduced = reduce_to_family(dist, lo, hi)
    if reduced is not None:
        return InverseCdfTruncation(dist, low, high, reduced)
    if hasattr(dist, "weights") and hasattr(dist, "component"):  # a Mixture of the language
        comp = _exact(dist.component, None if low is None else lo[..., None],
                      None if high is None else hi[..., None])
        if comp is not None:
            return MixtureTruncation(dist, low, high, comp)
    return None
