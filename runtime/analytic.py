"""Analytic priors on a whole array (LANGUAGE.md §5): `gaussian(mean, cov)` and
`gmm(weights, means, covs)`, with the array flattened in C order to a vector of
length D.

A covariance is either full, (D, D), handled by its Cholesky factor, or
diagonal: a scalar or one variance per element (an array broadcasting to the
array's shape), kept as a length-D vector so that density and draws cost O(D)
and no D × D matrix is ever built (a 28 × 28 image would otherwise need a
784 × 784 one).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp

from .dist_base import LOG_2PI, LogDensity, float_dtype


def _broadcasts_to(src: tuple, dst: tuple) -> bool:
    try:
        return np.broadcast_shapes(src, dst) == tuple(dst)
    except ValueError:
        return False


def gaussian_cov(cov, shape: tuple[int, ...]):
    """("full", (D, D)) or ("diag", (D,)) for `gaussian`'s covariance on an array
    of `shape`; a (D, D) cov is full unless it has the array's own shape."""
    cov, shape = jnp.asarray(cov), tuple(shape)
    d = math.prod(shape)
    if cov.shape == (d, d) and cov.shape != shape:
        return "full", cov
    if _broadcasts_to(cov.shape, shape):
        return "diag", jnp.reshape(jnp.broadcast_to(cov, shape), (d,))
    raise ValueError(f"`gaussian`'s covariance has shape {cov.shape}: it must be a scalar, one variance "
                     f"per element (shape {shape}) or a full ({d}, {d}) matrix")


def gmm_covs(covs, shape: tuple[int, ...], c: int):
    """("full", (C, D, D)) or ("diag", (C, D)) for `gmm`'s covariances, read in
    this order: (C, D, D) full per component; (C,) + shape per-element per
    component; (D, D) full and shared; broadcasting to shape, diagonal and
    shared; (C,) one variance per component."""
    covs, shape = jnp.asarray(covs), tuple(shape)
    d = math.prod(shape)
    if covs.shape == (c, d, d):
        return "full", covs
    if covs.shape == (c,) + shape:
        return "diag", jnp.reshape(covs, (c, d))
    if covs.shape == (d, d) and covs.shape != shape:
        return "full", jnp.broadcast_to(covs, (c, d, d))
    if _broadcasts_to(covs.shape, shape):
        return "diag", jnp.broadcast_to(jnp.reshape(jnp.broadcast_to(covs, shape), (d,)), (c, d))
    if covs.shape == (c,):
        return "diag", jnp.broadcast_to(covs[:, None], (c, d))
    raise ValueError(f"`gmm`'s covariances have shape {covs.shape}: expected ({c}, {d}, {d}), ({c}, {d}, {d}) "
                     f"shared as ({d}, {d}), one variance per element {(c,) + shape} or {shape}, or one per "
                     f"component ({c},)")


def diag_log_prob(v, mean, var):
    """log N(v | m, diag(var)) = −½ Σ_i [(v_i − m_i)² / var_i + log var_i + log 2π], over the last axis."""
    return -0.5 * jnp.sum((v - mean) ** 2 / var + jnp.log(var) + LOG_2PI, axis=-1)


def full_log_prob(v, mean, cov):
    """log N(v | m, Σ) with Σ = L Lᵀ: −½ |L⁻¹(v − m)|² − Σ_i log L_ii − (D/2) log 2π."""
    chol = jnp.linalg.cholesky(cov)
    z = solve_triangular(chol, (v - mean)[..., None], lower=True)[..., 0]
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * jnp.sum(z * z, axis=-1) - half_logdet - 0.5 * v.shape[-1] * LOG_2PI


def _gaussian_draw(key, mean, kind: str, cov):
    """m + σ ⊙ ε (diagonal) or m + L ε (full), ε ~ N(0, I_D)."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    if kind == "diag":
        return mean + jnp.sqrt(cov) * eps
    return mean + jnp.linalg.cholesky(cov) @ eps


class WholeArrayGaussian(LogDensity):
    """`gaussian(mean, cov)` on a whole array: N(vec(x) | vec(mean), Σ)."""

    def __init__(self, mean, cov):
        self.mean, self.cov = jnp.asarray(mean), jnp.asarray(cov)

    def _flat_mean(self, shape):
        mean = jnp.broadcast_to(self.mean, shape).astype(float_dtype(self.mean, self.cov))
        return jnp.reshape(mean, (-1,))

    def log_prob(self, value):
        value = jnp.asarray(value)
        kind, cov = gaussian_cov(self.cov, value.shape)
        v, m = jnp.ravel(value), self._flat_mean(value.shape)
        return diag_log_prob(v, m, cov) if kind == "diag" else full_log_prob(v, m, cov)

    def draw(self, key, shape):
        kind, cov = gaussian_cov(self.cov, shape)
        return jnp.reshape(_gaussian_draw(key, self._flat_mean(shape), kind, cov), shape)


class WholeArrayGMM(LogDensity):
    """`gmm(weights, means, covs)` on a whole array: Σ_c w_c N(vec(x) | m_c, Σ_c)."""

    def __init__(self, weights, means, covs, sde=None):
        self.weights = jnp.asarray(weights)
        self.means = jnp.asarray(means)
        self.covs = jnp.asarray(covs)
        self.sde = sde

    def _flat_means(self, d: int):
        c = self.weights.shape[-1]
        means = jnp.reshape(self.means, (c, -1)).astype(float_dtype(self.means, self.covs))
        return jnp.broadcast_to(means, (c, d))

    def log_prob(self, value):
        value = jnp.asarray(value)
        c = self.weights.shape[-1]
        kind, covs = gmm_covs(self.covs, value.shape, c)
        v, means = jnp.ravel(value), self._flat_means(value.size)
        lp = diag_log_prob(v, means, covs) if kind == "diag" else full_log_prob(v, means, covs)
        return logsumexp(lp + jnp.log(self.weights))

    def draw(self, key, shape):
        c = self.weights.shape[-1]
        kind, covs = gmm_covs(self.covs, shape, c)
        k_comp, k_value = jax.random.split(key)
        comp = jax.random.categorical(k_comp, jnp.log(self.weights))
        # only the chosen component's factor is needed: index before any Cholesky
        mean = self._flat_means(math.prod(shape))[comp]
        return jnp.reshape(_gaussian_draw(k_value, mean, kind, covs[comp]), shape)
