"""Move kernels for a population of particles: π_λ-invariant MCMC moves for tempered SMC.

Each kernel moves every particle `z` (rows of an (N, d) array) by a Markov kernel that leaves
π_λ(z) ∝ exp(log_prior(z) + λ log_likelihood(z)) invariant, with its tuning taken from the
particle population (Chopin 2002; Del Moral, Doucet & Jasra 2006, §3.3):

* `rw`: Gaussian random-walk Metropolis, proposal z' = z + s L ξ with L Lᵀ = Σ̂ + jitter·I, Σ̂
  the weighted particle covariance.  Ours.  ξ is drawn in float32 and widened: the move is
  exact for any symmetric increment (float32's normals are symmetric to 1e-7, as float64's
  are to 1e-16, far below Monte Carlo error), and on a CPU they cost a third as much.
* `hmc`: BlackJAX's HMC kernel (`blackjax.mcmc.hmc.build_kernel()`, velocity Verlet,
  `LEAPFROG_STEPS` leapfrog steps of size ε), inverse mass matrix the diagonal of Σ̂.
* `nuts`: BlackJAX's NUTS kernel (`blackjax.mcmc.nuts.build_kernel()`, multinomial sampling
  along the trajectory, at most `MAX_DOUBLINGS` doublings), same mass matrix.

BlackJAX's kernels are vmapped over particles; the population-level tuning is ours:

* the scale (s for `rw`, ε for `hmc`/`nuts`) is adapted between temperatures from the mean
  acceptance probability ā of the last temperature's moves.  For a random walk in d
  dimensions the acceptance is ≈ 2Φ(−s√d/2) (Roberts, Gelman & Gilks 1997), so
  s' = s Φ⁻¹(a*/2) / Φ⁻¹(ā/2); for HMC it is ≈ 2Φ(−c ε²) (Beskos, Pillai, Roberts,
  Sanz-Serna & Stuart 2013), so ε' = ε (Φ⁻¹(a*/2) / Φ⁻¹(ā/2))^½; we take the exponent ¼
  instead (half the step), because in few dimensions the leapfrog's stability limit makes
  the acceptance fall off a cliff that the model does not see, and the full step oscillated
  between acceptance ≈ 0.95 and ≈ 0 on a Gaussian test.  Each change is clipped to a factor
  in [1/4, 4].  The targets a* are `TARGET_ACCEPTANCE`; the starting scales are
  2.38/√d (random walk) and d^(−1/4) (HMC, NUTS), the optimal orders for a Gaussian target
  whose covariance the proposal matches.
* the number of moves at one temperature is dynamic: moves continue while the expected
  fraction of particles that have not moved yet, Π_j (1 − ā_j) over the moves j so far (ā_j
  the mean acceptance probability of move j), is above `STAY` = 1%, at least `min_moves`
  and at most `max_moves` times.  With a constant acceptance a this is the first
  k ≥ log(0.01) / log(1 − a): 13 moves at a = 0.3, 4 at a = 0.7, 45 at a = 0.1.  They also
  continue while the particles remember where the moves started: the correlation across
  particles between start and current positions, averaged over coordinates, is above
  `DECORRELATED` = 0.1 (the criterion of Buchholz, Chopin & Jacob 2021 for tuning the number
  of moves, on the coordinates themselves).

Acceptance probabilities are the Metropolis–Hastings ones (random walk, HMC) or, for NUTS,
BlackJAX's average over the trajectory; a NaN (a non-finite density) counts as 0.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from . import sharding
from .particles import weighted_mean_cov

TARGET_ACCEPTANCE = {"rw": 0.3, "hmc": 0.7, "nuts": 0.8}
LEAPFROG_STEPS = 10  # `hmc`: trajectory length 10 ε, ≈ 10 d^(−1/4) standard deviations at the start
MAX_DOUBLINGS = 10  # `nuts`: at most 2^10 leapfrog steps per move (BlackJAX's default)
STAY = 0.01  # stop moving once at most this fraction of particles is expected never to have moved
DECORRELATED = 0.1  # ... and the start and current positions correlate (across particles) at most this much
_MAX_CHANGE = 4.0  # a scale changes by at most this factor between temperatures


class Kernel(NamedTuple):
    """A population move kernel (see the module docstring).

    - `prepare(z, W) -> params`: what the moves read from the weighted population (the
      Cholesky factor of the covariance, or the diagonal inverse mass matrix).
    - `init(z, lp, ll, lam) -> state`: the kernel's per-particle state (leading axis N).
    - `move(key, state, lam, scale, params) -> (state, acceptance (N,))`: one move of every
      particle, invariant for π_lam.
    - `finish(state) -> (z, log_prior, log_likelihood)`.
    """

    name: str
    target_acceptance: float
    initial_scale: Callable[[int], float]
    prepare: Callable
    init: Callable
    move: Callable
    finish: Callable


def clean(ll):
    """NaN log densities as −∞ (a point where the model is undefined has no mass)."""
    return jnp.where(jnp.isnan(ll), -jnp.inf, ll)


def tempered(lp, ll, lam):
    """log π_lam up to its constant: lp + lam ll, −∞ where either is −∞ or NaN (and lam > 0)."""
    lp, ll = clean(lp), clean(ll)
    return jnp.where(jnp.isneginf(ll) | jnp.isneginf(lp), -jnp.inf, lp + lam * jnp.where(jnp.isneginf(ll), 0.0, ll))


def _jitter(diag):
    """A ridge for a covariance with diagonal `diag`: √eps times its mean scale (1 if zero)."""
    eps = jnp.finfo(diag.dtype).eps
    mean = jnp.mean(jnp.where(jnp.isfinite(diag), diag, 0.0))
    return jnp.sqrt(eps) * jnp.where(mean > 0, mean, 1.0)


def population_cov(z, W):
    """Weighted covariance of the particles with a small ridge (so that it factors even with
    fewer distinct particles than dimensions)."""
    _, cov = weighted_mean_cov(z, W)
    d = z.shape[1]
    return cov + _jitter(jnp.diag(cov)) * jnp.eye(d, dtype=z.dtype)


def adapt_scale(scale, acceptance, target: float, power: float, max_change: float = _MAX_CHANGE):
    """The next temperature's scale from this one's mean acceptance (module docstring)."""
    a = jnp.clip(acceptance, 1e-6, 1.0 - 1e-6)
    ratio = (ndtri(jnp.asarray(target / 2.0, a.dtype)) / ndtri(a / 2.0)) ** power
    ratio = jnp.clip(jnp.where(jnp.isnan(ratio), 1.0, ratio), 1.0 / max_change, max_change)
    return scale * ratio


def random_walk(log_prior: Callable, log_likelihood: Callable) -> Kernel:
    """Gaussian random-walk Metropolis with proposal covariance s² (Σ̂ + jitter·I)."""
    vlp, vll = jax.vmap(log_prior), jax.vmap(log_likelihood)

    def prepare(z, W):
        return jnp.linalg.cholesky(population_cov(z, W))

    def init(z, lp, ll, lam):
        return z, lp, clean(ll)

    def move(key, state, lam, scale, chol):
        z, lp, ll = state
        k_prop, k_acc = jax.random.split(key)
        # the increments only need to be symmetric for the move to be exact: float32 normals are
        # (and on a CPU a third of the cost of float64 ones); the acceptance test stays in z's dtype
        xi = jax.random.normal(k_prop, z.shape, jnp.float32).astype(z.dtype)
        zp = z + scale * xi @ chol.T
        lpp, llp = vlp(zp), clean(vll(zp))
        log_a = tempered(lpp, llp, lam) - tempered(lp, ll, lam)
        log_a = jnp.where(jnp.isnan(log_a), -jnp.inf, log_a)  # both −∞, or a NaN proposal: stay
        accept = jnp.log(jax.random.uniform(k_acc, log_a.shape, z.dtype)) < log_a
        new = (jnp.where(accept[:, None], zp, z), jnp.where(accept, lpp, lp), jnp.where(accept, llp, ll))
        return new, jnp.exp(jnp.minimum(log_a, 0.0))

    def finish(state):
        return state

    return Kernel("rw", TARGET_ACCEPTANCE["rw"], lambda d: 2.38 / d ** 0.5, prepare, init, move, finish)


def _hamiltonian(name: str, log_prior: Callable, log_likelihood: Callable) -> Kernel:
    from blackjax.mcmc import hmc, nuts

    vlp, vll = jax.vmap(log_prior), jax.vmap(log_likelihood)
    step = hmc.build_kernel() if name == "hmc" else nuts.build_kernel()

    def density(lam):
        return lambda z: log_prior(z) + lam * clean(log_likelihood(z))

    def prepare(z, W):
        _, cov = weighted_mean_cov(z, W)
        var = jnp.diag(cov)
        return var + _jitter(var)

    def init(z, lp, ll, lam):
        return jax.vmap(lambda x: hmc.init(x, density(lam)))(z)

    def move(key, state, lam, scale, inv_mass):
        logdensity = density(lam)
        extra = LEAPFROG_STEPS if name == "hmc" else MAX_DOUBLINGS

        def one(k, s):
            new, info = step(k, s, logdensity, scale, inv_mass, extra)
            return new, info.acceptance_rate

        keys = jax.random.split(key, state.position.shape[0])
        new, acc = jax.vmap(one)(keys, state)
        return new, jnp.where(jnp.isnan(acc), 0.0, jnp.clip(acc, 0.0, 1.0)).astype(state.position.dtype)

    def finish(state):
        z = state.position
        return z, vlp(z), clean(vll(z))

    return Kernel(name, TARGET_ACCEPTANCE[name], lambda d: d ** -0.25, prepare, init, move, finish)


def make_kernel(name: str, log_prior: Callable, log_likelihood: Callable) -> Kernel:
    """The move kernel `name` ("rw", "hmc" or "nuts") for the given log densities of one z."""
    if name == "rw":
        return random_walk(log_prior, log_likelihood)
    if name in ("hmc", "nuts"):
        return _hamiltonian(name, log_prior, log_likelihood)
    raise ValueError(f"unknown SMC kernel {name!r}; use one of rw, hmc, nuts")


def scale_power(kernel: Kernel) -> float:
    """The exponent of the scale adaptation: 1 for the random walk, ¼ for HMC and NUTS (half
    the ½ of the model, see the module docstring)."""
    return 1.0 if kernel.name == "rw" else 0.25


def _position(state):
    """The particles' positions (N, d) in a kernel's state."""
    return getattr(state, "position", None) if hasattr(state, "position") else state[0]


def _correlation(z0, z):
    """Mean over coordinates of the correlation across particles between where the particles
    started this temperature's moves and where they are now."""
    a, b = z0 - z0.mean(0), z - z.mean(0)
    num = jnp.sum(a * b, 0)
    den = jnp.sqrt(jnp.sum(a * a, 0) * jnp.sum(b * b, 0))
    return jnp.mean(jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0))


def run_moves(kernel: Kernel, key, state, lam, scale, params, min_moves: int, max_moves: int,
              mesh: Any = None):
    """Move every particle between `min_moves` and `max_moves` times (a `while_loop`), until the
    expected fraction that never moved, Π_j (1 − ā_j), is at most `STAY` and the particles have
    forgotten where they started: the mean correlation across particles between the start and
    the current positions is at most `DECORRELATED` (a move that is accepted but short keeps
    the particles where resampling put them, and the duplicates it made stay correlated).
    Returns (state, number of moves, mean acceptance over the moves)."""
    dtype = jnp.result_type(lam)
    z0 = _position(state)

    def more(carry):
        j, _, _, stay, _, corr = carry
        return (j < min_moves) | ((j < max_moves) & ((stay > STAY) | (corr > DECORRELATED)))

    def body(carry):
        j, st, k, stay, total, _ = carry
        k, sub = jax.random.split(k)
        st, acc = kernel.move(sub, st, lam, scale, params)
        st = sharding.constrain(st, mesh)
        a = jnp.mean(acc)
        return j + 1, st, k, stay * (1.0 - a), total + a, _correlation(z0, _position(st)).astype(dtype)

    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    j, state, _, _, total, _ = jax.lax.while_loop(more, body, (jnp.int32(0), state, key, one, zero, one))
    return state, j, total / jnp.maximum(j, 1)


def run_chains(kernel: Kernel, key, state, lam, scale, params, length: int):
    """Waste-free chains: `length` − 1 moves from each of the M states in `state`, keeping every
    state visited.  Returns (the stacked states, leading axis length·M in the order
    [all chains' step 0, all chains' step 1, ...], mean acceptance)."""

    def body(carry, k):
        st, total = carry
        st, acc = kernel.move(k, st, lam, scale, params)
        return (st, total + jnp.mean(acc)), st

    keys = jax.random.split(key, length - 1)
    (_, total), path = jax.lax.scan(body, (state, jnp.zeros((), jnp.result_type(lam))), keys)
    stacked = jax.tree.map(lambda a, p: jnp.concatenate([a[None], p]).reshape((-1,) + a.shape[1:]), state, path)
    return stacked, total / (length - 1)
