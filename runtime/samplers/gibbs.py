"""Gibbs sampling for Bayesian mixtures: collapsed where the components are conjugate, blocked
otherwise.

**Collapsed** (`problem.conjugate`: normal–inverse-Wishart, Gaussian with known covariance,
vMF with a fixed κ).  The component parameters and the weights are integrated out and the
chain moves on the labels alone (Neal 2000, "Markov chain sampling methods for Dirichlet
process mixture models", algorithm 3; MacEachern 1994).  A sweep visits every point with an
unknown label in turn: it removes x_n from its component's sufficient statistics (n, s1, s2: a
rank-one downdate), draws

    p(z_n = k | z_−n, X) ∝ p(z_n = k | z_−n) · p(x_n | X_{k,−n})

(`weights.collapsed_log_predictive`, `conjugate.log_predictive`) among `problem.allowed()[n]`,
and adds the point back.  With a Dirichlet process the first factor is the Chinese restaurant
process over the K slots: n_k for an occupied slot, alpha shared by the empty ones (which are
exchangeable, any of them stands for "a new component").  K is then a truncation: when a point
finds every other slot occupied it cannot open a new component and the chain is no longer
exact; that is counted and reported ("truncation reached").  With fixed weights the first
factor is log π_k.  A sweep is one `lax.scan` over the points (vectorized over the K
components inside); chains run side by side under `vmap`.

**Blocked** (Gaussian with independent priors on μ_k and Σ_k; vMF with κ ~ Gamma).  Each sweep
(Ishwaran & James 2001, "Gibbs sampling methods for stick-breaking priors", §5 blocked Gibbs):

  (a) all labels at once given π and θ: p(z_n = k) ∝ π_k f(x_n | θ_k) (vectorized over points,
      so it runs where the points live when X is sharded);
  (b) π | z from `weights.sample_weights` (a Dirichlet process is used in its truncated
      stick-breaking form w_k = v_k ∏_{j<k}(1 − v_j), v_k | z ~ Beta(1 + n_k, alpha + Σ_{j>k} n_j),
      v_K = 1; occupying all K slots is reported as the truncation being reached);
  (c) θ | z from exact conditionals:
      Gaussian: μ_k | Σ_k ~ N(C (S0⁻¹ m0 + Σ_k⁻¹ s1_k), C), C = (S0⁻¹ + n_k Σ_k⁻¹)⁻¹, then
      Σ_k | μ_k ~ InvWishart(ν0 + n_k, Ψ0 + Σ_{z_n = k} (x_n − μ_k)(x_n − μ_k)ᵀ);
      vMF: μ_k | κ_k ~ vMF(r/|r|, |r|), r = τ0 m0 + κ_k s1_k (`conjugate.vmf_sample`), then
      κ_k | μ_k by one slice-sampling update (Neal 2003, "Slice sampling", stepping out and
      shrinkage) on u = log κ of
        log p(u | ·) = a u − b eᵘ + n_k log C_D(eᵘ) + eᵘ μ_kᵀ s1_k      (Gamma(a, b) prior),
      which leaves that conditional exactly invariant (one κ pooled over the components when
      `kappa_shared`: the sums over k of n_k and μ_kᵀ s1_k).

A conjugate problem may also be run blocked (the setting `collapsed = false`, its parameters then
drawn jointly from their conjugate posterior in step (c)): the tests use it to check the blocked
updates against exact posteriors.

**Draws.**  After `warmup` sweeps each chain keeps `sweeps` draws.  Collapsed: per kept sweep
the weights and component parameters are drawn given the labels (`weights.sample_partition_weights`:
for a DP, (π_occupied, π_new) ~ Dir(n_1..n_B, α) with π_new shared by the empty slots;
`conjugate.posterior_sample`), so every draw is one from the joint posterior.  Blocked: the
chain's own state.  stats: "num_components" (occupied components) and "log_joint" (collapsed:
log p(X, partition) for a Dirichlet process, log p(X, z) otherwise, parameters and weights
integrated out; blocked: log p(X, z, π, θ), the DP weights in their stick coordinates).

**Start.**  Each chain starts from its own k-means++ seeding (Arthur & Vassilvitskii 2007):
points go to the nearest allowed seed (observed labels kept).  K seeds for finite weights; for a
Dirichlet process about the prior's expected number of components, alpha log(1 + N/alpha) (at
most K − 1, so a slot stays free).  The start only affects how soon the chain mixes, not what it
converges to.

**Sharding.**  X is placed with `shard_points`; the blocked mode's label step and statistics are
per-point work that XLA splits over the devices.  The collapsed sweep is sequential over points
by nature, so it gains nothing from more devices (it still reads a sharded X).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, multigammaln

from augury.errors import AuguryInferenceError

from ..mixtures import conjugate, weights
from ..mixtures.problem import MixtureProblem, refuse_overflowing_points
from ..mixtures.result import MixtureResult
from ..mixtures.outputs import split_rhat as _split_rhat
from ..mixtures.problem import fingerprint as _fingerprint
from ..mixtures.sharding import shard_points
from ..mixtures.segments import concatenated, run_segments


# the driver's per-element R-hat and ESS are meaningless for labels and component slots that switch;
# the diagnostics are label-invariant ones (outputs.mixture_draws and below)
OWN_WEIGHT_WARNINGS = True

__all__ = ["fit", "run"]

_SEGMENTS = 20          # progress updates (and interrupt points) per run
_MAX_SEGMENT = 100      # sweeps per compiled segment at most
_SLICE_WIDTH = 1.0      # initial slice width on log κ (stepping out and shrinkage adapt it)
_SLICE_STEPS = 32       # stepping-out steps at most on each side
_SLICE_SHRINKS = 200    # shrinkage steps at most (each at least halves the bracket on average)


# --------------------------------------------------------------------------- static problem spec

class _Spec:
    """The problem without its data, hashable, so the jitted segments compile once per priors,
    shapes and settings (its arrays become constants of the compiled program)."""

    def __init__(self, problem: MixtureProblem, collapsed: bool):
        self.problem = replace(problem, X=None, labels=np.zeros(0, np.int32), names={})
        self.collapsed = collapsed
        self.key = (_fingerprint(self.problem), collapsed)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Spec) and other.key == self.key


def _needs_s2(p: MixtureProblem) -> bool:
    return p.family == "gaussian"


def _stats(p: MixtureProblem, X, z):
    """(n, s1, s2) of hard labels z; s2 is None for the vMF (it never needs second moments)."""
    R = jax.nn.one_hot(z, p.K, dtype=X.dtype)
    n = jnp.sum(R, axis=0)
    s1 = R.T @ X
    s2 = jnp.einsum("nk,nd,ne->kde", R, X, X) if _needs_s2(p) else None
    return n, s1, s2


# --------------------------------------------------------------------------- start

def _num_seeds(p: MixtureProblem, N: int) -> int:
    if p.weights.kind != "dp":
        return p.K
    expected = p.weights.alpha * math.log1p(N / p.weights.alpha)
    return int(max(1, min(p.K - 1, round(expected))))


def _kmeanspp_labels(p: MixtureProblem, X: np.ndarray, allowed: np.ndarray, free: np.ndarray,
                     labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds (`_num_seeds` of them, in slots 0…m−1), each point to its nearest allowed
    seed (an allowed slot without a seed when none is allowed), observed labels kept.  On the
    host in NumPy: it runs once per chain, and compiling it would cost more than it does."""
    N, K = X.shape[0], p.K
    m = _num_seeds(p, N)
    sq = np.sum(X ** 2, axis=1)
    centers = np.zeros((K, X.shape[1]))
    centers[0] = X[rng.integers(N)]
    mind = np.maximum(sq - 2 * X @ centers[0] + centers[0] @ centers[0], 0.0)
    for j in range(1, m):
        tot = mind.sum()
        centers[j] = X[rng.choice(N, p=mind / tot) if tot > 0 else rng.integers(N)]
        mind = np.minimum(mind, np.maximum(sq - 2 * X @ centers[j] + centers[j] @ centers[j], 0.0))
    d2 = sq[:, None] - 2 * X @ centers.T + np.sum(centers ** 2, axis=1)[None]
    score = np.where(np.arange(K)[None] < m, d2, np.finfo(float).max / 4)
    score = np.where(allowed, score, np.inf)
    return np.where(free, np.argmin(score, axis=1), np.maximum(labels, 0)).astype(np.int32)


# --------------------------------------------------------------------------- collapsed

def _collapsed_sweep(p: MixtureProblem, X, allowed, free, z, key):
    """One systematic-scan sweep over the points; returns (z, truncated) where `truncated` says
    whether some point found all K slots occupied by the others (DP only)."""
    n, s1, s2 = _stats(p, X, z)  # recomputed each sweep: no drift from the running updates
    if not (p.family == "gaussian" and p.gaussian.kind == "niw"):
        s2 = None  # only the NIW predictive reads second moments
    dp = p.weights.kind == "dp"

    def move(carry, inp):
        z, n, s1, s2, trunc = carry
        i, k = inp
        x, zi = X[i], z[i]
        n = n.at[zi].add(-1.0)
        s1 = s1.at[zi].add(-x)
        xx = jnp.outer(x, x) if s2 is not None else None
        if s2 is not None:
            s2 = s2.at[zi].add(-xx)
        logp = weights.collapsed_log_predictive(p.weights, n) + conjugate.log_predictive(p, n, s1, s2, x[None])[0]
        logp = jnp.where(allowed[i], logp, -jnp.inf)
        new = jnp.where(free[i], jax.random.categorical(k, logp), zi).astype(z.dtype)
        if dp:
            trunc = trunc | (free[i] & jnp.all(n > 0))
        n = n.at[new].add(1.0)
        s1 = s1.at[new].add(x)
        if s2 is not None:
            s2 = s2.at[new].add(xx)
        return (z.at[i].set(new), n, s1, s2, trunc), None

    N = X.shape[0]
    init = (z, n, s1, s2, jnp.zeros((), bool))
    (z, _, _, _, trunc), _ = jax.lax.scan(move, init, (jnp.arange(N), jax.random.split(key, N)))
    return z, trunc


def _log_prior_labels(wp, n):
    """log p(z) with π integrated out (for a DP: the CRP probability of the partition)."""
    N = jnp.sum(n)
    occ = n > 0

    def dirichlet(a, n):
        return jnp.sum(gammaln(a + n) - gammaln(a)) + gammaln(jnp.sum(a)) - gammaln(jnp.sum(a) + jnp.sum(n))

    def fixed(w, n):
        return jnp.sum(jnp.where(n > 0, n * jnp.log(jnp.where(n > 0, w, 1.0)), 0.0))

    if wp.kind == "dp":
        return (jnp.sum(occ) * math.log(wp.alpha) + gammaln(wp.alpha) - gammaln(wp.alpha + N)
                + jnp.sum(jnp.where(occ, gammaln(jnp.where(occ, n, 1.0)), 0.0)))
    if wp.groups is None:
        if wp.kind == "fixed":
            return fixed(jnp.asarray(wp.fixed, n.dtype), n)
        return dirichlet(jnp.asarray(wp.concentration, n.dtype), n)
    g = jnp.asarray(wp.groups)
    nc = jax.ops.segment_sum(n, g, num_segments=wp.size)
    cls = fixed(jnp.asarray(wp.fixed, n.dtype), nc) if wp.kind == "fixed" else \
        dirichlet(jnp.asarray(wp.concentration, n.dtype), nc)
    b = jnp.asarray(wp.within, n.dtype)
    bc = jax.ops.segment_sum(b, g, num_segments=wp.size)
    return cls + jnp.sum(gammaln(b + n) - gammaln(b)) + jnp.sum(gammaln(bc) - gammaln(bc + nc))


def _collapsed_draw(p: MixtureProblem, X, z, key):
    """The parameters drawn given the labels, with the counts and the per-draw stats."""
    n, s1, s2 = _stats(p, X, z)
    out = {"assignment": z, "counts": n}  # the weights are drawn from the counts by `_weight_draws`
    out.update(conjugate.posterior_sample(p, n, s1, s2, key))
    out["num_components"] = jnp.sum(n > 0).astype(jnp.int32)
    out["log_joint"] = _log_prior_labels(p.weights, n) + jnp.sum(conjugate.log_marginal(p, n, s1, s2))
    return out


# --------------------------------------------------------------------------- blocked

def _component_loglik(p: MixtureProblem, X, th):
    """log f(x_n | θ_k) (N, K)."""
    if p.family == "gaussian":
        cov = th["covariances"] if "covariances" in th else jnp.asarray(p.gaussian.cov, X.dtype)
        return conjugate.mvnormal_logpdf(X, th["means"], cov)
    kap = th["concentration"] if "concentration" in th else jnp.full((p.K,), p.vmf.kappa, X.dtype)
    return conjugate.log_normalizer_vmf(kap, X.shape[1])[None] + kap[None] * (X @ th["means"].T)


def _slice_log_u(logf, x0, key, width=_SLICE_WIDTH):
    """One slice-sampling update (Neal 2003, §4, fig. 3 and 5: stepping out, then shrinkage) of
    each entry of x0 for the elementwise log density `logf`; exact for any width.

    Written as one loop over a per-entry phase (0: stepping out to the left, 1: to the right,
    2: shrinking, 3: done) so that `logf` (here a Bessel function) is traced twice, not six times."""
    ky, ku, kj, ks = jax.random.split(key, 4)
    f = lambda x: jnp.nan_to_num(logf(x), nan=-jnp.inf)  # noqa: E731  (outside the support)
    y = f(x0) - jax.random.exponential(ky, x0.shape, x0.dtype)
    left = x0 - width * jax.random.uniform(ku, x0.shape, x0.dtype)
    right = left + width
    jl = jnp.floor(_SLICE_STEPS * jax.random.uniform(kj, x0.shape, x0.dtype))
    jr = _SLICE_STEPS - 1 - jl

    def body(st):
        phase, left, right, jl, jr, x, key, it = st
        key, sub = jax.random.split(key)
        x1 = left + (right - left) * jax.random.uniform(sub, x0.shape, x0.dtype)
        probe = jnp.where(phase == 0, left, jnp.where(phase == 1, right, x1))
        inside = f(probe) > y
        go_l = (phase == 0) & (jl > 0) & inside
        go_r = (phase == 1) & (jr > 0) & inside
        shrinking = phase == 2
        left = jnp.where(go_l, left - width, jnp.where(shrinking & ~inside & (x1 < x0), x1, left))
        right = jnp.where(go_r, right + width, jnp.where(shrinking & ~inside & (x1 >= x0), x1, right))
        x = jnp.where(shrinking & inside, x1, x)
        phase = jnp.where((phase == 0) & ~go_l, 1,
                          jnp.where((phase == 1) & ~go_r, 2, jnp.where(shrinking & inside, 3, phase)))
        return phase, left, right, jnp.where(go_l, jl - 1, jl), jnp.where(go_r, jr - 1, jr), x, key, it + 1

    limit = 2 * _SLICE_STEPS + _SLICE_SHRINKS
    init = (jnp.zeros(x0.shape, jnp.int32), left, right, jl, jr, x0, ks, 0)
    phase, _, _, _, _, x, _, _ = jax.lax.while_loop(lambda st: jnp.any(st[0] < 3) & (st[7] < limit), body, init)
    return jnp.where(phase == 3, x, x0)  # the cap is never reached in practice; keeping x0 is then safe


def _kappa_update(vp, D: int, n, s1, mu, kappa, key):
    """κ | μ, z by a slice update on log κ (one pooled κ when `kappa_shared`)."""
    t = jnp.sum(mu * s1, axis=-1)                                          # μ_kᵀ s1_k
    if vp.kappa_shared:
        n, t, kappa = jnp.sum(n)[None], jnp.sum(t)[None], kappa[:1]

    def logf(u):
        k = jnp.exp(u)
        return vp.kappa_shape * u - vp.kappa_rate * k + n * conjugate.log_normalizer_vmf(k, D) + k * t

    new = jnp.exp(_slice_log_u(logf, jnp.log(kappa), key))
    return jnp.broadcast_to(new, mu.shape[:1]) if vp.kappa_shared else new


def _sample_params(p: MixtureProblem, X, n, s1, s2, th, key):
    """Step (c): each component's parameters from their exact conditionals, in turn."""
    ka, kb = jax.random.split(key)
    if p.conjugate:  # blocked on a conjugate problem (the `collapsed: False` setting): joint draws
        return conjugate.posterior_sample(p, n, s1, s2, ka)
    if p.family == "gaussian":
        g = p.gaussian
        mean, C = conjugate.known_cov_posterior(g, n, s1, th["covariances"])
        mu = conjugate.sample_mvnormal(ka, mean, C)
        cross = jnp.einsum("kd,ke->kde", s1, mu)
        scatter = s2 - cross - jnp.swapaxes(cross, -1, -2) + n[:, None, None] * jnp.einsum("kd,ke->kde", mu, mu)
        psi = jnp.asarray(g.Psi0, X.dtype) + scatter
        sigma = conjugate.sample_inv_wishart(kb, g.nu0 + n, 0.5 * (psi + jnp.swapaxes(psi, -1, -2)))
        return {"means": mu, "covariances": sigma}
    vp = p.vmf
    mu = conjugate.vmf_sample(vp, n, s1, th["concentration"][:, None], ka)
    return {"means": mu, "concentration": _kappa_update(vp, X.shape[1], n, s1, mu, th["concentration"], kb)}


def _blocked_start(p: MixtureProblem, X, z):
    """A deterministic start for π and θ from the starting labels (sweeps then draw them):
    π_k ∝ exp E[log π_k | z], μ_k the component means (the prior mean where empty), Σ_k the
    posterior-mode-like (Ψ0 + scatter_k)/(ν0 + n_k + D + 1), κ from the pooled mean resultant
    length R̄ (Banerjee et al. 2005, κ ≈ R̄(D − R̄²)/(1 − R̄²))."""
    n, s1, s2 = _stats(p, X, z)
    D = X.shape[1]
    e = weights.expected_log_weights(p.weights, n)
    pi = jnp.exp(e - jax.scipy.special.logsumexp(e))
    if p.family == "gaussian":
        g = p.gaussian
        mean = s1 / jnp.maximum(n, 1.0)[:, None]
        if g.kind == "known_cov":
            return {"z": z, "pi": pi, "means": jnp.where(n[:, None] > 0, mean, jnp.asarray(g.m0, X.dtype)[None])}
        scatter = s2 - n[:, None, None] * jnp.einsum("kd,ke->kde", mean, mean)
        sigma = (jnp.asarray(g.Psi0, X.dtype) + scatter) / (g.nu0 + n + D + 1.0)[:, None, None]
        mean = jnp.where(n[:, None] > 0, mean, jnp.asarray(g.m0, X.dtype)[None])
        return {"z": z, "pi": pi, "means": mean, "covariances": 0.5 * (sigma + jnp.swapaxes(sigma, -1, -2))}
    r = jnp.linalg.norm(s1, axis=-1, keepdims=True)
    mu = jnp.where(r > 0, s1 / jnp.where(r > 0, r, 1.0), jnp.asarray(p.vmf.m0, X.dtype)[None])
    rbar = jnp.clip(jnp.sum(r) / X.shape[0], 1e-3, 1 - 1e-6)
    kap = rbar * (D - rbar ** 2) / (1 - rbar ** 2)
    out = {"z": z, "pi": pi, "means": mu}
    return out if p.conjugate else {**out, "concentration": jnp.full((p.K,), kap, X.dtype)}


def _blocked_sweep(p: MixtureProblem, X, allowed, free, state, key):
    """(a) labels | π, θ; (b) π | z; (c) θ | z."""
    ka, kb, kc = jax.random.split(key, 3)
    th = {k: v for k, v in state.items() if k not in ("z", "pi")}
    logits = jnp.log(state["pi"])[None] + _component_loglik(p, X, th)
    logits = jnp.where(allowed, logits, -jnp.inf)
    z = jnp.where(free, jax.random.categorical(ka, logits, axis=-1), state["z"]).astype(jnp.int32)
    n, s1, s2 = _stats(p, X, z)
    pi = weights.sample_weights(p.weights, n, kb)
    return {"z": z, "pi": pi, **_sample_params(p, X, n, s1, s2, th, kc)}


def _log_prior_params(p: MixtureProblem, th):
    D = th["means"].shape[-1]
    dtype = th["means"].dtype
    if p.family == "gaussian":
        g = p.gaussian
        m0 = jnp.asarray(g.m0, dtype)
        if g.kind == "niw":  # μ_k | Σ_k ~ N(m0, Σ_k / κ0)
            diff = th["means"] - m0[None]
            lp = jnp.sum(jax.vmap(lambda d, c: conjugate.mvnormal_logpdf(d[None], jnp.zeros_like(d)[None], c[None])[0, 0])(
                diff, th["covariances"] / g.kappa0))
        else:
            lp = jnp.sum(conjugate.mvnormal_logpdf(th["means"], m0[None], jnp.asarray(g.S0, dtype)[None]))
        if g.kind == "known_cov":
            return lp
        sig, psi, nu = th["covariances"], jnp.asarray(g.Psi0, dtype), g.nu0
        _, ld_sig = jnp.linalg.slogdet(sig)
        _, ld_psi = jnp.linalg.slogdet(psi)
        tr = jnp.trace(jnp.linalg.solve(sig, jnp.broadcast_to(psi, sig.shape)), axis1=-2, axis2=-1)
        iw = (0.5 * nu * ld_psi - 0.5 * nu * D * math.log(2.0) - multigammaln(0.5 * nu, D)
              - 0.5 * (nu + D + 1) * ld_sig - 0.5 * tr)
        return lp + jnp.sum(iw)
    vp = p.vmf
    lp = jnp.sum(conjugate.log_normalizer_vmf(vp.tau0, D) + vp.tau0 * (th["means"] @ jnp.asarray(vp.m0, dtype)))
    if vp.kappa is not None:
        return lp
    kap = th["concentration"][:1] if vp.kappa_shared else th["concentration"]
    a, b = vp.kappa_shape, vp.kappa_rate
    return lp + jnp.sum(a * math.log(b) - gammaln(a) + (a - 1) * jnp.log(kap) - b * kap)


def _blocked_draw(p: MixtureProblem, X, state):
    z, pi = state["z"], state["pi"]
    th = {k: v for k, v in state.items() if k not in ("z", "pi")}
    ll = jnp.take_along_axis(_component_loglik(p, X, th), z[:, None], axis=1)[:, 0]
    n = jnp.sum(jax.nn.one_hot(z, p.K, dtype=X.dtype), axis=0)
    log_joint = (jnp.sum(ll) + jnp.sum(jnp.where(n > 0, n * jnp.log(pi), 0.0))
                 + weights.log_prior_weights(p.weights, pi) + _log_prior_params(p, th))
    return {"assignment": z, "weights": pi, **th, "num_components": jnp.sum(n > 0).astype(jnp.int32),
            "log_joint": log_joint}


# --------------------------------------------------------------------------- segments

def _start(spec: _Spec, X, allowed: np.ndarray, free: np.ndarray, labels: np.ndarray, key, chains: int):
    """Each chain's starting state (leading axis the chains): its k-means++ labels, and in blocked
    mode π and θ from them (run op by op: small, and nothing to compile per problem)."""
    p = spec.problem
    Xh = np.asarray(jax.device_get(X), float)
    seeds = np.asarray(jax.random.randint(key, (chains,), 0, np.iinfo(np.int32).max))
    z = np.stack([_kmeanspp_labels(p, Xh, allowed, free, labels, np.random.default_rng(int(s))) for s in seeds])
    if spec.collapsed:
        return {"z": jnp.asarray(z)}
    return jax.vmap(lambda zc: _blocked_start(p, X, zc))(jnp.asarray(z))


@partial(jax.jit, static_argnames=("spec", "length"))
def _segment(spec: _Spec, X, allowed, free, state, key, length: int):
    """`length` sweeps of every chain: (state, the states after each sweep (chains, length, …),
    whether each sweep reached the DP truncation (chains, length))."""
    p = spec.problem

    def sweep(state, key):
        if spec.collapsed:
            z, trunc = _collapsed_sweep(p, X, allowed, free, state["z"], key)
            state = {"z": z}
        else:
            state = _blocked_sweep(p, X, allowed, free, state, key)
            # a truncated DP whose K sticks are all in use may be missing components
            occupied = jnp.sum(jnp.any(jax.nn.one_hot(state["z"], p.K, dtype=bool), axis=0))
            trunc = (occupied >= p.K) if p.weights.kind == "dp" else jnp.zeros((), bool)
        return state, (state, trunc)

    def chain(state, key):
        return jax.lax.scan(sweep, state, jax.random.split(key, length))

    chains = jax.tree.leaves(state)[0].shape[0]
    state, (states, trunc) = jax.vmap(chain)(state, jax.random.split(key, chains))
    return state, states, trunc


class _WeightSpec:
    """The weight prior alone, hashable: problems that share it share the compiled weight draws
    (the gamma/beta samplers behind them take seconds to compile)."""

    def __init__(self, prior):
        self.prior = prior
        self.key = _fingerprint(prior)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _WeightSpec) and other.key == self.key


@partial(jax.jit, static_argnames=("wspec",))
def _weight_draws(wspec: _WeightSpec, counts, key):
    """π | counts for a batch of counts (M, K); a DP's given the partition, Dir(n_1..n_B, α)
    whatever the slots' order (the collapsed chain targets the DP itself, not its sticks)."""
    keys = jax.random.split(key, counts.shape[0])
    return jax.vmap(lambda n, k: weights.sample_partition_weights(wspec.prior, n, k))(counts, keys)


@partial(jax.jit, static_argnames=("spec",))
def _state_draws(spec: _Spec, X, states, key):
    """Per recorded state (chains, length, …): the output draw and its stats (collapsed: the
    component parameters given the labels, and the counts for `_weight_draws`).  Kept apart from
    the sweeps so that warmup draws nothing and the samplers compile outside the scan."""
    p = spec.problem
    lead = jax.tree.leaves(states)[0].shape[:2]
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), states)
    keys = jax.random.split(key, flat["z"].shape[0])
    if spec.collapsed:
        out = jax.vmap(lambda z, k: _collapsed_draw(p, X, z, k))(flat["z"], keys)
    else:
        out = jax.vmap(lambda st: _blocked_draw(p, X, st))(flat)
    return jax.tree.map(lambda a: a.reshape(lead + a.shape[1:]), out)


def _draws(spec: _Spec, X, states, key) -> dict:
    """The output draws of a segment's recorded states, on the host."""
    k_state, k_weights = jax.random.split(key)
    out = _state_draws(spec, X, states, k_state)
    if spec.collapsed:
        counts = out.pop("counts")
        lead = counts.shape[:2]
        w = _weight_draws(_WeightSpec(spec.problem.weights), counts.reshape((-1,) + counts.shape[2:]), k_weights)
        out["weights"] = w.reshape(lead + w.shape[1:])
    return out


# --------------------------------------------------------------------------- fit

def _settings(settings: dict) -> tuple[int, int, int]:
    s = {"sweeps": 1000, "warmup": 200, "chains": 4, **(settings or {})}
    try:
        sweeps, warmup, chains = int(s["sweeps"]), int(s["warmup"]), int(s["chains"])
    except (TypeError, ValueError):
        raise AuguryInferenceError("gibbs: `sweeps`, `warmup` and `chains` must be whole numbers",
                                   notes=[f"got sweeps={s['sweeps']!r}, warmup={s['warmup']!r}, chains={s['chains']!r}"])
    if sweeps < 1 or warmup < 0 or chains < 1:
        raise AuguryInferenceError("gibbs: needs sweeps >= 1, warmup >= 0 and chains >= 1",
                                   notes=[f"got sweeps={sweeps}, warmup={warmup}, chains={chains}"])
    return sweeps, warmup, chains


def _check_problem(problem: MixtureProblem, allowed: np.ndarray) -> None:
    if problem.family == "vmf" and problem.vmf.kappa is None and \
            (problem.vmf.kappa_shape is None or problem.vmf.kappa_rate is None):
        raise AuguryInferenceError("gibbs: the vMF concentration needs a fixed value or a gamma prior")
    if problem.family == "gaussian" and not problem.conjugate and problem.gaussian.kind != "independent":
        raise AuguryInferenceError(f"gibbs: unknown Gaussian prior kind {problem.gaussian.kind!r}")
    refuse_overflowing_points(problem, "gibbs")
    bad = np.flatnonzero(~allowed.any(axis=1))
    if bad.size:
        raise AuguryInferenceError(
            f"gibbs: {bad.size} point(s) have an observed label no component can take (first: point {bad[0]})",
            notes=["observed labels must lie in 0 … K−1 (classes 0 … C−1 with prototypes); −1 marks a missing label"])


def fit(problem: MixtureProblem, key, settings: dict, progress: bool = False) -> MixtureResult:
    """Gibbs draws of a mixture's labels, weights and component parameters: collapsed when
    `problem.conjugate`, blocked otherwise (see the module docstring)."""
    sweeps, warmup, chains = _settings(settings)
    allowed_np = np.asarray(problem.allowed())
    _check_problem(problem, allowed_np)
    X = jnp.asarray(problem.X, problem.dtype) if problem.dtype is not None else jnp.asarray(problem.X)
    labels = np.asarray(problem.labels, np.int32)
    free_np = (labels < 0) | (problem.weights.groups is not None)
    X = shard_points(X)
    # `collapsed` (default true) collapses where the components are conjugate; false runs them blocked
    collapsed = bool((settings or {}).get("collapsed", True)) and problem.conjugate
    spec = _Spec(problem, collapsed)
    total = warmup + sweeps
    length = int(min(_MAX_SEGMENT, max(1, -(-total // _SEGMENTS))))
    k_start, k_run = jax.random.split(key)
    state = _start(spec, X, allowed_np, free_np, labels, k_start, chains)
    allowed, free = shard_points(allowed_np, free_np)

    last = None  # the last segment's states, for a draw if Ctrl-C comes during warmup

    def advance(s, state, extra, lo, hi):
        nonlocal last
        k_seg, k_draw = jax.random.split(jax.random.fold_in(k_run, s))
        state, states, trunc = _segment(spec, X, allowed, free, state, k_seg, length)
        last = (states, trunc, k_draw)
        if hi <= lo:
            return state, None, extra
        # draws for the whole segment (one compiled shape), the kept ones sliced
        out = jax.device_get({**_draws(spec, X, states, k_draw), "truncated": trunc})
        return state, {k: v[:, lo:hi] for k, v in out.items()}, extra

    run_ = run_segments("gibbs", total=total, warmup=warmup, length=length, state=state, extra={}, advance=advance,
                        progress=progress)
    kept, done, interrupted = run_.kept, run_.done, run_.interrupted
    warnings_: list[str] = []
    if interrupted:
        if not kept:
            if last is None:  # (nor a segment run since a resume: the checkpoint holds the state)
                raise KeyboardInterrupt
            states, trunc, k_draw = last
            out = jax.device_get({**_draws(spec, X, states, k_draw), "truncated": trunc})
            kept = [{k: v[:, -1:] for k, v in out.items()}]
            warnings_.append(f"gibbs was interrupted during warmup (after {done} of {warmup} sweeps): the one "
                             "draw per chain returned is the chain's current state, not a posterior draw")
        else:
            warnings_.append(f"gibbs was interrupted after {done} of {total} sweeps: "
                             f"{sum(k['assignment'].shape[1] for k in kept)} draws per chain kept")
    out = concatenated(kept)
    truncated = out.pop("truncated")
    stats = {"num_components": out.pop("num_components").astype(np.int32), "log_joint": out.pop("log_joint")}
    draws = {"assignment": out.pop("assignment").astype(np.int32), "weights": out.pop("weights"), **out}
    if problem.family == "gaussian" and problem.gaussian.kind == "known_cov":
        draws.pop("covariances", None)

    z = draws["assignment"].reshape(-1, problem.N)
    resp = np.zeros((problem.N, problem.K))
    np.add.at(resp, (np.broadcast_to(np.arange(problem.N), z.shape), z), 1.0)
    resp /= z.shape[0]

    n_trunc = int(np.sum(truncated))
    if n_trunc:
        what = ("a point found all K slots occupied by the others and could not open a new component"
                if collapsed else "all K sticks were occupied")
        warnings_.append(
            f"gibbs: the Dirichlet process truncation was reached in {n_trunc} of {truncated.size} kept sweeps "
            f"({what}); the draws may miss components: raise the simplex size (K = {problem.K})")
    rhat = _split_rhat(stats["log_joint"]) if chains > 1 else float("nan")
    if np.isfinite(rhat) and rhat > 1.05:
        warnings_.append(f"gibbs: the chains disagree (split R-hat of the log joint density {rhat:.3f} > 1.05); "
                         "run more sweeps or more warmup")
    if not np.all(np.isfinite(stats["log_joint"])):
        warnings_.append("gibbs: some draws have a non-finite log joint density; check the data and priors")
    info = {"mode": "collapsed" if collapsed else "blocked", "sweeps": sweeps, "warmup": warmup,
            "chains": chains, "sweeps_done": done, "truncation_reached": n_trunc, "rhat_log_joint": rhat}
    return MixtureResult(draws=draws, chains=chains, responsibilities=resp, stats=stats, info=info,
                         warnings=warnings_, interrupted=interrupted)


def run(problem, key, settings, *, method, progress):
    """The registry's entry point: `problem.mixture` fitted, as the model's named draws."""
    from ..mixtures.outputs import mixture_draws
    return mixture_draws(problem.mixture, fit(problem.mixture, key, settings, progress), method, settings)
