"""Exact posteriors to test samplers against: a Gaussian or Gaussian-mixture prior
under a linear-Gaussian likelihood, and a sliced Wasserstein distance between
two samples.

Model.  Prior x ~ Σ_k π_k N(m_k, Σ_k) on R^D; observation y = A x + σ ε with
A an (M, D) matrix and ε ~ N(0, I_M).  The posterior is again a mixture,

    p(x | y) = Σ_k π̃_k N(x; m̃_k, Σ̃_k),
    π̃_k ∝ π_k N(y; A m_k, S_k),          S_k = A Σ_k Aᵀ + σ² I_M,
    Σ̃_k = (Σ_k⁻¹ + AᵀA/σ²)⁻¹,           m̃_k = Σ̃_k (Aᵀy/σ² + Σ_k⁻¹ m_k),
    log p(y) = log Σ_k π_k N(y; A m_k, S_k).

It is computed in the Kalman (covariance) form, which needs no inverse of Σ_k
(a singular prior covariance is fine) and only solves with the M × M
innovation covariance S_k through its Cholesky factor:

    K_k = Σ_k Aᵀ S_k⁻¹,   m̃_k = m_k + K_k (y − A m_k),
    Σ̃_k = (I − K_k A) Σ_k (I − K_k A)ᵀ + σ² K_k K_kᵀ   (Joseph form of Σ_k − K_k A Σ_k,
                                                        symmetric and PSD in floating point),

with the weights normalised by logsumexp.  A diagonal or isotropic Σ_k is never
expanded to D × D before the update (Σ_k Aᵀ is a row scaling of Aᵀ); the
posterior covariances are full (K, D, D) in general.

    post = gmm_posterior(weights, means, covs, A, y, sigma)
    post.mean(), post.cov(), post.log_evidence, post.sample(key, n), post.log_prob(x)

Everything is jax.numpy: float64 when the inputs are float64 and x64 is on
(`with jax.enable_x64(True): ...`).  `GMMPosterior` is a JAX pytree, so
`gmm_posterior` can be jitted.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.special import logsumexp

from augury.runtime.analytic_scores import gmm_prior
from augury.runtime.dist_base import float_dtype

LOG_2PI = math.log(2 * math.pi)

__all__ = ["GMMPosterior", "gmm_posterior", "sliced_wasserstein"]


def _mvn_log_prob(x, means, chol):
    """log N(x; m_k, L_k L_kᵀ) for x (..., D), means (K, D), chol (K, D, D): shape (..., K)."""
    diff = x[..., None, :] - means  # (..., K, D)
    z = solve_triangular(chol, diff[..., None], lower=True)[..., 0]
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * jnp.sum(z * z, axis=-1) - half_logdet - 0.5 * means.shape[-1] * LOG_2PI


@dataclasses.dataclass(frozen=True)
class GMMPosterior:
    """The posterior mixture Σ_k w_k N(means_k, covs_k) and log p(y).

    weights (K,) summing to one; means (K, D); covs (K, D, D); log_evidence a scalar.
    """

    weights: jax.Array
    means: jax.Array
    covs: jax.Array
    log_evidence: jax.Array

    def mean(self):
        """E[x | y] = Σ_k w_k m̃_k, shape (D,)."""
        return self.weights @ self.means

    def cov(self):
        """Cov[x | y] = Σ_k w_k (Σ̃_k + (m̃_k − μ)(m̃_k − μ)ᵀ), shape (D, D)."""
        dev = self.means - self.mean()
        return (jnp.einsum("k,kij->ij", self.weights, self.covs)
                + jnp.einsum("k,ki,kj->ij", self.weights, dev, dev))

    def sample(self, key, n: int):
        """n exact independent draws, shape (n, D): a component from Categorical(w),
        then m̃_k + L_k ε with Σ̃_k = L_k L_kᵀ (Cholesky) and ε ~ N(0, I)."""
        k_comp, k_eps = jax.random.split(key)
        comp = jax.random.categorical(k_comp, jnp.log(self.weights), shape=(n,))
        chol = jnp.linalg.cholesky(self.covs)  # (K, D, D), once per component
        eps = jax.random.normal(k_eps, (n, self.means.shape[1]), self.means.dtype)
        # one component at a time: no (n, D, D) array (2.4 GB at n = 1000, D = 800); jittable
        def add(noise, k):
            return noise + jnp.where((comp == k)[:, None], eps @ chol[k].T, 0.0), None

        noise, _ = jax.lax.scan(add, jnp.zeros_like(eps), jnp.arange(chol.shape[0]))
        return self.means[comp] + noise

    def log_prob(self, x):
        """log p(x | y) = log Σ_k w_k N(x; m̃_k, Σ̃_k) for x (..., D), shape (...,)."""
        x = jnp.asarray(x, self.means.dtype)
        d = self.means.shape[1]
        if x.ndim < 1 or x.shape[-1] != d:
            raise ValueError(f"`x` must have shape (..., {d}), got {x.shape}")
        lp = _mvn_log_prob(x, self.means, jnp.linalg.cholesky(self.covs))
        return logsumexp(lp + jnp.log(self.weights), axis=-1)


jax.tree_util.register_dataclass(GMMPosterior, data_fields=["weights", "means", "covs", "log_evidence"],
                                 meta_fields=[])


def gmm_posterior(weights, means, covs, A, y, sigma) -> GMMPosterior:
    """The exact posterior of x given y = A x + σ ε, ε ~ N(0, I_M), under the
    prior x ~ Σ_k π_k N(m_k, Σ_k) on R^D.

    weights (K,) (normalised here); means (K, D); covs (K, D, D) full, (K, D)
    diagonal, (K,) isotropic per component or a scalar; a single Gaussian may be
    given as weights scalar/(1,), means (D,), covs (D, D)/(D,)/scalar.
    A (M, D); y (M,); sigma > 0 a scalar.

    Returns GMMPosterior with
        π̃_k ∝ π_k N(y; A m_k, S_k),  S_k = A Σ_k Aᵀ + σ² I,
        m̃_k = m_k + K_k (y − A m_k),  Σ̃_k = Σ_k − K_k A Σ_k,  K_k = Σ_k Aᵀ S_k⁻¹
        (= (Σ_k⁻¹ + AᵀA/σ²)⁻¹ and Σ̃_k (Aᵀy/σ² + Σ_k⁻¹ m_k)),
        log_evidence = log Σ_k π_k N(y; A m_k, S_k).
    Raises ValueError naming the argument whose shape does not fit.
    """
    log_w, means, kind, cov = gmm_prior(weights, means, covs, what="gmm_posterior")
    k, d = means.shape
    A, y, sigma = jnp.asarray(A), jnp.asarray(y), jnp.asarray(sigma)
    if A.ndim != 2 or A.shape[1] != d:
        raise ValueError(f"gmm_posterior: `A` must have shape (M, D) = (M, {d}) to match `means` {means.shape}, "
                         f"got {A.shape}")
    m = A.shape[0]
    if y.shape != (m,):
        raise ValueError(f"gmm_posterior: `y` must have shape (M,) = ({m},) to match `A` {A.shape}, got {y.shape}")
    if sigma.ndim != 0:
        raise ValueError(f"gmm_posterior: `sigma` must be a scalar noise sd, got shape {sigma.shape}")
    dtype = float_dtype(means, cov, A, y, sigma)
    means, cov, A, y, sigma = (v.astype(dtype) for v in (means, cov, A, y, sigma))
    log_w = log_w.astype(dtype)
    s2 = sigma ** 2

    if kind == "diag":
        sig_at = cov[:, :, None] * A.T  # Σ_k Aᵀ, (K, D, M): a row scaling, no D × D
        full_cov = jax.vmap(jnp.diag)(cov)  # the prior covariance, only for the posterior's (D, D)
    else:
        sig_at = jnp.einsum("kij,mj->kim", cov, A)
        full_cov = cov
    innov = jnp.einsum("md,kdn->kmn", A, sig_at) + s2 * jnp.eye(m, dtype=dtype)  # S_k, (K, M, M)
    innov = 0.5 * (innov + jnp.swapaxes(innov, -1, -2))
    chol_s = jnp.linalg.cholesky(innov)
    resid = y - means @ A.T  # y − A m_k, (K, M)
    # K_kᵀ = S_k⁻¹ A Σ_k  (S_k symmetric): (K, M, D)
    gain_t = cho_solve((chol_s, True), jnp.swapaxes(sig_at, -1, -2))
    gain = jnp.swapaxes(gain_t, -1, -2)  # (K, D, M)
    post_means = means + jnp.einsum("kdm,km->kd", gain, resid)
    i_ka = jnp.eye(d, dtype=dtype) - jnp.einsum("kdm,mj->kdj", gain, A)  # I − K_k A
    post_covs = (jnp.einsum("kij,kjl,kml->kim", i_ka, full_cov, i_ka)
                 + s2 * jnp.einsum("kim,kjm->kij", gain, gain))
    post_covs = 0.5 * (post_covs + jnp.swapaxes(post_covs, -1, -2))

    # log N(y; A m_k, S_k) through the Cholesky factor of S_k
    z = solve_triangular(chol_s, resid[..., None], lower=True)[..., 0]
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol_s, axis1=-2, axis2=-1)), axis=-1)
    log_lik = -0.5 * jnp.sum(z * z, axis=-1) - half_logdet - 0.5 * m * LOG_2PI
    joint = log_w + log_lik
    log_evidence = logsumexp(joint)
    post_w = jnp.exp(joint - log_evidence)
    return GMMPosterior(post_w, post_means, post_covs, log_evidence)


def sliced_wasserstein(x, y, key, projections: int = 100):
    """The sliced Wasserstein-2 distance between two samples x (n, D) and y (n', D):
    the mean over `projections` random unit directions u (uniform on the sphere)
    of the 1-D Wasserstein-2 distance W₂(u·x, u·y).

    With n = n' the 1-D W₂ is exact between the two empirical distributions,
    √(mean_i (x₍ᵢ₎ − y₍ᵢ₎)²) over the sorted projections.  With n ≠ n' both
    empirical quantile functions are interpolated linearly at the levels
    (i + ½)/N, N = max(n, n'), and compared there.  1-D samples (n,) are read
    as (n, 1).  Between two samples of the same distribution the value is not
    0 but a Monte Carlo floor of order n^(-1/2).
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"sliced_wasserstein: `x` and `y` must be (n, D) samples of the same dimension, got "
                         f"{x.shape} and {y.shape}")
    dtype = float_dtype(x, y)
    x, y = x.astype(dtype), y.astype(dtype)
    u = jax.random.normal(key, (projections, x.shape[1]), dtype)
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    px, py = jnp.sort(x @ u.T, axis=0), jnp.sort(y @ u.T, axis=0)  # (n, P), (n', P)
    if px.shape[0] != py.shape[0]:
        n = max(px.shape[0], py.shape[0])
        levels = (jnp.arange(n, dtype=dtype) + 0.5) / n

        def quantiles(p):
            grid = (jnp.arange(p.shape[0], dtype=dtype) + 0.5) / p.shape[0]
            return jax.vmap(lambda col: jnp.interp(levels, grid, col), in_axes=1, out_axes=1)(p)

        px, py = quantiles(px), quantiles(py)
    return jnp.mean(jnp.sqrt(jnp.mean((px - py) ** 2, axis=0)))
