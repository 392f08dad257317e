"""A diffusion prior as the samplers see it: a denoiser x_t ↦ (x̂₀, ε̂) at every noise level.

x_t = α_t x₀ + σ_t ε (runtime/schedules.py).  A network predicts one of ε, x₀, the score
∇log p_t = −ε/σ_t, or v = α_t ε − σ_t x₀ (Salimans & Ho 2022); `x0_and_eps` turns any of them
into the pair the samplers use, with plain arithmetic so that it runs on JAX and PyTorch
arrays alike.  An analytic prior (`gaussian`, `gmm`) gives the exact pair through the closed
form noised score (runtime/analytic_scores.py), so the samplers' only error is their own.

Everything here is in the network's coordinates: the model's data map (its declared range to
the network's) is applied to the measurement instead (compiler/inverse.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from .schedules import Schedule


def x0_and_eps(pred, kind: str, x, alpha, sigma) -> tuple:
    """(x̂₀, ε̂) from a prediction of `kind` at x_t = x, by x = α x̂₀ + σ ε̂ (and, for "v",
    solving [α σ; −σ α][x₀; ε] = [x; v])."""
    if kind == "eps":
        return (x - sigma * pred) / alpha, pred
    if kind == "x0":
        return pred, (x - alpha * pred) / sigma
    if kind == "score":
        return (x + sigma * sigma * pred) / alpha, -sigma * pred
    norm = alpha * alpha + sigma * sigma
    return (alpha * x - sigma * pred) / norm, (sigma * x + alpha * pred) / norm


@dataclass(frozen=True)
class DiffusionPrior:
    """A prior on arrays of `shape` through its noising process `schedule`.

    - `predict(x, t, alpha, sigma)`: the prediction of kind `predicts` for a batch x of shape
      (P, *shape) at time t (a scalar; the network gets it as a (P,) vector).
    - `mean`, `var`: a Gaussian approximation N(mean, var I) of the prior (in network
      coordinates; `mean` a scalar or an array of `shape`), for `teleport`; None when unknown.
    - `exact`: the prediction is the exact one (an analytic prior).
    """

    schedule: Schedule
    predict: Callable
    predicts: str
    shape: tuple
    backend: Any
    mean: Optional[float] = None
    var: Optional[float] = None
    exact: bool = False
    description: str = ""
    cov: Any = None  # (D, D) covariance of the prior (analytic priors), for teleport's full Gaussian approximation

    def x0_and_eps(self, x, t, alpha, sigma) -> tuple:
        """(x̂₀(x_t), ε̂(x_t)) for the batch x at time t, with α = α_t, σ = σ_t."""
        return x0_and_eps(self.predict(x, t, alpha, sigma), self.predicts, x, alpha, sigma)


def analytic_prior(weights, means, covs, schedule: Schedule, shape: tuple, backend) -> DiffusionPrior:
    """A `gaussian`/`gmm` prior with its exact noised score, Σ_k π_k N(α m_k, α² Σ_k + σ² I)."""
    import jax.numpy as jnp
    import numpy as np

    from .analytic_scores import gmm_noised_score, gmm_prior

    log_w, m, kind, cov = gmm_prior(weights, means, covs, "the prior")
    dtype = backend.dtype
    log_w, m, cov = log_w.astype(dtype), m.astype(dtype), cov.astype(dtype)
    d = int(np.prod(shape))
    if m.shape[1] != d:
        raise ValueError(f"the prior's means have {m.shape[1]} elements but the parameter has shape {shape} ({d})")
    w = jnp.exp(log_w)

    def predict(x, t, alpha, sigma):
        flat = jnp.reshape(x, (x.shape[0], d))
        return jnp.reshape(gmm_noised_score(flat, alpha, sigma, w, m, cov), x.shape)

    # moments of the mixture, for teleport's isotropic Gaussian approximation
    mean_vec = jnp.sum(w[:, None] * m, axis=0)
    tr = jnp.sum(cov, axis=1) if kind == "diag" else jnp.trace(cov, axis1=1, axis2=2)
    var = float(jnp.sum(w * (tr + jnp.sum((m - mean_vec) ** 2, axis=1))) / d)
    full = None
    if d <= MAX_DENSE_TELEPORT:  # Σ_k w_k (Σ_k + (m_k − m)(m_k − m)ᵀ): the moment-matched Gaussian, exact for `gaussian`
        w64, m64, c64 = (np.asarray(a, np.float64) for a in (w, m, cov))
        dev = m64 - w64 @ m64
        covs = np.stack([np.diag(c) for c in c64]) if kind == "diag" else c64
        full = np.einsum("k,kij->ij", w64, covs) + np.einsum("k,ki,kj->ij", w64, dev, dev)
    return DiffusionPrior(schedule, predict, "score", tuple(shape), backend, np.asarray(mean_vec).reshape(shape), var,
                          exact=True, description=f"analytic ({m.shape[0]} component{'s' if m.shape[0] > 1 else ''})",
                          cov=full)


MAX_DENSE_TELEPORT = 4096  # elements: above, teleport approximates an analytic prior by N(m, v I) too
