"""Exact posteriors of small mixtures (N <= 8) by enumeration, for the samplers' exact tests.

`partition_posterior(problem)` enumerates every partition of the N points (restricted growth
strings; Bell(8) = 4140) consistent with the observed labels and returns them with their
exact posterior probabilities, the component parameters integrated out (conjugate priors):

    p(partition | X) ∝ p(partition) ∏_blocks p(X_block)

with p(partition) the Chinese restaurant process's α^B Γ(α) / Γ(α + N) ∏ Γ(n_b) for a DP, and
for a finite Dirichlet(a_1..a_K) the sum over the labelings of the blocks by distinct
components, ∏ Γ(a_k + n_k)/Γ(a_k) · Γ(A)/Γ(A + N) (A = Σ a_k).  Observed labels name
components: a labelled block must carry its label, two labels never share a block.

Summaries to compare sampler frequencies against: `num_blocks_pmf` and `coclustering`; and for
the weights drawn given the labels, `cluster_weight_mean` (the weight of a point's component).
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import gammaln, logsumexp

from augury.runtime.mixtures import conjugate
from augury.runtime.mixtures.problem import MixtureProblem


def partitions(n: int):
    """Every partition of range(n) as a restricted growth string (tuple of block indices)."""
    def rec(prefix, m):
        if len(prefix) == n:
            yield tuple(prefix)
            return
        for b in range(m + 1):
            yield from rec(prefix + [b], max(m, b + 1))
    yield from rec([], 0)


def _block_log_marginals(problem: MixtureProblem, blocks: list[tuple[int, ...]]) -> np.ndarray:
    with jax.enable_x64(True):
        X = jnp.asarray(problem.X, jnp.float64)
        R = np.zeros((X.shape[0], len(blocks)))
        for j, b in enumerate(blocks):
            R[list(b), j] = 1.0
        n, s1, s2 = conjugate.stats(X, jnp.asarray(R))
        out = []
        for j in range(len(blocks)):  # one component at a time: the known-covariance form takes (K, D, D)
            sub = _single(problem)
            out.append(float(conjugate.log_marginal(sub, n[j:j + 1], s1[j:j + 1], s2[j:j + 1])[0]))
        return np.asarray(out)


def _single(problem: MixtureProblem) -> MixtureProblem:
    """The problem with one component's known covariance (blocks share the first component's)."""
    from dataclasses import replace
    if problem.family == "gaussian" and problem.gaussian.kind == "known_cov":
        cov = np.asarray(problem.gaussian.cov)
        if not np.allclose(cov, cov[:1]):
            raise ValueError("the enumeration needs one covariance shared by the components")
        return replace(problem, gaussian=replace(problem.gaussian, cov=cov[:1]))
    return problem


def _labelings(a: np.ndarray, sizes: list[int], labels_of_blocks: list[int]):
    """Every labeling of the blocks by distinct components of a Dirichlet(a) (labelled blocks keep
    their label), with its log ∏_b Γ(a_k + n_b)/Γ(a_k)."""
    K = len(a)
    free = [i for i, lab in enumerate(labels_of_blocks) if lab < 0]
    taken = {lab for lab in labels_of_blocks if lab >= 0}
    rest = [k for k in range(K) if k not in taken]
    for chosen in itertools.permutations(rest, len(free)):
        ks = list(labels_of_blocks)
        for i, k in zip(free, chosen):
            ks[i] = k
        yield ks, float(sum(gammaln(a[k] + s) - gammaln(a[k]) for k, s in zip(ks, sizes)))


def _log_prior(problem: MixtureProblem, sizes: list[int], labels_of_blocks: list[int]) -> float:
    w = problem.weights
    N = sum(sizes)
    if w.kind == "dp":
        B = len(sizes)
        return B * math.log(w.alpha) + math.lgamma(w.alpha) - math.lgamma(w.alpha + N) + sum(math.lgamma(s) for s in sizes)
    if w.kind != "dirichlet" or w.groups is not None:
        raise ValueError("the enumeration covers Dirichlet and DP weights without prototypes")
    a = np.asarray(w.concentration, float)
    terms = [t for _, t in _labelings(a, sizes, labels_of_blocks)]
    if not terms:
        return -math.inf
    return float(logsumexp(terms)) + math.lgamma(float(a.sum())) - math.lgamma(float(a.sum()) + N)


def partition_posterior(problem: MixtureProblem):
    """(list of partitions as tuples, probabilities (P,)) of every partition consistent with
    the observed labels."""
    labels = np.asarray(problem.labels)
    n = len(labels)
    cache: dict = {}
    parts, logps = [], []
    for p in partitions(n):
        blocks = [tuple(i for i in range(n) if p[i] == b) for b in range(max(p) + 1)]
        labs = []
        ok = True
        for b in blocks:
            seen = {int(labels[i]) for i in b if labels[i] >= 0}
            if len(seen) > 1:
                ok = False
                break
            labs.append(seen.pop() if seen else -1)
        if not ok:
            continue
        lp = _log_prior(problem, [len(b) for b in blocks], labs)
        if lp == -math.inf:
            continue
        new = [b for b in blocks if b not in cache]
        if new:
            cache.update(zip(new, _block_log_marginals(problem, new)))
        parts.append(p)
        logps.append(lp + sum(cache[b] for b in blocks))
    logps = np.asarray(logps)
    return parts, np.exp(logps - logsumexp(logps))


def num_blocks_pmf(parts, probs) -> dict[int, float]:
    out: dict[int, float] = {}
    for p, q in zip(parts, probs):
        out[max(p) + 1] = out.get(max(p) + 1, 0.0) + float(q)
    return out


def coclustering(parts, probs) -> np.ndarray:
    """(N, N): the posterior probability that points i and j share a component."""
    P = np.asarray(parts)
    same = P[:, :, None] == P[:, None, :]
    return np.tensordot(np.asarray(probs), same.astype(float), axes=1)


def canonical(z: np.ndarray) -> tuple[int, ...]:
    """An assignment vector as its partition's restricted growth string."""
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(int(k), len(seen)) for k in z)


def cluster_weight_mean(problem: MixtureProblem, parts, probs, point: int = 0) -> float:
    """E[π_{z_point} | X]: the exact posterior mean of the weight of `point`'s component, with the
    weights drawn given the labels as the samplers do:

    - DP on K slots (collapsed gibbs, split_merge): given a partition with blocks of sizes n_b,
      (π_1..π_B, π_new) ~ Dir(n_1..n_B, α), π_new on the K − B empty slots; with no slot empty
      (B = K) π ~ Dir(n).  So E[π_b | partition] = n_b / (N + α [B < K]).  The enumeration's
      partition posterior is the CRP's, which the K-slot chain targets only when K ≥ N (below,
      partitions of more than K blocks have no slots), so smaller K is refused.
    - Dirichlet(a): π | z ~ Dir(a + n), E[π_k | z] = (a_k + n_k)/(A + N), averaged over the
      labelings of the partition's blocks by components (∝ ∏ Γ(a_k + n_k)/Γ(a_k)).
    """
    w = problem.weights
    labels = np.asarray(problem.labels)
    N = len(labels)
    total = 0.0
    for p, q in zip(parts, probs):
        blocks = [tuple(i for i in range(N) if p[i] == b) for b in range(max(p) + 1)]
        sizes = [len(b) for b in blocks]
        n0 = sizes[p[point]]
        if w.kind == "dp":
            if problem.K < N:
                raise ValueError("the CRP enumeration is the K-slot DP chain's target only for K >= N")
            total += float(q) * n0 / (N + (w.alpha if len(blocks) < problem.K else 0.0))
            continue
        a = np.asarray(w.concentration, float)
        labs = [next((int(labels[i]) for i in b if labels[i] >= 0), -1) for b in blocks]
        ls = list(_labelings(a, sizes, labs))
        lw = np.asarray([t for _, t in ls])
        pw = np.exp(lw - logsumexp(lw))
        means = np.asarray([(a[ks[p[point]]] + n0) / (a.sum() + N) for ks, _ in ls])
        total += float(q) * float(pw @ means)
    return total
