"""Random draws that compile fast on a CPU, for the split–merge sampler's inner loops: a
gamma by a fixed number of Marsaglia–Tsang candidates, a categorical by one uniform per row,
and a uniform choice of a member or of a segment's point."""

from __future__ import annotations

import jax
import jax.numpy as jnp

GAMMA_TRIES = 12  # Marsaglia–Tsang candidates per gamma draw (see `log_gamma`)


def log_gamma(key, a, tries: int = GAMMA_TRIES):
    """log of Gamma(a, 1) draws (any shape a > 0) by Marsaglia & Tsang (2000), "A simple method for
    generating gamma variables": for shape b = a + 1 ≥ 1, d = b − 1/3, c = 1/√(9d), x ~ N(0, 1),
    v = (1 + c x)³, accept d·v when log U < x²/2 + d − d v + d log v; then Gamma(a) = Gamma(a + 1)
    · U^{1/a}.  A fixed number of candidates instead of a loop: each is accepted with
    probability > 0.95, so all `tries` fail with probability < 0.05^tries (1e-16 for 12; the last
    candidate is then taken).  It compiles in a fraction of `jax.random.gamma`'s time."""
    kx, ku, kb = jax.random.split(key, 3)
    dtype = a.dtype
    d = a + 1.0 - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    x = jax.random.normal(kx, (tries,) + a.shape, dtype)
    u = jax.random.uniform(ku, (tries,) + a.shape, dtype, minval=jnp.finfo(dtype).tiny)
    v = (1.0 + c * x) ** 3
    ok = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * v + d * jnp.log(jnp.where(v > 0, v, 1.0)))
    first = jnp.argmax(jnp.concatenate([ok[:-1], jnp.ones((1,) + a.shape, bool)]), axis=0)
    v = jnp.take_along_axis(v, first[None], axis=0)[0]
    ub = jax.random.uniform(kb, a.shape, dtype, minval=jnp.finfo(dtype).tiny)
    return jnp.log(d) + jnp.log(jnp.maximum(v, jnp.finfo(dtype).tiny)) + jnp.log(ub) / a


def segment_argmax(u, seg, m: int):
    """Per segment 0..m−1 the index of the point with the largest u (−1 when empty)."""
    N = u.shape[0]
    top = jax.ops.segment_max(u, seg, num_segments=m + 1)[:m]
    hit = u == top[jnp.clip(seg, 0, m - 1)]
    hit = hit & (seg < m)
    idx = jax.ops.segment_max(jnp.where(hit, jnp.arange(N), -1), jnp.where(hit, seg, m), num_segments=m + 1)[:m]
    return jnp.maximum(idx, -1)


def uniform_member(key, mask):
    """A point drawn uniformly from those in mask (N,) (0 when none)."""
    u = jax.random.uniform(key, mask.shape)
    return jnp.argmax(jnp.where(mask, u, -1.0))


def categorical_by_cdf(key, logits):
    """One draw per row of logits (N, M) by inverting the CDF with one uniform per row (a Gumbel
    draw per entry costs N·M random numbers, most of an iteration's time on a CPU)."""
    p = jnp.exp(logits - jnp.max(logits, axis=1, keepdims=True))
    cdf = jnp.cumsum(p, axis=1)
    u = jax.random.uniform(key, (logits.shape[0], 1), logits.dtype, minval=jnp.finfo(logits.dtype).tiny) * cdf[:, -1:]
    return jnp.minimum(jnp.sum(cdf < u, axis=1), logits.shape[1] - 1).astype(jnp.int32)
