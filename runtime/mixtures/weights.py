"""The mixing weights' side of every mixture method, given (soft) counts per component.

For a `WeightPrior` and counts n (K,) (hard counts, or summed responsibilities):

- `expected_log_weights`: E_q[log π_k] under the posterior q(π | n) (variational Bayes).
- `map_weights`: the posterior mode of π (EM's M-step; for the DP, the mode of the sticks).
- `sample_weights`: a draw of π from p(π | n) (blocked Gibbs, vi's draws).
- `sample_partition_weights`: π given a partition under the DP itself, Dir(n_1..n_B, α) with α
  shared by the empty slots (collapsed Gibbs and split–merge outputs).
- `log_prior_weights`: log p(π) in the coordinates `map_weights` maximizes over.
- `collapsed_log_predictive`: log p(z_new = k | n) up to a constant, π integrated out
  (collapsed Gibbs): log(n_k + a_k) for a Dirichlet; for the DP (Chinese restaurant
  process) log n_k for an occupied k and log(alpha / #empty) for each empty slot, so that the
  empty slots together carry alpha (they are exchangeable, any one stands for "a new one").

With prototypes (`groups`), π_k = w[c_k] · v_k, w ~ prior over classes and v within each class
~ Dirichlet(within): every quantity factorizes into a class term and a within-class term.
Stick-breaking: w_k = v_k ∏_{j<k} (1 − v_j), q(v_k) = Beta(1 + n_k, alpha + Σ_{j>k} n_j)
(Blei & Jordan 2006, "Variational inference for Dirichlet process mixtures", eq. 18–19).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln

from .problem import WeightPrior


def _class_counts(prior: WeightPrior, counts):
    """(C,) counts per class (the counts themselves without prototypes)."""
    if prior.groups is None:
        return counts
    g = jnp.asarray(prior.groups)
    return jax.ops.segment_sum(counts, g, num_segments=prior.size)


def _tail_sums(n):
    """Σ_{j>k} n_j for each k."""
    return jnp.cumsum(n[::-1])[::-1] - n


def _within(prior: WeightPrior, counts):
    """b + n of each component, and the total of b + n over its class."""
    g = jnp.asarray(prior.groups)
    b = jnp.asarray(prior.within, counts.dtype) + counts
    tot = jax.ops.segment_sum(b, g, num_segments=prior.size)[g]
    return b, tot


def _class_expected_log(prior: WeightPrior, n):
    if prior.kind == "fixed":
        return jnp.log(jnp.asarray(prior.fixed, n.dtype))
    if prior.kind == "dirichlet":
        a = jnp.asarray(prior.concentration, n.dtype) + n
        return digamma(a) - digamma(jnp.sum(a))
    a, b = 1.0 + n, prior.alpha + _tail_sums(n)
    e_log_v = digamma(a) - digamma(a + b)
    e_log_1mv = digamma(b) - digamma(a + b)
    e_log_v = e_log_v.at[-1].set(0.0)  # v_K = 1
    return e_log_v + jnp.concatenate([jnp.zeros(1, n.dtype), jnp.cumsum(e_log_1mv[:-1])])


def expected_log_weights(prior: WeightPrior, counts):
    """E_q[log π_k] (K,) under q(π) = p(π | counts)."""
    counts = jnp.asarray(counts)
    out = _class_expected_log(prior, _class_counts(prior, counts))
    if prior.groups is None:
        return out
    b, tot = _within(prior, counts)
    return out[jnp.asarray(prior.groups)] + digamma(b) - digamma(tot)


def _class_mode(prior: WeightPrior, n):
    if prior.kind == "fixed":
        return jnp.asarray(prior.fixed, n.dtype)
    if prior.kind == "dirichlet":
        a = jnp.maximum(n + jnp.asarray(prior.concentration, n.dtype) - 1.0, 0.0)
        return jnp.where(jnp.sum(a) > 0, a / jnp.maximum(jnp.sum(a), 1e-300), 1.0 / n.shape[0])
    m = _tail_sums(n)
    den = n + prior.alpha + m - 1.0
    v = jnp.clip(jnp.where(den > 0, n / jnp.where(den > 0, den, 1.0), 1.0), 0.0, 1.0).at[-1].set(1.0)
    return _sticks_to_weights(v)


def _sticks_to_weights(v):
    log1m = jnp.concatenate([jnp.zeros(1, v.dtype), jnp.cumsum(jnp.log1p(-jnp.minimum(v[:-1], 1.0)))])
    return v * jnp.exp(log1m)


def map_weights(prior: WeightPrior, counts):
    """The posterior mode of π (K,) given counts (Dirichlet: (n + a − 1)₊ normalized; DP: the
    mode of each stick, Beta(1 + n_k, alpha + Σ_{j>k} n_j))."""
    counts = jnp.asarray(counts)
    w = _class_mode(prior, _class_counts(prior, counts))
    if prior.groups is None:
        return w
    g = jnp.asarray(prior.groups)
    b = jnp.maximum(jnp.asarray(prior.within, counts.dtype) + counts - 1.0, 0.0)
    tot = jax.ops.segment_sum(b, g, num_segments=prior.size)[g]
    size = jax.ops.segment_sum(jnp.ones_like(b), g, num_segments=prior.size)[g]
    v = jnp.where(tot > 0, b / jnp.where(tot > 0, tot, 1.0), 1.0 / size)
    return w[g] * v


def _class_sample(prior: WeightPrior, n, key):
    if prior.kind == "fixed":
        return jnp.asarray(prior.fixed, n.dtype)
    if prior.kind == "dirichlet":
        return _dirichlet(key, jnp.asarray(prior.concentration, n.dtype) + n)
    v = jax.random.beta(key, 1.0 + n, prior.alpha + _tail_sums(n), dtype=n.dtype).at[-1].set(1.0)
    return _sticks_to_weights(v)


def _dirichlet(key, a):
    """A Dirichlet draw via log-gammas, so that tiny concentrations do not underflow to 0/0."""
    log_g = jax.random.loggamma(key, a, dtype=a.dtype)
    return jnp.exp(log_g - jax.scipy.special.logsumexp(log_g))


def sample_weights(prior: WeightPrior, counts, key):
    """A draw of π (K,) from p(π | counts)."""
    counts = jnp.asarray(counts)
    k1, k2 = jax.random.split(key)
    w = _class_sample(prior, _class_counts(prior, counts), k1)
    if prior.groups is None:
        return w
    g = jnp.asarray(prior.groups)
    b = jnp.asarray(prior.within, counts.dtype) + counts
    log_g = jax.random.loggamma(k2, b, dtype=b.dtype)
    # normalize within each class
    mx = jax.ops.segment_max(log_g, g, num_segments=prior.size)[g]
    e = jnp.exp(log_g - mx)
    v = e / jax.ops.segment_sum(e, g, num_segments=prior.size)[g]
    return w[g] * v


def sample_partition_weights(prior: WeightPrior, counts, key):
    """A draw of π (K,) given a partition's counts, for the samplers that target the DP's own
    posterior over partitions (collapsed `gibbs`, `split_merge`); other priors: `sample_weights`.

    Given the partition, the DP's weights of the B occupied atoms and the mass left for new
    atoms are (π_1, …, π_B, π_new) ~ Dir(n_1, …, n_B, α) (Ferguson 1973; Chang & Fisher 2013,
    eq. 5), whatever the slots' order.  On the K slots π_new is shared by the E empty slots,
    exchangeable, as Dir(α/E, …, α/E) (aggregation keeps the joint law above), so E[π_k | z] is
    n_k/(N + α) for an occupied slot and α/(E (N + α)) for an empty one: the collapsed sweep's
    own predictive (`collapsed_log_predictive`).  With no slot empty (the truncation reached)
    π ~ Dir(n)."""
    n = jnp.asarray(counts)
    if prior.kind != "dp":
        return sample_weights(prior, n, key)
    occupied = n > 0
    n_empty = jnp.sum(~occupied)
    conc = jnp.where(occupied, n, prior.alpha / jnp.maximum(n_empty, 1).astype(n.dtype))
    return _dirichlet(key, conc)


def _dirichlet_logpdf(x, a):
    return gammaln(jnp.sum(a)) - jnp.sum(gammaln(a)) + jnp.sum(jnp.where(a == 1.0, 0.0, (a - 1.0) * jnp.log(x)))


def log_prior_weights(prior: WeightPrior, weights):
    """log p(π) (a scalar): the Dirichlet density, or for the DP the Beta(1, alpha) densities of
    the sticks v_k = π_k / (1 − Σ_{j<k} π_j) (the coordinates `map_weights` maximizes over)."""
    pi = jnp.asarray(weights)
    if prior.groups is not None:
        g = jnp.asarray(prior.groups)
        w = jax.ops.segment_sum(pi, g, num_segments=prior.size)
        v = pi / w[g]
        within = jnp.asarray(prior.within, pi.dtype)
        lp = 0.0
        for c in range(prior.size):  # a few classes: a Python loop over them is fine
            idx = jnp.asarray([k for k in range(len(prior.groups)) if int(prior.groups[k]) == c])
            lp = lp + _dirichlet_logpdf(v[idx], within[idx])
        return lp + _class_log_prior(prior, w)
    return _class_log_prior(prior, pi)


def _class_log_prior(prior: WeightPrior, w):
    if prior.kind == "fixed":
        return jnp.zeros((), w.dtype)
    if prior.kind == "dirichlet":
        return _dirichlet_logpdf(w, jnp.asarray(prior.concentration, w.dtype))
    rest = 1.0 - jnp.concatenate([jnp.zeros(1, w.dtype), jnp.cumsum(w[:-1])])
    v = jnp.clip(w[:-1] / jnp.maximum(rest[:-1], 1e-300), 0.0, 1.0)
    return jnp.sum(jnp.log(prior.alpha) + (prior.alpha - 1.0) * jnp.log1p(-v))


def collapsed_log_predictive(prior: WeightPrior, counts):
    """log p(z_new = k | counts) (K,), up to a constant, with π integrated out."""
    n = jnp.asarray(counts)
    if prior.kind == "fixed" and prior.groups is None:
        return jnp.log(jnp.asarray(prior.fixed, n.dtype))
    if prior.kind == "dp":
        occupied = n > 0
        n_empty = jnp.sum(~occupied)
        new = jnp.where(n_empty > 0, jnp.log(prior.alpha) - jnp.log(jnp.maximum(n_empty, 1)), -jnp.inf)
        return jnp.where(occupied, jnp.log(jnp.where(occupied, n, 1.0)), new)
    nc = _class_counts(prior, n)
    cls = jnp.log(jnp.asarray(prior.fixed, n.dtype)) if prior.kind == "fixed" else \
        jnp.log(nc + jnp.asarray(prior.concentration, n.dtype))
    if prior.groups is None:
        return cls
    b, tot = _within(prior, n)
    return cls[jnp.asarray(prior.groups)] + jnp.log(b) - jnp.log(tot)
