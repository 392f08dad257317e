"""k-means++ seeding and Lloyd iterations: the starting responsibilities of `em` and `vi`.

- `kmeans_pp`: greedy k-means++ (Arthur & Vassilvitskii 2007, "k-means++: the advantages of
  careful seeding"): the first center uniformly at random, each next one drawn with probability
  ∝ D(x)² (the squared distance to the nearest chosen center); "greedy" draws 2 + ⌊ln K⌋
  candidates per step and keeps the one that lowers the potential Σ_n D(x_n)² most (what
  scikit-learn's KMeans does; it avoids most of plain k-means++'s bad seeds).
- `lloyd`: Lloyd steps (assign each point to its nearest allowed center, move each center to
  its points' mean) until no point moves or a cap; a center that loses all its points stays put.
- Spherical (`spherical=True`, for von Mises–Fisher data on the unit sphere): the distance is
  1 − cos(x, c) (∝ the squared chord for unit vectors) and a center is the normalized sum of
  its points (spherical k-means, Dhillon & Modha 2001).

Everything is vectorized over points: one (N, K) distance matrix per step (a matmul), so a
sharded X reduces across devices. `allowed` (N, K) restricts the components a point may take
(observed labels), so the start already respects them.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax


def _sq_dist(X, C, spherical: bool):
    """(N, K) squared Euclidean distances (or 1 − cosine when spherical)."""
    if spherical:
        return 1.0 - X @ C.T
    xx = jnp.sum(X * X, axis=1, keepdims=True)
    cc = jnp.sum(C * C, axis=1)[None]
    return jnp.maximum(xx - 2.0 * X @ C.T + cc, 0.0)


def kmeans_pp(key, X, K: int, spherical: bool = False, trials: int | None = None):
    """(K, D) centers by greedy k-means++ seeding (`trials` candidates per step, default 2 + ⌊ln K⌋)."""
    N = X.shape[0]
    trials = trials or 2 + int(math.log(K))
    k0, key = jax.random.split(key)
    first = X[jax.random.randint(k0, (), 0, N)]
    d2 = _sq_dist(X, first[None], spherical)[:, 0]
    C = jnp.zeros((K, X.shape[1]), X.dtype).at[0].set(first)

    def step(carry, k):
        C, d2, key = carry
        key, kc = jax.random.split(key)
        # D² sampling; all-zero distances (fewer distinct points than K) fall back to uniform
        logits = jnp.where(jnp.sum(d2) > 0, jnp.log(jnp.maximum(d2, 0.0)), 0.0)
        cand = jax.random.categorical(kc, logits, shape=(trials,))
        d_cand = jnp.minimum(d2[None, :], _sq_dist(X, X[cand], spherical).T)    # (trials, N)
        best = jnp.argmin(jnp.sum(d_cand, axis=1))
        return (C.at[k].set(X[cand[best]]), d_cand[best], key), None

    (C, _, _), _ = lax.scan(step, (C, d2, key), jnp.arange(1, K))
    return C


def _assign(X, C, allowed, spherical: bool):
    d = _sq_dist(X, C, spherical)
    if allowed is not None:
        d = jnp.where(allowed, d, jnp.inf)
    return jnp.argmin(d, axis=1)


def lloyd(X, C, allowed=None, iters: int = 30, spherical: bool = False):
    """(centers (K, D), assignment (N,)) after at most `iters` Lloyd steps from centers C,
    stopping early once no point changes its center."""
    K = C.shape[0]

    def cond(state):
        _, _, i, changed = state
        return (i < iters) & changed

    def body(state):
        C, z, i, _ = state
        R = jax.nn.one_hot(z, K, dtype=X.dtype)
        n, s = jnp.sum(R, axis=0), R.T @ X
        if spherical:
            norm = jnp.linalg.norm(s, axis=1, keepdims=True)
            new = s / jnp.where(norm > 0, norm, 1.0)
        else:
            new = s / jnp.maximum(n, 1.0)[:, None]
        C = jnp.where((n > 0)[:, None], new, C)  # an emptied center stays put
        z_new = _assign(X, C, allowed, spherical)
        return C, z_new, i + 1, jnp.any(z_new != z)

    z0 = _assign(X, C, allowed, spherical)
    C, z, _, _ = lax.while_loop(cond, body, (C, z0, jnp.int32(0), jnp.bool_(True)))
    return C, z


def inertia(X, C, z, spherical: bool = False):
    """The k-means potential Σ_n d(x_n, c_{z_n}) (squared distance, or 1 − cos when spherical)."""
    return jnp.sum(jnp.take_along_axis(_sq_dist(X, C, spherical), z[:, None], axis=1))


@partial(jax.jit, static_argnames=("K", "spherical", "iters", "n_init"))
def kmeans_responsibilities(key, X, K: int, allowed=None, spherical: bool = False, iters: int = 30,
                            n_init: int = 1):
    """(N, K) one-hot responsibilities: greedy k-means++ and `iters` Lloyd steps, the best of
    `n_init` seeds by the k-means potential (as scikit-learn's KMeans(n_init))."""
    def one(k):
        C, z = lloyd(X, kmeans_pp(k, X, K, spherical), allowed, iters, spherical)
        return z, inertia(X, C, z, spherical)

    zs, pots = lax.map(one, jax.random.split(key, n_init))
    return jax.nn.one_hot(zs[jnp.argmin(pots)], K, dtype=X.dtype)
