"""Exact noised densities, scores and Tweedie means of a Gaussian mixture prior,
for testing the diffusion samplers against the truth.

Prior p_0 = Σ_k π_k N(m_k, Σ_k) on x ∈ R^D, noised as x_t = α x_0 + σ ε with
ε ~ N(0, I_D).  The noised marginal is again a mixture,

    p_t(x) = Σ_k π_k N(x; α m_k, C_k),        C_k = α² Σ_k + σ² I,

whose score has the closed form, with responsibilities r_k(x) = π_k N(x; α m_k, C_k) / p_t(x),

    ∇ₓ log p_t(x) = −Σ_k r_k(x) C_k⁻¹ (x − α m_k),

and Tweedie's formula gives the posterior mean of the clean signal,

    E[x_0 | x_t = x] = (x + σ² ∇ₓ log p_t(x)) / α.

Covariances (`covs`) may be full, (K, D, D); diagonal, (K, D); isotropic per
component, (K,); or one shared scalar.  A diagonal or isotropic covariance is
kept as a (K, D) array of variances, so the cost is O(K·D) per point and no
D × D matrix is ever built (D = 784 for a 28 × 28 image).  A full covariance is
eigendecomposed once, Σ_k = U_k diag(λ_k) U_kᵀ, so that
C_k = U_k diag(α² λ_k + σ²) U_kᵀ for every (α, σ) at the price of one rotation
(this stays well defined when Σ_k is singular, as long as σ > 0).

A single Gaussian is the case K = 1: `weights` (1,) or a scalar, `means` (1, D)
or (D,), `covs` (1, D, D) / (D, D) full, (1, D) / (D,) diagonal, or a scalar.

`x` may carry batch axes, (..., D); `alpha` and `sigma` are scalars or arrays
broadcasting against the batch shape (...).  α must be > 0 for the Tweedie mean.
The functions are plain jax.numpy and can be jitted and differentiated.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import logsumexp

from .dist_base import float_dtype

LOG_2PI = math.log(2 * math.pi)

__all__ = ["gmm_prior", "gmm_noised_log_prob", "gmm_noised_score", "gmm_tweedie_mean"]


def gmm_prior(weights, means, covs, what: str = "the prior"):
    """Check and normalise a Gaussian-mixture prior.

    Returns (log_weights (K,), means (K, D), kind, cov) with kind "full" and cov
    (K, D, D), or kind "diag" and cov (K, D) the variances (diagonal and
    isotropic covariances; never a D × D matrix).  The weights are normalised
    to sum to one.  Raises ValueError naming the offending argument.
    """
    weights, means, covs = jnp.asarray(weights), jnp.asarray(means), jnp.asarray(covs)
    dtype = float_dtype(weights, means, covs)
    if means.ndim == 1:  # a single Gaussian: K = 1
        if weights.shape not in ((), (1,)):
            raise ValueError(f"{what}: `means` has shape {means.shape} (one component) but `weights` has shape "
                             f"{weights.shape}: expected a scalar or shape (1,)")
        d = means.shape[0]
        means, weights = means[None], jnp.reshape(weights, (1,))
        if covs.shape == (d, d):
            covs = covs[None]
        elif covs.shape == (d,):
            covs = covs[None]
        elif covs.ndim != 0:
            raise ValueError(f"{what}: `covs` has shape {covs.shape} for one Gaussian of dimension {d}: "
                             f"expected ({d}, {d}) full, ({d},) diagonal or a scalar")
    if weights.ndim != 1:
        raise ValueError(f"{what}: `weights` must have shape (K,), got {weights.shape}")
    k = weights.shape[0]
    if means.ndim != 2 or means.shape[0] != k:
        raise ValueError(f"{what}: `means` must have shape (K, D) = ({k}, D) to match `weights` {weights.shape}, "
                         f"got {means.shape}")
    d = means.shape[1]
    if covs.shape == (k, d, d):
        kind, cov = "full", covs
    elif covs.shape == (k, d):
        kind, cov = "diag", covs
    elif covs.shape == (k,):
        kind, cov = "diag", jnp.broadcast_to(covs[:, None], (k, d))
    elif covs.ndim == 0:
        kind, cov = "diag", jnp.broadcast_to(covs, (k, d))
    else:
        raise ValueError(f"{what}: `covs` has shape {covs.shape}: expected ({k}, {d}, {d}) full, ({k}, {d}) "
                         f"diagonal, ({k},) isotropic per component, or a scalar (K = {k}, D = {d} from "
                         f"`weights` {weights.shape} and `means` {means.shape})")
    log_w = jnp.log(weights.astype(dtype))
    log_w = log_w - logsumexp(log_w)
    return log_w, means.astype(dtype), kind, cov.astype(dtype)


def _noised_terms(x, alpha, sigma, weights, means, covs):
    """(log π_k + log N(x; α m_k, C_k)) of shape (..., K) and the component
    scores −C_k⁻¹(x − α m_k) of shape (..., K, D)."""
    log_w, means, kind, cov = gmm_prior(weights, means, covs)
    x = jnp.asarray(x)
    dtype = float_dtype(x, means, alpha, sigma)
    x = x.astype(dtype)
    d = means.shape[1]
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"`x` must have shape (..., {d}) to match `means` {means.shape}, got {x.shape}")
    a = jnp.asarray(alpha, dtype)[..., None, None]
    s2 = jnp.asarray(sigma, dtype)[..., None, None] ** 2
    diff = x[..., None, :] - a * means  # (..., K, D)
    if kind == "diag":
        c = a ** 2 * cov + s2  # (..., K, D) variances of C_k
        quad = diff * diff / c
        comp_score = -diff / c
    else:
        lam, u = jnp.linalg.eigh(cov)  # Σ_k = U diag(λ) Uᵀ, (K, D), (K, D, D)
        c = a ** 2 * lam + s2  # eigenvalues of C_k
        z = jnp.einsum("kji,...kj->...ki", u, diff)  # Uᵀ (x − α m)
        quad = z * z / c
        comp_score = -jnp.einsum("kij,...kj->...ki", u, z / c)  # −U diag(1/c) Uᵀ (x − α m)
    log_comp = log_w - 0.5 * jnp.sum(quad + jnp.log(c) + LOG_2PI, axis=-1)
    return log_comp, comp_score


def gmm_noised_log_prob(x, alpha, sigma, weights, means, covs):
    """log p_t(x) = log Σ_k π_k N(x; α m_k, α² Σ_k + σ² I), shape (...,) for x (..., D)."""
    log_comp, _ = _noised_terms(x, alpha, sigma, weights, means, covs)
    return logsumexp(log_comp, axis=-1)


def gmm_noised_score(x, alpha, sigma, weights, means, covs):
    """∇ₓ log p_t(x) = −Σ_k r_k(x) (α² Σ_k + σ² I)⁻¹ (x − α m_k), in closed form
    (responsibilities r_k by a softmax of the component log densities), shape (..., D)."""
    log_comp, comp_score = _noised_terms(x, alpha, sigma, weights, means, covs)
    resp = jnp.exp(log_comp - logsumexp(log_comp, axis=-1, keepdims=True))
    return jnp.sum(resp[..., None] * comp_score, axis=-2)


def gmm_tweedie_mean(x, alpha, sigma, weights, means, covs):
    """E[x_0 | x_t = x] = (x + σ² ∇ₓ log p_t(x)) / α (Tweedie's formula), shape (..., D); α > 0."""
    score = gmm_noised_score(x, alpha, sigma, weights, means, covs)
    dtype = score.dtype
    a = jnp.asarray(alpha, dtype)[..., None]
    s2 = jnp.asarray(sigma, dtype)[..., None] ** 2
    return (jnp.asarray(x, dtype) + s2 * score) / a
