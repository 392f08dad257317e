"""Particle filtering and smoothing for a `StateSpace` chain x[0..T-1]: pure, jittable functions.

The filter (Gordon, Salmond & Smith 1993; the "guided" form of Chopin & Papaspiliopoulos 2020,
ch. 10) keeps a weighted particle system (x_t^i, W_t^i) for the filtering distribution
p(x[t] | y[0..t]).  One step t >= 1 (`filter_step`):

1. resample the time-(t−1) system when its ESS < `ess_threshold`·n (adaptive; 1.0 resamples at
   every step, 0.0 never), with the scheme `resample` (`augury.runtime.particles.resampler`;
   "systematic" draws the same indices as BlackJAX's in O(n));
2. propagate: "bootstrap" draws x_t from `transition_draw`; "optimal" (a linear-Gaussian step,
   `StateSpace.linear_gaussian`) draws from p(x_t | x_{t−1}, y_t) = N(m', P'), m = A x_{t−1} + c
   the transition mean, S = H Q Hᵀ + R, K = Q Hᵀ S⁻¹, m' = m + K (y − H m − b), P' = Q − K S Kᵀ
   (its square root from Joseph's form, `_joseph_factor`: stable for observation sd ≪ 1),
   with incremental weight p(y_t | x_{t−1}) = N(y_t; H m + b, S);
3. reweight by the emission (bootstrap) or that predictive (optimal), and add
   log Σ_i W_{t−1}^i w_t^i (a logsumexp; W uniform after resampling) to log Ẑ.

Step 0 (`filter_init`) draws x_0 from `init_draw` (bootstrap) or, when the linear-Gaussian step
gives `init_mean`/`init_cov`, from p(x_0 | y_0) (optimal), and weights by the emission at t = 0.

Conventions every caller (the `particle_filter` sampler, PMMH, SMC²) relies on:

* `FilterState.log_weights` are normalized (logsumexp 0); `FilterState.log_evidence` is the
  running log Ẑ and starts at `ss.constant_log_likelihood(theta)` (the data that does not read
  the chain), so after the last step it estimates log p(all data | theta).  The per-step
  `log_evidence_increment` in the infos does not include that constant.
* per-step records, indexed by t = 0..T−1: `ess[t]` is the ESS of the time-t weights (after
  reweighting at t, before any resampling of them: the number compared with ess_threshold·n
  on the way to t+1); `resampled[t]` is whether the time-t particles descend from a resampled
  time-(t−1) system (False at t = 0); `ancestors[t]` are their parents' indices in the time-(t−1)
  system (arange at t = 0 and when not resampled); `filtering_mean[t]`/`filtering_var[t]` are
  the weighted mean and element-wise variance of x[t] under the time-t weights.
* `eve` holds each particle's time-0 ancestor, for the single-run variance of log Ẑ of Lee &
  Whiteley (2018) (`augury.runtime.particles.log_evidence_variance`).
* step t's randomness is `jax.random.fold_in(key, t)` of the key the caller passes for the
  steps, so results do not depend on how the steps are blocked into scans; each particle's
  draw gets its own key from `particle_keys` (no hashing per particle).

Everything per particle is `jax.vmap`-ed over the particle axis, which `sharding.constrain`
keeps split across the devices of `mesh` (None: one device).

Cost per step: the model's draws and emission (one `transition_draw` and one
`emission_log_density` per particle) plus about six passes over the n weights (one exp; the
ESS, mean and variance are sums); resampling adds an O(n) index pass and two gathers.  On a
CPU in float64 the model's normal draws dominate (JAX's normal is threefry bits plus an
erf_inv: ~19 ns each), e.g. ~250–360 µs per step at n = 10⁴ for a stochastic-volatility model,
of which the filter's own work is ~40 µs.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from augury.errors import AuguryInferenceError

from . import particles as _p
from .sharding import constrain

PROPOSALS = ("auto", "bootstrap", "optimal")


class FilterState(NamedTuple):
    """The weighted particle system at time t."""

    particles: Any  # (n, *S)
    log_weights: Any  # (n,) normalized
    log_evidence: Any  # scalar: constant_log_likelihood + Σ_{s <= t} log-evidence increments
    eve: Any  # (n,) int32: each particle's time-0 ancestor
    resamplings: Any  # int32 scalar: resampling events so far
    weights: Any = None  # (n,) exp(log_weights), kept so that a step does not recompute it


class FilterOutput(NamedTuple):
    """`run_filter`'s result; per-step arrays have leading axis T (see the module docstring)."""

    log_evidence: Any  # scalar (includes constant_log_likelihood(theta))
    log_evidence_sd: Any  # scalar: Lee & Whiteley single-run estimate of sd(log Ẑ)
    ess: Any  # (T,)
    resampled: Any  # (T,) bool
    log_evidence_increment: Any  # (T,)
    filtering_mean: Any  # (T, *S)
    filtering_var: Any  # (T, *S)
    particles: Any = None  # (T, n, *S) with store=True
    ancestors: Any = None  # (T, n) with store=True
    log_weights: Any = None  # (T, n) normalized filtering log weights with store=True
    final_log_weights: Any = None  # (n,) with store=True
    state: Any = None  # the final FilterState


def resolve_proposal(ss, proposal: str) -> str:
    """"auto" → "optimal" when every step is linear-Gaussian, else "bootstrap"; "optimal" on a
    model whose step is not linear-Gaussian raises AuguryInferenceError."""
    if proposal == "auto":
        return "optimal" if ss.linear_gaussian is not None else "bootstrap"
    if proposal == "bootstrap":
        return proposal
    if proposal == "optimal":
        if ss.linear_gaussian is None:
            raise AuguryInferenceError(
                f"proposal=\"optimal\" needs a linear-Gaussian step, and the step of `{ss.name}` is not "
                "linear-Gaussian",
                notes=["the locally optimal proposal is exact only when x[t] is normal with a mean linear in "
                       "x[t-1] and the observations are normal with a mean linear in x[t]",
                       "use proposal=\"bootstrap\" (or \"auto\", which picks it here)"])
        return proposal
    raise AuguryInferenceError(f"unknown proposal {proposal!r}", notes=["it is one of \"auto\", \"bootstrap\", "
                                                                        "\"optimal\""])


# ------------------------------------------------------------------ helpers

def _dim(ss) -> int:
    return int(math.prod(ss.state_shape))


def _joseph_factor(K, H, Lq, Lr):
    """A lower-triangular L with L Lᵀ = P' = (I − K H) Q (I − K H)ᵀ + K R Kᵀ (Joseph's form of
    Q − K S Kᵀ, equal to it for the optimal gain K), Q = Lq Lqᵀ and R = Lr Lrᵀ.  P' = B Bᵀ for
    B = [(I − K H) Lq, K Lr] (D × (D + M)), so L is Rᵀ of the QR decomposition of Bᵀ: no
    subtraction of nearly equal matrices and no Cholesky of one, which with observation sd
    ≲ 1e-8 (P' ≈ R ≪ Q in the observed directions) went negative in rounding and gave NaN
    (the QR step of square-root Kalman filters).  Rows are flipped to a non-negative
    diagonal, the Cholesky factor's convention."""
    D = Lq.shape[0]
    B = jnp.concatenate([(jnp.eye(D, dtype=Lq.dtype) - K @ H) @ Lq, K @ Lr], axis=1)
    r = jnp.linalg.qr(B.T, mode="r")  # (D, D) upper triangular, rᵀ r = B Bᵀ
    return (r * jnp.where(jnp.diag(r) < 0, -1.0, 1.0).astype(r.dtype)[:, None]).T


def _gaussian_step(lg, theta, t, means, Q, key, mesh):
    """The locally optimal move for particles whose transition means are `means` (n, D) and
    whose transition covariance is Q (D, D): draws (n, D) and incremental log weights (n,).
    Where nothing is observed at t the move is the transition and the weight 1."""
    n, D = means.shape
    H, b, R, y = lg.emission(t, theta)
    M = jnp.size(y)
    H = jnp.reshape(H, (M, D)).astype(means.dtype)
    b = jnp.reshape(b, (M,)).astype(means.dtype)
    R = jnp.reshape(R, (M, M)).astype(means.dtype)
    y = jnp.reshape(y, (M,)).astype(means.dtype)
    observed = jnp.asarray(lg.observed(t), bool)
    S = H @ Q @ H.T + R
    S = 0.5 * (S + S.T)
    Ls = jnp.linalg.cholesky(S)
    HQ = H @ Q  # (M, D)
    K = jax.scipy.linalg.cho_solve((Ls, True), HQ).T  # Q Hᵀ S⁻¹, (D, M)
    Lq = jnp.linalg.cholesky(Q)
    Lp = jnp.where(observed, _joseph_factor(K, H, Lq, jnp.linalg.cholesky(R)), Lq)
    y_safe = jnp.where(observed, y, 0.0)
    innov = y_safe[None, :] - means @ H.T - b  # (n, M)
    innov = jnp.where(observed, innov, 0.0)
    new_means = means + innov @ K.T
    eps = jax.random.normal(key, (n, D), means.dtype)
    eps = constrain(eps, mesh)
    x = jnp.where(observed, new_means, means) + eps @ Lp.T
    z = jax.scipy.linalg.solve_triangular(Ls, innov.T, lower=True)  # (M, n)
    log_norm = jnp.sum(jnp.log(jnp.diag(Ls))) + 0.5 * M * jnp.log(2 * jnp.pi)
    log_incr = -0.5 * jnp.sum(z * z, axis=0) - log_norm
    return x, jnp.where(observed, log_incr, 0.0)


def _reweight(log_W_prev, log_incr):
    """(normalized log W, W, log Σ W_prev w) of the new system, with one exponential per
    particle (the hot loop's cost is a handful of passes over the particles); a NaN increment
    counts as weight 0; all weights 0 gives NaN weights, which the driver reports."""
    log_incr = jnp.where(jnp.isnan(log_incr), -jnp.inf, log_incr)
    lw = log_W_prev + log_incr
    top = jax.lax.stop_gradient(jnp.max(lw))
    w = jnp.exp(lw - top)
    total = jnp.sum(w)
    log_sum = top + jnp.log(total)
    return lw - log_sum, w / total, log_sum


def _info(x, W, increment, resampled, ancestors):
    mean = jnp.tensordot(W, x, axes=1)
    var = jnp.tensordot(W, (x - mean) ** 2, axes=1)
    return {"ess": 1.0 / jnp.sum(W * W), "resampled": resampled, "log_evidence_increment": increment,
            "filtering_mean": mean, "filtering_var": var, "ancestors": ancestors}


def resample_indices(name: str, key, weights, n: int):
    """n indices drawn by scheme `name` from normalized `weights` (int32): the schemes of
    `augury.runtime.particles`."""
    return _p.resampler(name)(key, weights, n).astype(jnp.int32)


def particle_keys(key, n: int):
    """n keys for the n particles' draws, without hashing: key i is `key` with its last word
    XOR-ed with i.  Threefry (and the RngBitGenerator schemes) are keyed pseudorandom functions,
    so distinct keys give independent streams (Salmon et al. 2011 use thread ids as keys);
    `jax.random.split` would hash every key once more, which costs as much as the draws.
    Works for raw uint32 keys and typed keys alike."""
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = jax.random.key_data(key) if typed else key
    i = jnp.arange(n, dtype=data.dtype)
    keys = jnp.concatenate([jnp.broadcast_to(data[:-1], (n,) + data[:-1].shape), (data[-1] ^ i)[:, None]], 1)
    return jax.random.wrap_key_data(keys, impl=jax.random.key_impl(key)) if typed else keys


# ------------------------------------------------------------------ the filter

def filter_init(ss, theta, key, n: int, *, proposal: str = "bootstrap", mesh=None):
    """The weighted system at t = 0: (FilterState, info_t0).  `proposal` "optimal" draws x_0 from
    p(x_0 | y_0) when `ss.linear_gaussian` gives `init_mean` and `init_cov` (else from the prior,
    as "bootstrap" does)."""
    proposal = resolve_proposal(ss, proposal)
    lg = ss.linear_gaussian
    dtype = jnp.result_type(float)
    if proposal == "optimal" and lg.init_mean is not None and lg.init_cov is not None:
        D = _dim(ss)
        m0 = jnp.reshape(jnp.asarray(lg.init_mean(theta), dtype), (D,))
        P0 = jnp.reshape(jnp.asarray(lg.init_cov(theta), dtype), (D, D))
        means = jnp.broadcast_to(m0, (n, D))
        x, log_incr = _gaussian_step(lg, theta, 0, means, P0, key, mesh)
        x = jnp.reshape(x, (n,) + tuple(ss.state_shape))
    else:
        keys = constrain(particle_keys(key, n), mesh)
        x = jax.vmap(ss.init_draw, (0, None))(keys, theta)
        x = constrain(x, mesh)
        log_incr = jax.vmap(ss.emission_log_density, (0, None, None))(x, 0, theta)
    x = constrain(x, mesh)
    log_incr = constrain(jnp.asarray(log_incr, dtype), mesh)
    log_W, W, log_sum = _reweight(jnp.full((n,), -math.log(n), dtype), log_incr)
    log_W, W = constrain((log_W, W), mesh)
    eve = constrain(jnp.arange(n, dtype=jnp.int32), mesh)
    constant = jnp.asarray(ss.constant_log_likelihood(theta), log_sum.dtype)
    state = FilterState(x, log_W, constant + log_sum, eve, jnp.zeros((), jnp.int32), W)
    return state, _info(x, W, log_sum, jnp.zeros((), bool), eve)


def filter_step(ss, theta, state: FilterState, key, t, *, resample: str = "systematic",
                ess_threshold: float = 0.5, proposal: str = "bootstrap", mesh=None):
    """One step from the time-(t−1) system in `state` to time t (t >= 1, may be traced):
    (FilterState, info_t)."""
    proposal = resolve_proposal(ss, proposal)
    x_prev, log_W = state.particles, state.log_weights
    n = log_W.shape[0]
    k_res, k_move = jax.random.split(key)
    W = jnp.exp(log_W) if state.weights is None else state.weights
    do = 1.0 < ess_threshold * n * jnp.sum(W * W)  # ESS = 1 / Σ W² < ess_threshold · n
    arange = jnp.arange(n, dtype=jnp.int32)

    def resampled(_):
        idx = constrain(resample_indices(resample, k_res, W, n), mesh)
        return idx, constrain(x_prev[idx], mesh), constrain(state.eve[idx], mesh), \
            jnp.full_like(log_W, -math.log(n))

    def kept(_):
        return arange, x_prev, state.eve, log_W

    ancestors, x_prev, eve, log_W_prev = jax.lax.cond(do, resampled, kept, None)
    ancestors, x_prev, eve, log_W_prev = constrain((ancestors, x_prev, eve, log_W_prev), mesh)

    if proposal == "optimal":
        lg = ss.linear_gaussian
        D = _dim(ss)
        flat = jnp.reshape(x_prev, (n, D))
        means = jax.vmap(lambda xp: jnp.reshape(lg.transition_mean(xp, t, theta), (D,)))(flat)
        means = constrain(means.astype(flat.dtype), mesh)
        Q = jnp.reshape(jnp.asarray(lg.transition_cov(t, theta), flat.dtype), (D, D))
        x, log_incr = _gaussian_step(lg, theta, t, means, Q, k_move, mesh)
        x = jnp.reshape(x, x_prev.shape)
    else:
        keys = constrain(particle_keys(k_move, n), mesh)
        x = jax.vmap(ss.transition_draw, (0, 0, None, None))(keys, x_prev, t, theta)
        x = constrain(x, mesh)
        log_incr = jax.vmap(ss.emission_log_density, (0, None, None))(x, t, theta)
    x = constrain(x.astype(x_prev.dtype), mesh)
    log_incr = constrain(jnp.asarray(log_incr, log_W.dtype), mesh)
    log_W_new, W_new, increment = _reweight(log_W_prev, log_incr)
    log_W_new, W_new = constrain((log_W_new, W_new), mesh)
    new = FilterState(x, log_W_new, state.log_evidence + increment, eve,
                      state.resamplings + do.astype(jnp.int32), W_new)
    return new, _info(x, W_new, increment, do, ancestors)


def step_key(key, t):
    """Step t's key: independent of how the steps are blocked."""
    return jax.random.fold_in(key, t)


STATS = ("ess", "resampled", "log_evidence_increment", "filtering_mean", "filtering_var")


def scan_steps(ss, theta, state: FilterState, key, ts, *, resample: str, ess_threshold: float,
               proposal: str, keep=STATS, mesh=None, active=None):
    """Steps t in `ts` (a 1-D int array) as one `lax.scan` from `state`: (state, records), the
    records the entries `keep` of each step's info stacked, where "particles" and "log_weights"
    name the new state's.  Steps whose `active` entry is False leave the state unchanged (a
    fixed-size block that runs past T); their records are garbage to be cut off."""
    def body(st, xs):
        t, on = xs
        new, info = filter_step(ss, theta, st, step_key(key, t), t, resample=resample,
                                ess_threshold=ess_threshold, proposal=proposal, mesh=mesh)
        info["particles"], info["log_weights"] = new.particles, new.log_weights
        if active is not None:
            new = jax.tree.map(lambda a, b: jnp.where(on, a, b), new, st)
        return new, {k: info[k] for k in keep}

    ts = jnp.asarray(ts, jnp.int32)
    on = jnp.ones(ts.shape, bool) if active is None else active
    return jax.lax.scan(body, state, (ts, on))


def _stack0(first, rest):
    """Per-step records: the t = 0 record in front of the stacked t >= 1 ones."""
    return jax.tree.map(lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b], 0), first, rest)


def log_evidence_sd(state: FilterState):
    """Lee & Whiteley's single-run estimate of sd(log Ẑ) from the Eves of `state`."""
    return jnp.sqrt(_p.log_evidence_variance(jnp.exp(state.log_weights), state.eve, state.resamplings))


def run_filter(ss, theta, key, n: int, *, resample: str = "systematic", ess_threshold: float = 0.5,
               proposal: str = "bootstrap", store: bool = False, mesh=None) -> FilterOutput:
    """The whole filter over t = 0..T−1: `filter_init`, then one `lax.scan` of `filter_step`.
    Jittable: n, `resample`, `proposal` and `store` static; `theta` (a dict of arrays) and
    `ess_threshold` may be traced, so a program may be vmapped over theta.  `store=True` keeps
    what smoothing needs: particles (T, n, *S), ancestors (T, n), the filtering log weights
    (T, n) and the final ones (n,).  Nothing else per particle is kept across steps."""
    proposal = resolve_proposal(ss, proposal)
    k0, ksteps = jax.random.split(key)
    state, info0 = filter_init(ss, theta, k0, n, proposal=proposal, mesh=mesh)
    keep = STATS + (("particles", "ancestors", "log_weights") if store else ())
    info0["particles"], info0["log_weights"] = state.particles, state.log_weights
    info0 = {k: info0[k] for k in keep}
    T = ss.length
    if T > 1:
        state, infos = scan_steps(ss, theta, state, ksteps, jnp.arange(1, T), resample=resample,
                                  ess_threshold=ess_threshold, proposal=proposal, keep=keep, mesh=mesh)
        rec = _stack0(info0, infos)
    else:
        rec = jax.tree.map(lambda a: jnp.asarray(a)[None], info0)
    return FilterOutput(
        log_evidence=state.log_evidence, log_evidence_sd=log_evidence_sd(state), ess=rec["ess"],
        resampled=rec["resampled"], log_evidence_increment=rec["log_evidence_increment"],
        filtering_mean=rec["filtering_mean"], filtering_var=rec["filtering_var"],
        particles=rec.get("particles") if store else None, ancestors=rec["ancestors"] if store else None,
        log_weights=rec.get("log_weights") if store else None,
        final_log_weights=state.log_weights if store else None, state=state)


# ------------------------------------------------------------------ smoothing

def trace_genealogy(particles, ancestors, final_indices):
    """The paths (m, T, *S) of the time-(T−1) particles `final_indices` (m,) back through their
    ancestors: `particles` (T, n, *S), `ancestors` (T, n) with ancestors[t] indexing the
    time-(t−1) system.  Early times share few ancestors (path degeneracy)."""
    def back(idx, xs):
        x_t, anc_t = xs
        return anc_t[idx], x_t[idx]

    _, path = jax.lax.scan(back, jnp.asarray(final_indices, jnp.int32), (particles, ancestors), reverse=True)
    return jnp.moveaxis(path, 0, 1)


def ffbs(ss, theta, particles, log_weights_per_t, key, m: int, *, resample: str = "systematic"):
    """Forward-filtering backward-sampling (Godsill, Doucet & West 2004): m equally weighted
    paths (m, T, *S) from the smoothing distribution, given the stored filtering particles
    (T, n, *S) and their log weights (T, n).  The last state is drawn from the final weights
    (with `resample`); then for t = T−2..0 each path's x_t is drawn from the time-t particles
    with weights ∝ W_t^i f(x_{t+1} | x_t^i) (`transition_log_density`).  O(m·n·T)."""
    T, n = log_weights_per_t.shape
    x_last, keys = ffbs_start(particles, log_weights_per_t, key, m, resample=resample)
    if T == 1:
        return x_last[:, None]

    def back(x_next, xs):
        x = ffbs_step(ss, theta, x_next, *xs)
        return x, x

    ts = jnp.arange(T - 1, dtype=jnp.int32)
    _, path = jax.lax.scan(back, x_last, (particles[:-1], log_weights_per_t[:-1], ts, keys), reverse=True)
    path = jnp.concatenate([path, x_last[None]], 0)
    return jnp.moveaxis(path, 0, 1)


def ffbs_start(particles, log_weights_per_t, key, m: int, *, resample: str = "systematic"):
    """FFBS's start: the m paths' last states (m, *S), drawn from the final weights with
    `resample`, and the keys of the backward steps t = 0..T−2 (T − 1, ...)."""
    k_last, k_back = jax.random.split(key)
    idx = resample_indices(resample, k_last, jnp.exp(_p.normalize(log_weights_per_t[-1])[0]), m)
    return particles[-1][idx], jax.random.split(k_back, log_weights_per_t.shape[0] - 1)


def ffbs_step(ss, theta, x_next, x_t, lw_t, t, key):
    """One backward step of FFBS: each of the m paths' x_t drawn from the time-t particles x_t
    (n, *S) with weights ∝ W_t^i f(x_next | x_t^i), given its x_{t+1} = x_next (m, *S)."""
    dens = jax.vmap(jax.vmap(ss.transition_log_density, (None, 0, None, None)), (0, None, None, None))
    logits = lw_t[None, :] + dens(x_next, x_t, t + 1, theta)  # (m, n)
    logits = jnp.where(jnp.isnan(logits), -jnp.inf, logits)
    j = jax.random.categorical(key, logits, axis=-1)
    return x_t[j]


def genealogy_paths(particles, ancestors, final_log_weights, key, m: int, *, resample: str = "systematic"):
    """m equally weighted paths (m, T, *S): m final particles drawn by their weights (with
    `resample`), traced back through the genealogy."""
    idx = resample_indices(resample, key, jnp.exp(_p.normalize(final_log_weights)[0]), m)
    return trace_genealogy(particles, ancestors, idx)
