r"""Split–merge MCMC for Dirichlet-process mixtures with conjugate components, after Chang &
Fisher (2013), "Parallel sampling of DP mixture models using sub-cluster splits" (NIPS), made
exact on the partition space.

The model: π ~ DP(α) (K slots: the model's simplex size caps the occupied clusters), x_i | z_i
~ f(·; θ_{z_i}), θ_k from a conjugate prior (NIW, known covariance, vMF with fixed κ).  The
chain's target is the DP posterior over partitions, p(z | x) ∝ α^B ∏_b Γ(n_b) m(x_b)
(m = `conjugate.log_marginal`), the B blocks placed on the free slots uniformly at random
(observed labels pin their blocks to the label's slot).  One iteration, vectorized over points
(sufficient statistics are one-hot reductions, so sharded points reduce across devices):

1. **Split / merge** (Chang & Fisher §5; Jain & Neal 2004 for the launch), `_PROPOSALS` moves
   in sequence, each a Metropolis–Hastings move on the partition with auxiliary choices
   (slot, kind, partner, anchors, launch) whose probabilities enter the ratio in both directions:
   an occupied slot c is drawn uniformly (1/B); with probability ½ it is proposed **split**:
   anchors i ∈ c uniform (1/n_c) and j ∈ c \ {i} unlabelled uniform (1/m_j), the new side goes to
   a uniformly drawn empty slot (1/E); with probability ½ it is proposed **merged** with a partner
   t drawn by `_partner_logw` (½ softmax of the merge's posterior ratio, ½ uniform: a tiny
   cluster is proposed merged with its best neighbour, not with a random slot), the merged
   cluster keeping the labelled slot, else either with probability ½, anchors i, j uniform in
   the kept and the other part.  Both directions use the same *sub-cluster launch* of the union
   U: sub-labels start from the nearer anchor, then `_LAUNCH_SWEEPS` restricted sweeps of the
   paper's sub-cluster updates (its eq. 6–8: π̄ ~ Dir(n_l + α/2, n_r + α/2), θ̄_h from the
   conjugate posterior, z̄ ∝ π̄_h f(x; θ̄_h)); a last draw of (π̄, θ̄) gives per-point sub-label
   probabilities w_i(h), and q = ∏_{i free} w_i(z̄_i) is the probability of the proposed (split)
   or reinstated (merge) sub-labels.  With the paper's split ratio (its eq. 12)

       H_split = α Γ(n_l) m(x_l) Γ(n_r) m(x_r) / (Γ(n) m(x)),

   a split is accepted with log ratio  log H_split + log P_merge − log P_split  and a merge with
   its negative, where P_merge = (1/B_split)(½)(w_k(o) + w_o(k)) P(keep k) / (n_l n_r) is the
   merge proposal's probability from the split state (either slot may be drawn first) and
   P_split = (1/B_merged)(½)(1/n)(1/m_j) q the split proposal's from the merged state.  The 1/E
   of the new slot cancels against the target's 1/E (the B blocks are placed on the free slots
   uniformly at random).
   Then `point_moves` collapsed single-point moves (Neal 2000, Algorithm 3; `_point_moves`),
   which make and end small clusters one point at a time (`point_moves`, below).
2. **Weights and parameters** given z (the paper's eq. 5): (π_1..π_B, π_new) ~ Dir(n_1..n_B, α),
   θ_k ~ p(θ | x_k).  These with z are the recorded draw.
3. **Restricted Gibbs** over the occupied clusters (no new cluster; the paper's eq. 6): all z_i
   drawn in parallel ∝ π_k f(x_i; θ_k).  The exact conditional of z given (π, θ) lives on the
   assignments that keep every occupied cluster occupied, so one random member of each cluster
   is held in place and the parallel draw is accepted with probability min(1, ∏_k n_k / n'_k)
   (the reverse move holds one random member of each cluster of the new state; ≈ 1 on large
   data).  Labelled points never move.

Speed: statistics are segment sums of per-point features [1, x, vec(x xᵀ)]; component
densities use precisions drawn directly (Bartlett, no Cholesky of Σ) and fused elementwise
quadratic forms; the label step gathers the occupied slots into 16 or 32 columns when they fit
(`_widths`) and draws each label by inverting its CDF with one uniform (a Gumbel per entry
would cost N·K random numbers).

Why not the paper's persistent sub-clusters.  Chang & Fisher keep each cluster's sub-clusters
from iteration to iteration and split a cluster along them.  Their sub-cluster state has a
target whose normalizer (the marginal likelihood of a two-component mixture of the cluster's
points) is intractable, and the paper's split ratio (without the Dirichlet–multinomial term
of the sub-labels) is not the reciprocal of its merge ratio (its eq. 15, which has it), so on a
handful of points the chain is visibly off the DP posterior.  Here the sub-clusters are
launched afresh from two anchors at each proposal: a few cheap parallel sweeps, the same
sub-cluster updates, and ratios that are exact.  On well-separated data the launch splits a
cluster along its sub-clusters and q ≈ 1, so the acceptance is the paper's H_split.

Observed labels (generalized category discovery): a labelled point never changes component.
In a launch every labelled point sits in sub-cluster l (the side that keeps the slot), so a
split keeps the label with its component; the anchor j that starts sub-cluster r must be
unlabelled; a cluster holding labelled points is never merged into another (two labelled
components never merge).

Outputs: "assignment", "weights" (π given z from `weights.sample_partition_weights`: the occupied
slots' weights and the new components' mass, (π_1..π_B, π_new) ~ Dir(n_1..n_B, α), π_new shared
by the empty slots, so that the weight of a point's cluster has its DP posterior, mean
n_b/(N + α)), "means" and, for NIW,
"covariances" (drawn given the recorded z; unused slots hold prior draws).
"""

from __future__ import annotations

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from augury.errors import AuguryInferenceError

from ..mixtures import conjugate, weights
from ..mixtures.problem import MixtureProblem, refuse_overflowing_points
from ..mixtures.result import MixtureResult
from ..mixtures.problem import fingerprint as _fingerprint
from ..mixtures.sharding import shard_points
from ..mixtures.fast_draws import categorical_by_cdf, log_gamma, segment_argmax, uniform_member
from ..mixtures.segments import concatenated, run_segments


# the driver's per-element R-hat and ESS are meaningless for labels and component slots that switch;
# the diagnostics are label-invariant ones (outputs.mixture_draws)
OWN_WEIGHT_WARNINGS = True

_LAUNCH_SWEEPS = 6      # restricted Gibbs sweeps of the two sub-clusters before the proposal
_PROPOSALS = 2          # split-or-merge moves per iteration
_EARLY_MOVES = 64       # point moves per iteration in the first half of warmup at most (`point_moves`)
_SEGMENTS = 10          # compiled segments per run (progress and interrupts between them)
_MAX_SEGMENT = 500      # iterations per segment at most


# --------------------------------------------------------------------------- static spec

class _Spec:
    """The problem without its data, hashable: compiled segments are cached per priors and shapes."""

    def __init__(self, problem: MixtureProblem, point_moves: int):
        self.problem = replace(problem, X=None, labels=np.zeros(0, np.int32), names={})
        self.point_moves = point_moves
        self.key = (_fingerprint(self.problem), point_moves)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Spec) and other.key == self.key

    def sized(self, m: int) -> MixtureProblem:
        """The problem with m components (a known covariance repeated m times)."""
        p = self.problem
        if p.family == "gaussian" and p.gaussian.kind == "known_cov":
            cov = np.asarray(p.gaussian.cov)
            return replace(p, gaussian=replace(p.gaussian, cov=np.broadcast_to(cov[:1], (m,) + cov.shape[1:])))
        return p


# --------------------------------------------------------------------------- pieces

def _features(spec: _Spec, X):
    """Per-point features F = [1, x, vec(x xᵀ)] (Gaussian) or [1, x] (vMF): the statistics of a
    group of points are Σ F over it, one segment sum."""
    one = jnp.ones((X.shape[0], 1), X.dtype)
    if spec.problem.family == "vmf":
        return jnp.concatenate([one, X], axis=1)
    return jnp.concatenate([one, X, (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)], axis=1)


def _unpack(spec: _Spec, S, d: int):
    """(n, s1, s2) from summed features S (m, F); s2 is None for the vMF (not used)."""
    s2 = S[:, 1 + d:].reshape(S.shape[0], d, d) if spec.problem.family == "gaussian" else None
    return S[:, 0], S[:, 1:1 + d], s2


def _group_stats(F, idx, m: int):
    """Σ F over the points of each group 0..m−1 (idx = m: none): (m, F)."""
    return jax.ops.segment_sum(F, idx, num_segments=m + 1)[:m]


def _log_marginal(spec: _Spec, S, d: int):
    """log m(x_b) (conjugate.log_marginal) of groups with summed features S (m, F); 0 when empty."""
    n, s1, s2 = _unpack(spec, S, d)
    if s2 is None:
        s2 = jnp.zeros((S.shape[0], d, d), S.dtype)
    lm = conjugate.log_marginal(spec.sized(S.shape[0]), n, s1, s2)
    return jnp.where(n > 0, lm, 0.0)


def _params(spec: _Spec, n, s1, s2, key, covariances: bool = False) -> dict:
    """Component parameters drawn from their conjugate posteriors, as `_loglik` takes them:
    means, precisions P = Σ⁻¹ and ½ log|P| (Gaussian); means (vMF)."""
    p, m = spec.problem, n.shape[0]
    if p.family == "vmf":
        return {"means": conjugate.vmf_sample(p.vmf, n, s1, p.vmf.kappa, key)}
    if p.gaussian.kind == "niw":
        return _niw_sample(p, n, s1, s2, key, covariances)
    cov = jnp.broadcast_to(jnp.asarray(p.gaussian.cov, s1.dtype)[:1], (m,) + s2.shape[1:])
    mean, cn = conjugate.known_cov_posterior(p.gaussian, n, s1, cov)
    prec = jnp.linalg.inv(cov)
    hl = -jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(cov), axis1=-2, axis2=-1)), axis=-1)
    return {"means": conjugate.sample_mvnormal(key, mean, cn), "prec": prec, "half_logdet": hl}


def _niw_sample(p: MixtureProblem, n, s1, s2, key, covariances: bool) -> dict:
    """(μ_k, Σ_k) from the NIW posterior (`conjugate.niw_posterior`) in precision form, by
    Bartlett's decomposition: with Ψ_n = C Cᵀ and A lower triangular, A_ii² ~ χ²(ν_n − i) (drawn as
    2 Gamma((ν_n − i)/2) by `log_gamma`, which compiles faster), A_ij ~ N(0, 1) below the diagonal,
    P = Σ⁻¹ = (C⁻ᵀA)(C⁻ᵀA)ᵀ ~ Wishart(ν_n, Ψ_n⁻¹), ½ log|P| = Σ log A_ii − Σ log C_ii, and
    μ = m_n + C A⁻ᵀ ε / √κ_n ~ N(m_n, Σ/κ_n) (Σ = (C A⁻ᵀ)(C A⁻ᵀ)ᵀ).  No Cholesky of Σ is needed."""
    kn, mn, nun, psin = conjugate.niw_posterior(p.gaussian, n, s1, s2)
    m, d = psin.shape[0], psin.shape[-1]
    k1, k2, k3 = jax.random.split(key, 3)
    dfs = nun[:, None] - jnp.arange(d, dtype=psin.dtype)[None]
    log_diag = 0.5 * (math.log(2.0) + log_gamma(k1, 0.5 * dfs))
    A = jnp.tril(jax.random.normal(k2, (m, d, d), psin.dtype), -1) + jnp.exp(log_diag)[..., None] * jnp.eye(d, dtype=psin.dtype)
    C = jnp.linalg.cholesky(psin)
    G = jax.scipy.linalg.solve_triangular(C, A, lower=True, trans=1)                 # C⁻ᵀ A
    eps = jax.random.normal(k3, (m, d, 1), psin.dtype)
    y = jax.scipy.linalg.solve_triangular(A, eps, lower=True, trans=1)               # A⁻ᵀ ε
    out = {"means": mn + (C @ y)[..., 0] / jnp.sqrt(kn)[:, None],
           "prec": G @ jnp.swapaxes(G, -1, -2),
           "half_logdet": jnp.sum(log_diag, -1) - jnp.sum(jnp.log(jnp.diagonal(C, axis1=-2, axis2=-1)), -1)}
    if covariances:
        eye = jnp.broadcast_to(jnp.eye(d, dtype=psin.dtype), A.shape)
        M = C @ jax.scipy.linalg.solve_triangular(A, eye, lower=True, trans=1)       # C A⁻ᵀ
        sigma = M @ jnp.swapaxes(M, -1, -2)
        out["covariances"] = 0.5 * (sigma + jnp.swapaxes(sigma, -1, -2))
    return out


def _loglik(spec: _Spec, X, th: dict):
    """log f(x_n; θ_m) (N, M).  Gaussian: −½ (x − μ)ᵀ P (x − μ) + ½ log|P| − (D/2) log 2π, as
    fused elementwise sums for small D (XLA's CPU dot is slow with a tiny inner dimension), as
    matrix products otherwise."""
    p, d = spec.problem, X.shape[-1]
    if p.family == "vmf":
        return conjugate.log_normalizer_vmf(p.vmf.kappa, d) + p.vmf.kappa * (X @ th["means"].T)
    mu, P = th["means"], th["prec"]
    if d <= 4:
        diff = X[:, None, :] - mu[None]                                                  # (N, M, D)
        quad = sum(P[None, :, a, b] * diff[..., a] * diff[..., b] for a in range(d) for b in range(d))
    else:
        Pm = jnp.einsum("mde,me->md", P, mu)
        quad = ((X[:, None, :] * X[:, :, None]).reshape(X.shape[0], -1) @ P.reshape(P.shape[0], -1).T
                - 2.0 * X @ Pm.T + jnp.sum(Pm * mu, -1)[None])
    return -0.5 * quad + th["half_logdet"][None] - 0.5 * d * math.log(2 * math.pi)


# --------------------------------------------------------------------------- step 1: split / merge

def _partner_logw(spec: _Spec, S, lm, a, d: int):
    """log w_a(t) (K,): the merge partner t of occupied slot a is drawn with probability
    ½ softmax_t(G_at) + ½ / (B − 1) over the other occupied slots, G_at = log of the DP
    posterior ratio merged/apart without α (log Γ(n_a + n_t) m(x_a ∪ x_t) − log Γ(n_a) m(x_a)
    − log Γ(n_t) m(x_t)): likely merges are proposed often, the uniform half keeps every
    reverse move's probability ≥ 1/(2(B − 1))."""
    n = S[:, 0]
    occ = n > 0
    ok = occ & (jnp.arange(S.shape[0]) != a)
    lm_pair = _log_marginal(spec, S + S[a][None], d)
    safe = lambda v: jnp.maximum(v, 1.0)
    G = gammaln(safe(n + n[a])) + lm_pair - gammaln(safe(n[a])) - lm[a] - gammaln(safe(n)) - lm
    G = jnp.where(ok, G, -jnp.inf)
    nb = jnp.sum(ok)
    soft = jax.nn.log_softmax(jnp.where(nb > 0, G, 0.0))
    mix = jnp.logaddexp(soft + math.log(0.5), -jnp.log(2.0 * jnp.maximum(nb, 1)))
    return jnp.where(ok, mix, -jnp.inf)


def _propose(spec: _Spec, X, F, lab, z, S, key):
    """One split-or-merge Metropolis–Hastings move (module docstring, step 1).
    Returns (z, S, (is split, is merge, accepted))."""
    p = spec.problem
    K, N, d, alpha, dtype = p.K, X.shape[0], X.shape[1], p.weights.alpha, X.dtype
    ks = jax.random.split(key, 11)
    idx = jnp.arange(N)
    islab = lab >= 0
    n = S[:, 0]
    occ = n > 0
    B = jnp.sum(occ)
    nlab = jax.ops.segment_sum(islab.astype(dtype), z, num_segments=K)
    lm = _log_marginal(spec, S, d)

    c = jax.random.categorical(ks[0], jnp.where(occ, 0.0, -jnp.inf))
    split = jax.random.uniform(ks[1], (), dtype) < 0.5

    # split of c: anchors i ∈ c (uniform), j ∈ c \ {i} unlabelled (uniform), new slot t empty (uniform)
    i_s = uniform_member(ks[2], z == c)
    j_s = uniform_member(ks[3], (z == c) & ~islab & (idx != i_s))
    t_s = jax.random.categorical(ks[4], jnp.where(occ, -jnp.inf, 0.0))
    ok_s = ((n[c] - nlab[c] - jnp.where(islab[i_s], 0.0, 1.0)) >= 1) & (B < K)
    # merge of c with t ~ w_c: the slot kept is the labelled one, else either with probability ½
    lw_c = _partner_logw(spec, S, lm, c, d)
    t_m = jax.random.categorical(ks[5], jnp.where(B > 1, lw_c, 0.0))
    ok_m = (B > 1) & ~((nlab[c] > 0) & (nlab[t_m] > 0))
    coin = jax.random.uniform(ks[6], (), dtype) < 0.5
    keep_c = jnp.where(nlab[c] > 0, True, jnp.where(nlab[t_m] > 0, False, coin))
    k_m, o_m = jnp.where(keep_c, c, t_m), jnp.where(keep_c, t_m, c)
    i_m = uniform_member(ks[2], z == k_m)
    j_m = uniform_member(ks[3], z == o_m)

    k = jnp.where(split, c, k_m)            # the slot that keeps side l (with i and every label)
    o = jnp.where(split, t_s, o_m)          # the slot of side r (with j)
    i, j = jnp.where(split, i_s, i_m), jnp.where(split, j_s, j_m)
    valid = jnp.where(split, ok_s, ok_m)
    U = (z == k) | (~split & (z == o))

    # the launch (Jain & Neal 2004) over U: sub-cluster updates (Chang & Fisher eq. 6–8)
    fixed = (idx == i) | (idx == j) | (U & islab)
    fixed_val = (idx == j).astype(jnp.int32)
    h0 = jnp.where(fixed, fixed_val,
                   (jnp.sum((X - X[j]) ** 2, -1) < jnp.sum((X - X[i]) ** 2, -1)).astype(jnp.int32))

    def sub_logp(h, key):
        kw, kt = jax.random.split(key)
        S2 = _group_stats(F, jnp.where(U, h, 2), 2)
        n2, s1, s2 = _unpack(spec, S2, d)
        lg = log_gamma(kw, n2 + 0.5 * alpha)
        th = _params(spec, n2, s1, s2, kt)
        return jax.nn.log_softmax(lg[None] + _loglik(spec, X, th), axis=-1)            # (N, 2)

    def sweep(h, key):
        ka, kb = jax.random.split(key)
        lp = sub_logp(h, ka)
        new = (jax.random.uniform(kb, (N,), dtype) < jnp.exp(lp[:, 1])).astype(jnp.int32)
        return jnp.where(fixed, fixed_val, new), None

    h, _ = jax.lax.scan(sweep, h0, jax.random.split(ks[7], _LAUNCH_SWEEPS))
    lp = sub_logp(h, ks[8])
    h_split = jnp.where(fixed, fixed_val, (jax.random.uniform(ks[9], (N,), dtype) < jnp.exp(lp[:, 1])).astype(jnp.int32))
    h = jnp.where(split, h_split, (z == o).astype(jnp.int32))
    free = U & ~fixed
    log_q = jnp.sum(jnp.where(free, jnp.where(h == 1, lp[:, 1], lp[:, 0]), 0.0))

    # the split state (k ← l, o ← r) and the merged state (k ← l ∪ r, o empty)
    S2 = _group_stats(F, jnp.where(U, h, 2), 2)
    Su = S2[0] + S2[1]
    S_split = S.at[k].set(S2[0]).at[o].set(S2[1])
    S_merge = S.at[k].set(Su).at[o].set(0.0)
    lm2 = _log_marginal(spec, jnp.stack([S2[0], S2[1], Su]), d)
    nl, nr, nu = S2[0, 0], S2[1, 0], Su[0]
    safe = lambda v: jnp.maximum(v, 1.0)
    log_h = math.log(alpha) + gammaln(safe(nl)) + gammaln(safe(nr)) - gammaln(safe(nu)) + lm2[0] + lm2[1] - lm2[2]
    B_split = jnp.sum(S_split[:, 0] > 0)
    lm_split = lm.at[k].set(lm2[0]).at[o].set(lm2[1])
    lw_k = _partner_logw(spec, S_split, lm_split, k, d)[o]
    lw_o = _partner_logw(spec, S_split, lm_split, o, d)[k]
    nlab_u = nlab[k] + jnp.where(split, 0.0, nlab[o])
    log_keep = jnp.where(nlab_u > 0, 0.0, math.log(0.5))
    # the merge proposal from the split state: slot, kind, partner (either order), kept slot, anchors
    log_p_merge = -jnp.log(B_split) - math.log(2.0) + jnp.logaddexp(lw_k, lw_o) + log_keep - jnp.log(safe(nl)) - jnp.log(safe(nr))
    # the split proposal from the merged state: slot, kind, anchors, sub-labels (the 1/E of the new slot
    # cancels against the 1/E of placing one more block on the empty slots in the target)
    m_j = nu - nlab_u - jnp.where(islab[i], 0.0, 1.0)
    log_p_split = -jnp.log(safe(B_split - 1.0)) - math.log(2.0) - jnp.log(safe(nu)) - jnp.log(safe(m_j)) + log_q
    log_ratio = log_h + log_p_merge - log_p_split
    log_ratio = jnp.where(split, log_ratio, -log_ratio)
    acc = valid & (jnp.log(jax.random.uniform(ks[10], (), dtype)) < log_ratio)
    z_new = jnp.where(U, jnp.where(split & (h == 1), o, k), z)
    z = jnp.where(acc, z_new, z).astype(jnp.int32)
    S = jnp.where(acc, jnp.where(split, S_split, S_merge), S)
    return z, S, jnp.stack([split & valid, ~split & valid, acc])


def _split_merge(spec: _Spec, X, F, lab, z, key):
    """`_PROPOSALS` split-or-merge moves in sequence.  Returns (z, (split attempts, split accepts,
    merge attempts, merge accepts))."""
    S = _group_stats(F, z, spec.problem.K)

    def body(carry, k):
        z, S = carry
        z, S, info = _propose(spec, X, F, lab, z, S, k)
        return (z, S), info
    (z, S), info = jax.lax.scan(body, (z, S), jax.random.split(key, _PROPOSALS))
    sp, mg, acc = info[:, 0], info[:, 1], info[:, 2]
    return z, S, jnp.stack([jnp.sum(sp), jnp.sum(sp & acc), jnp.sum(mg), jnp.sum(mg & acc)]).astype(jnp.int32)


def _point_moves(spec: _Spec, X, F, lab, z, S, key, count):
    """Collapsed Gibbs moves of single unlabelled points, one after another (Neal 2000,
    "Markov chain sampling methods for Dirichlet process mixture models", Algorithm 3): point
    i leaves its cluster and joins occupied slot k with probability ∝ n_{k,−i} m(x_i | x_{k,−i})
    or an empty slot with α m(x_i) / E (E empty slots: the B blocks sit on free slots uniformly
    at random, as in the split).  Exact on the partition posterior, and what moves the small
    clusters one point at a time: a split must draw both anchors in the right place to make a
    cluster of a few points, and a merge must be proposed with the right partner to end one.
    Returns (z, S, moves made)."""
    p = spec.problem
    K, N, d, alpha = p.K, X.shape[0], X.shape[1], p.weights.alpha
    m = min(spec.point_moves, N)
    kp, kz = jax.random.split(key)
    points = jax.random.choice(kp, N, (m,), replace=False)
    keys = jax.random.split(kz, m)

    def body(t, carry):
        z, S, moved = carry
        i, k = points[t], keys[t]
        zi = z[i]
        rest = S.at[zi].add(-F[i])
        n = rest[:, 0]
        occ = n > 0.5
        _, s1, s2 = _unpack(spec, rest, d)
        s2 = jnp.zeros((K, d, d), X.dtype) if s2 is None else s2
        pred = conjugate.log_predictive(spec.sized(K), n, s1, s2, X[i][None])[0]  # log m(x_i | x_k), m(x_i) if empty
        empty = K - jnp.sum(occ)
        logw = jnp.where(occ, jnp.log(jnp.where(occ, n, 1.0)),
                         math.log(alpha) - jnp.log(jnp.maximum(empty, 1).astype(X.dtype))) + pred
        new = jnp.where(lab[i] >= 0, zi, categorical_by_cdf(k, logw[None])[0]).astype(z.dtype)
        return z.at[i].set(new), rest.at[new].add(F[i]), moved + (new != zi).astype(jnp.int32)

    # `count` (≤ m) is dynamic: warmup's first half makes fewer moves through the same program
    return jax.lax.fori_loop(0, jnp.minimum(count, m), body, (z, S, jnp.int32(0)))


# --------------------------------------------------------------------------- steps 2–3

def _widths(K: int) -> list[int]:
    """Column counts of the label step's compiled variants: the occupied slots are gathered into
    the narrowest that holds them (the N × K work then scales with the occupied clusters)."""
    return [w for w in (16, 32) if w < K // 2] + [K]


def _restricted_gibbs(spec: _Spec, X, lab, z, n, g, th, key):
    """All z_i in parallel ∝ π_k f(x_i; θ_k) over the occupied slots, one random member of each
    cluster held, accepted with probability min(1, ∏ n_k / n'_k) (module docstring, step 3)."""
    K, N = spec.problem.K, X.shape[0]
    kd, kh, ka = jax.random.split(key, 3)
    occ = n > 0
    B = jnp.sum(occ)
    logg = jnp.log(jnp.where(occ, g, 1.0))

    def draw(width):
        def f():
            cols = jnp.nonzero(occ, size=width, fill_value=0)[0] if width < K else jnp.arange(K)
            ok = occ[cols] & (jnp.arange(width) < B) if width < K else occ
            sub = jax.tree.map(lambda a: a[cols], th)
            logits = jnp.where(ok[None], logg[cols][None] + _loglik(spec, X, sub), -jnp.inf)
            return cols[categorical_by_cdf(kd, logits)].astype(jnp.int32)
        return f

    widths = _widths(K)
    branch = jnp.sum(B > jnp.asarray(widths[:-1], B.dtype)) if len(widths) > 1 else 0
    prop = jax.lax.switch(branch, [draw(w) for w in widths]) if len(widths) > 1 else draw(K)()
    keep = segment_argmax(jax.random.uniform(kh, (N,), X.dtype), z, K)
    held = (jnp.arange(N) == keep[z]) | (lab >= 0)
    prop = jnp.where(held, z, prop)
    n_new = jnp.zeros(K, X.dtype).at[prop].add(1.0)
    log_acc = jnp.sum(jnp.where(occ, jnp.log(jnp.where(occ, n, 1.0)) - jnp.log(jnp.where(occ, n_new, 1.0)), 0.0))
    accept = jnp.log(jax.random.uniform(ka, (), X.dtype)) < log_acc
    return jnp.where(accept, prop, z), accept


def _iteration(spec: _Spec, X, F, lab, z, key, moves):
    """Split/merge, `moves` single-point moves, then (π, θ) | z (the recorded draw), then the
    restricted Gibbs step."""
    d = X.shape[1]
    k_sm, k_w, k_th, k_z = jax.random.split(key, 4)
    z, S, counts = _split_merge(spec, X, F, lab, z, k_sm)
    z, S, moved = _point_moves(spec, X, F, lab, z, S, jax.random.fold_in(k_sm, 1), moves)
    n, s1, s2 = _unpack(spec, S, d)
    g = jnp.where(n > 0, jnp.exp(log_gamma(k_w, jnp.where(n > 0, n, 1.0))), 0.0)
    th = _params(spec, n, s1, s2, k_th, covariances=True)
    # the recorded π (a key of its own, so the chain's moves keep their random stream); g drives step 3
    pi = weights.sample_partition_weights(spec.problem.weights, n, jax.random.fold_in(k_w, 1))
    rec = {"assignment": z, "weights": pi, "means": th["means"],
           "num_components": jnp.sum(n > 0).astype(jnp.int32)}
    if "covariances" in th:
        rec["covariances"] = th.pop("covariances")
    z, acc = _restricted_gibbs(spec, X, lab, z, n, g, th, k_z)
    return z, rec, jnp.concatenate([counts, acc[None].astype(jnp.int32)])


def _segment_impl(spec: _Spec, X, lab, z, key, moves, length: int):
    """`length` iterations of one chain, each with `moves` single-point moves (at most the
    spec's): new z (N,), records (length, …), move counts summed over the segment (5,).  Chains run one after another through this one compiled program (vmapping
    them costs half as much compile time again and gains nothing on a few CPU cores)."""
    F = _features(spec, X)

    def body(z, k):
        z, rec, cnt = _iteration(spec, X, F, lab, z, k, moves)
        return z, (rec, cnt)
    z, (recs, cnts) = jax.lax.scan(body, z, jax.random.split(key, length))
    return z, recs, jnp.sum(cnts, axis=0)


_segment = jax.jit(_segment_impl, static_argnums=(0, 6))


# --------------------------------------------------------------------------- fit

def point_moves(N: int, D: int) -> int:
    """The default number of collapsed single-point moves per iteration: every point up to
    max(64, 1024 // D) of them.  They run one after another, at a cost that grows with D, while the
    rest of an iteration is parallel over points; they are also what moves the small clusters
    (the tails' clusters of a few points), whose coming and going sets the mixing of the number of
    components (examples/gcd.aug: ESS 25–55 → 100–300 per 800 draws for 512 moves instead of 64).
    The first half of warmup makes at most `_EARLY_MOVES`: from the start in one component a full
    sweep seeds many clusters at once, and a blob cut between two is rarely merged again."""
    return int(min(N, max(64, 1024 // max(D, 1))))


def _settings(settings: dict, N: int, D: int) -> tuple[int, int, int, int]:
    def count(name, default, least):
        v = settings.get(name, default)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise AuguryInferenceError(f"split_merge: `{name}` must be an integer >= {least}, got {v!r}")
        return int(v)
    moves = settings.get("point_moves")
    return (count("sweeps", 200, 1), count("warmup", 50, 0), count("chains", 4, 1),
            point_moves(N, D) if moves is None else count("point_moves", None, 1))


def _check_problem(problem: MixtureProblem) -> None:
    refuse_overflowing_points(problem, "split_merge")  # silently wrong draws otherwise
    if problem.weights.kind != "dp":
        raise AuguryInferenceError(
            "split_merge samples Dirichlet-process mixtures; these weights have a "
            f"{problem.weights.kind!r} prior",
            notes=["give the weights `dirichlet_process(alpha)` or `stick_breaking(alpha)`, or use `gibbs`"])
    if problem.weights.groups is not None:
        raise AuguryInferenceError("split_merge does not handle mixtures of prototypes (several components "
                                   "per class)", notes=["use `gibbs` or `vi`"])
    if not problem.conjugate:
        raise AuguryInferenceError(
            "split_merge needs conjugate components (normal–inverse-Wishart, a known covariance, or a vMF "
            "with a fixed concentration)", notes=["use `gibbs`, which runs blocked updates otherwise"])
    if problem.K < 2:
        raise AuguryInferenceError("split_merge needs a simplex of size K >= 2 (the most occupied components)")
    if problem.family == "gaussian" and problem.gaussian.kind == "known_cov":
        cov = np.asarray(problem.gaussian.cov)
        if not np.allclose(cov, cov[:1]):
            raise AuguryInferenceError(
                "split_merge needs one known covariance shared by the components of a Dirichlet process "
                "(its components are exchangeable)", notes=["give every component the same covariance"])
    lab = np.asarray(problem.labels)
    if lab.size and lab.max() >= problem.K:
        raise AuguryInferenceError(f"an observed label ({int(lab.max())}) is outside 0..{problem.K - 1}")


def _initial(problem: MixtureProblem, labels: np.ndarray) -> np.ndarray:
    """Labelled points in their label's slot; all others together in the first free slot."""
    used = set(int(v) for v in np.unique(labels[labels >= 0]))
    free = next((k for k in range(problem.K) if k not in used), None)
    if free is None:
        if np.any(labels < 0):
            raise AuguryInferenceError("every slot holds an observed label: no room for unlabelled points' "
                                       "new components", notes=[f"raise the simplex size (K = {problem.K})"])
        free = 0
    return np.where(labels >= 0, labels, free).astype(np.int32)


def fit(problem: MixtureProblem, key, settings: dict, progress: bool = False) -> MixtureResult:
    """Split–merge draws of a DP mixture's labels, weights and component parameters (module
    docstring).  Each chain starts with all unlabelled points in one component."""
    _check_problem(problem)
    sweeps, warmup, chains, moves = _settings(settings, problem.N, int(np.shape(problem.X)[-1]))
    moves = min(moves, problem.N)
    X = jnp.asarray(problem.X, problem.dtype) if problem.dtype is not None else jnp.asarray(problem.X)
    labels = np.asarray(problem.labels, np.int32)
    z0 = np.broadcast_to(_initial(problem, labels), (chains, problem.N)).copy()
    X, lab = shard_points(X, labels)
    spec = _Spec(problem, moves)
    total = warmup + sweeps
    length = int(min(_MAX_SEGMENT, max(1, -(-total // _SEGMENTS))))
    z = [jnp.asarray(z0[c]) for c in range(chains)]

    def advance(s, z, extra, lo, hi):
        keys = jax.random.split(jax.random.fold_in(key, s), chains)  # segment s's keys: resumable
        # the first half of warmup makes at most _EARLY_MOVES point moves per iteration (`point_moves`)
        count = np.int32(min(moves, _EARLY_MOVES) if s * length < warmup // 2 else moves)
        seg = [_segment(spec, X, lab, z[c], keys[c], count, length) for c in range(chains)]
        recs = jax.tree.map(lambda *a: np.stack(a), *[jax.device_get(r[1]) for r in seg])
        # (a final partial segment counts its extra iterations too)
        extra = {"counts": extra["counts"] + np.stack([np.asarray(r[2]) for r in seg]),
                 "max_b": np.maximum(extra["max_b"], recs["num_components"][:, :hi].max(axis=1))}
        kept = {k: v[:, lo:hi] for k, v in recs.items()} if hi > lo else None
        return [r[0] for r in seg], kept, extra

    extra = {"counts": np.zeros((chains, 5), np.int64), "max_b": np.zeros(chains, np.int64)}
    run_ = run_segments("split_merge", total=total, warmup=warmup, length=length, state=z, extra=extra,
                        advance=advance, progress=progress)
    kept, done, interrupted = run_.kept, run_.done, run_.interrupted
    counts, max_b = run_.extra["counts"], run_.extra["max_b"]

    warnings_: list[str] = []
    if interrupted:
        if not kept:
            raise KeyboardInterrupt
        warnings_.append(f"split_merge was interrupted after {done} of {total} iterations: "
                         f"{sum(k['assignment'].shape[1] for k in kept)} draws per chain kept")
    out = concatenated(kept)
    stats = {"num_components": out.pop("num_components").astype(np.int32)}
    draws = {"assignment": out.pop("assignment").astype(np.int32), **out}

    z_all = draws["assignment"].reshape(-1, problem.N)
    resp = np.zeros((problem.N, problem.K))
    np.add.at(resp, (np.broadcast_to(np.arange(problem.N), z_all.shape), z_all), 1.0)
    resp /= z_all.shape[0]

    sa, sacc, ma, macc, gacc = (counts[:, i].astype(float) for i in range(5))
    stats["split_accept"] = np.where(sa > 0, sacc / np.maximum(sa, 1), np.nan)
    stats["merge_accept"] = np.where(ma > 0, macc / np.maximum(ma, 1), np.nan)
    stats["gibbs_accept"] = gacc / max(done, 1)
    if np.any(max_b >= problem.K):
        warnings_.append(
            f"split_merge: the occupied components reached the cap K = {problem.K} (the simplex size); the "
            "Dirichlet process could not open more and the draws may merge distinct components: raise K")
    if np.any(stats["gibbs_accept"] < 0.05) and done >= 20:
        warnings_.append(
            "split_merge: the parallel label updates were accepted in under 5% of iterations (a component kept "
            "losing all its points); run longer, or check the prior's scale against the data")
    info = {"sweeps": sweeps, "warmup": warmup, "chains": chains, "iterations_done": done,
            "launch_sweeps": _LAUNCH_SWEEPS, "proposals_per_iteration": _PROPOSALS,
            "point_moves": moves, "max_components": max_b.tolist(),
            "split_attempts": sa.tolist(), "merge_attempts": ma.tolist()}
    return MixtureResult(draws=draws, chains=chains, responsibilities=resp, stats=stats, info=info,
                         warnings=warnings_, interrupted=interrupted)


def run(problem, key, settings, *, method, progress):
    """The registry's entry point: `problem.mixture` fitted, as the model's named draws."""
    from ..mixtures.outputs import mixture_draws
    return mixture_draws(problem.mixture, fit(problem.mixture, key, settings, progress), method, settings)
