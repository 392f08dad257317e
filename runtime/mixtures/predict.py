"""Cluster probabilities of new points under a fitted mixture posterior.

p(z* = k | x*, data) ≈ (1/S) Σ_s π_k^(s) f(x*; θ_k^(s)) / Σ_j π_j^(s) f(x*; θ_j^(s)) over S
posterior draws (EM: the one MAP draw; VI: draws from q), after relabelling, so that component
k means the same thing in every draw.  With several components per class the probabilities
of a class's components are summed.
"""

from __future__ import annotations

import math

import numpy as np


def _component_log_density(meta: dict, draw: dict, X: np.ndarray) -> np.ndarray:
    """(M, K) log f(x_m; θ_k) for one draw's parameters."""
    import jax
    import jax.numpy as jnp

    from .conjugate import log_normalizer_vmf, mvnormal_logpdf
    names = meta["names"]
    K = meta["K"]
    with jax.enable_x64(True):
        mu = jnp.asarray(draw[names["means"]], jnp.float64).reshape(K, -1)
        Xj = jnp.asarray(X, jnp.float64).reshape(X.shape[0], -1)
        if meta["family"] == "vmf":
            kappa = draw.get(names.get("concentration"), meta.get("kappa"))
            kappa = jnp.broadcast_to(jnp.asarray(kappa, jnp.float64), (K,))
            return np.asarray(kappa[None] * (Xj @ mu.T) + log_normalizer_vmf(kappa, mu.shape[1])[None])
        cov = draw[names["covariances"]] if "covariances" in names else meta["cov"]
        cov = jnp.asarray(cov, jnp.float64).reshape(K, mu.shape[1], mu.shape[1])
        return np.asarray(mvnormal_logpdf(Xj, mu, cov))


def _flat_weights(meta: dict, draw: dict) -> np.ndarray:
    names, g = meta["names"], meta["groups"]
    if g is None:
        return np.asarray(draw[names["weights"]] if "weights" in names else meta["fixed_weights"], float)
    g = np.asarray(g)
    w = np.asarray(draw[names["weights"]] if "weights" in names else meta["fixed_weights"], float)
    v = np.asarray(draw[names["within"]], float).reshape(-1)
    return w[g] * v


def predict_proba(post, X, max_draws: int = 200) -> np.ndarray:
    """(M, C) p(class | x*) for new points X (M, D) (classes are components without prototypes)."""
    meta = post.settings.get("mixture")
    if meta is None:
        from augury.errors import AuguryInferenceError
        raise AuguryInferenceError(f"`predict` is for mixture posteriors (em, vi, gibbs, split_merge), and this one "
                                   f"is from `{post.method}`")
    from augury.errors import AuguryInferenceError
    try:
        X = np.asarray(X, float)
    except (TypeError, ValueError) as ex:
        raise AuguryInferenceError("`predict` takes the new points as an array of numbers (M, D)",
                                   notes=[str(ex)]) from None
    if X.size == 0:  # as scikit-learn's predict: no points is a mistake, not an empty answer
        raise AuguryInferenceError(f"`predict` needs at least one new point, and got an empty array of shape {X.shape}")
    D = _dim(post, meta)
    if X.ndim == 1:
        X = X[:, None] if D == 1 else X[None]
    if X.ndim != 2 or X.shape[1] != D:
        raise AuguryInferenceError(f"`predict` takes new points of shape (M, {D}), not {np.shape(X)}")
    if not np.all(np.isfinite(X)):
        raise AuguryInferenceError("`predict`: the new points hold NaN or infinity")
    if meta["family"] == "vmf" and not np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-6):
        raise AuguryInferenceError("`predict`: von Mises–Fisher points are unit vectors; normalize the rows (x / |x|)")
    n = post.num_samples
    idx = np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))
    keep = {k: post.samples(k)[idx] for k in post.names}
    total = 0.0
    for j in range(len(idx)):
        draw = {k: v[j] for k, v in keep.items()}
        logp = _component_log_density(meta, draw, X) + np.log(np.maximum(_flat_weights(meta, draw), 1e-300))[None]
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        total = total + p / p.sum(axis=1, keepdims=True)
    probs = total / len(idx)
    if meta["groups"] is not None:
        g = np.asarray(meta["groups"])
        probs = np.stack([probs[:, g == c].sum(axis=1) for c in range(int(g.max()) + 1)], axis=1)
    return probs


def _dim(post, meta) -> int:
    shape = post.shape(meta["names"]["means"])
    return int(math.prod(shape) // meta["K"])
