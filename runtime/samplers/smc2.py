"""`smc2`: SMC² for the static parameters next to a chain, with the log evidence.

Chopin, Jacob & Papaspiliopoulos (2013, JRSS-B 75(3)): M parameter particles θ_m, each
carrying its own particle filter of `state_particles` particles over the chain.  At each time t
every filter takes one step, which gives the estimate p̂(y_t | y_{0:t−1}, θ_m) of the
incremental likelihood; θ_m's weight is multiplied by it and the log evidence grows by
log Σ_m W_m p̂(y_t | y_{0:t−1}, θ_m) (§3.1, eq. 9).  When the ESS of the θ-weights falls below
`ess_threshold`·M, the θ-particles are resampled together with their filters, and then moved
by `mcmc_steps` PMMH steps targeting p(θ | y_{0:t}) (§3.2): a Gaussian random walk in
unconstrained coordinates scaled to the θ-particles' covariance (2.38²/d, Roberts &
Rosenthal), a fresh filter for the proposal run over y_{0:t}, accepted with the PMMH ratio.
The algorithm is an exact SMC sampler on the extended space (θ, filter), so the evidence
estimate is unbiased and Lee & Whiteley's variance estimate applies to the θ system.

The θ axis is split across devices (`runtime/sharding.py`).  A driver step is one time step;
a rejuvenation reruns the filters from time 0, so its cost grows with t (the paper's
`N_x` doubling is not done: `state_particles` stays fixed).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import filtering as F
from .. import particles as P
from ..sharding import constrain, describe, particle_mesh
from .protocol import Draws, Problem

NAN_NOTE = ("every θ-particle's filter gave a likelihood estimate of zero or NaN there (every particle got weight "
            "zero or a NaN), or the prior of the static parameters is NaN; check the data at that time and the "
            "emission's density there (a scale must be positive), or give the static parameters tighter priors")


def step_where(i: int) -> str:
    """Driver step i + 1 is time t = i + 1 (the filters start at t = 0 in `init`)."""
    return f"step {i + 1} (t = {i + 1})"


def num_steps(settings: dict):
    return None  # one step per time step: T − 1, which the problem knows


def is_done(state) -> bool:
    return bool(state["t"] >= state["T"] - 1)


def build(problem: Problem, settings: dict):
    P.check_particle_counts(settings, "smc2")
    ss, static = problem.state_space, problem.static
    M, n = int(settings["particles"]), int(settings["state_particles"])
    threshold, moves = float(settings["ess_threshold"]), int(settings["mcmc_steps"])
    resample = settings["resample"]
    proposal = F.resolve_proposal(ss, settings["proposal"])
    mesh = particle_mesh(M)
    d = static.dimension
    T = ss.length

    def theta_of(z):
        return jax.vmap(static.constrain)(z)

    def filters_init(theta, keys):
        return jax.vmap(lambda th, k: F.filter_init(ss, th, k, n, proposal=proposal))(theta, keys)

    def filters_step(theta, fstate, keys, t):
        return jax.vmap(lambda th, fs, k: F.filter_step(ss, th, fs, k, t, resample=resample, ess_threshold=0.5,
                                                        proposal=proposal))(theta, fstate, keys)

    def filter_upto(th, key, t):
        """A fresh filter for θ over y_0..y_t: its state at time t."""
        k0, ks = jax.random.split(key)
        fs, _ = F.filter_init(ss, th, k0, n, proposal=proposal)
        body = lambda s, st: F.filter_step(ss, th, st, F.step_key(ks, s), s, resample=resample,  # noqa: E731
                                           ess_threshold=0.5, proposal=proposal)[0]
        return jax.lax.fori_loop(1, t + 1, body, fs)

    def init(key):
        k_draw, k_f = jax.random.split(key)
        z = constrain(jax.vmap(static.draw)(jax.random.split(k_draw, M)), mesh)
        lp = jax.vmap(static.log_prior)(z)
        fstate, _ = filters_init(theta_of(z), jax.random.split(k_f, M))
        ll = jnp.where(jnp.isnan(fstate.log_evidence), -jnp.inf, fstate.log_evidence)
        log_W, log_sum = P.normalize(jnp.full((M,), -math.log(M), ll.dtype) + ll)
        return dict(z=z, lp=lp, fstate=fstate, log_W=constrain(log_W, mesh), log_evidence=log_sum,
                    eve=constrain(jnp.arange(M, dtype=jnp.int32), mesh), resamplings=jnp.zeros((), jnp.int32),
                    t=jnp.zeros((), jnp.int32), T=jnp.asarray(T, jnp.int32))

    def rejuvenate(z, lp, fstate, key, t, chol):
        """`moves` PMMH steps for every θ-particle, targeting p(θ | y_0..y_t)."""
        def one(carry, k):
            z, lp, fstate = carry
            k_prop, k_f, k_acc = jax.random.split(k, 3)
            z_new = z + jax.random.normal(k_prop, z.shape, z.dtype) @ chol.T
            lp_new = jax.vmap(static.log_prior)(z_new)
            fs_new = jax.vmap(lambda th, kk: filter_upto(th, kk, t))(theta_of(z_new), jax.random.split(k_f, M))
            ll_old = fstate.log_evidence
            ll_new = jnp.where(jnp.isnan(fs_new.log_evidence), -jnp.inf, fs_new.log_evidence)
            log_alpha = lp_new + ll_new - lp - ll_old
            log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
            accept = jnp.log(jax.random.uniform(k_acc, (M,), z.dtype)) < log_alpha
            pick = lambda a, b: jnp.where(accept.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)  # noqa: E731
            carry = (pick(z_new, z), pick(lp_new, lp), jax.tree.map(pick, fs_new, fstate))
            return carry, jnp.mean(accept.astype(z.dtype))

        (z, lp, fstate), rates = jax.lax.scan(one, (z, lp, fstate), jax.random.split(key, moves))
        return z, lp, fstate, rates.mean()

    def step(state, key):
        t = state["t"] + 1
        k_f, k_res, k_move = jax.random.split(key, 3)
        z, lp, log_W = state["z"], state["lp"], state["log_W"]
        theta = theta_of(z)
        fstate, finfo = filters_step(theta, state["fstate"], jax.random.split(k_f, M), t)
        incr = fstate.log_evidence - state["fstate"].log_evidence
        incr = jnp.where(jnp.isnan(incr), -jnp.inf, incr)
        log_W, log_sum = P.normalize(log_W + incr)
        log_W = constrain(log_W, mesh)
        ess = P.ess(log_W)
        W = jnp.exp(log_W)
        # the filtering mean of x[t] under the joint posterior of (θ, x[t]) given y_0..y_t
        x_mean = jnp.tensordot(W, finfo["filtering_mean"], axes=1)
        do = ess < threshold * M

        def moved(args):
            z, lp, fstate, log_W, eve = args
            mean, cov = P.weighted_mean_cov(z, jnp.exp(log_W))
            scale = 2.38 / math.sqrt(max(d, 1))
            chol = jnp.linalg.cholesky(scale ** 2 * cov + 1e-9 * jnp.eye(d, dtype=z.dtype))
            idx = P.resampler(resample)(k_res, jnp.exp(log_W), M).astype(jnp.int32)
            take = lambda a: constrain(a[idx], mesh)  # noqa: E731
            z, lp, fstate, eve = take(z), take(lp), jax.tree.map(take, fstate), take(eve)
            z, lp, fstate, rate = rejuvenate(z, lp, fstate, k_move, t, chol)
            return z, lp, fstate, jnp.full_like(log_W, -math.log(M)), eve, rate

        def kept(args):
            z, lp, fstate, log_W, eve = args
            return z, lp, fstate, log_W, eve, jnp.asarray(jnp.nan, z.dtype)

        z, lp, fstate, log_W, eve, rate = jax.lax.cond(do, moved, kept, (z, lp, fstate, log_W, state["eve"]))
        new = dict(z=z, lp=lp, fstate=fstate, log_W=log_W, log_evidence=state["log_evidence"] + log_sum, eve=eve,
                   resamplings=state["resamplings"] + do.astype(jnp.int32), t=t, T=state["T"])
        info = {"ess": ess, "resampled": do, "log_evidence_increment": log_sum, "_acceptance_rate": rate,
                "_filtering_mean": x_mean}
        return new, info

    return init, step


def finalize(problem: Problem, state, infos: list, settings: dict) -> Draws:
    static = problem.static
    z = state["z"]
    values = jax.jit(jax.vmap(static.constrain))(z)
    draws = {k: np.asarray(v) for k, v in values.items()}
    order = [k for k in problem.kinds if k in draws] + [k for k in draws if k not in problem.kinds]
    draws = {k: draws[k] for k in order}
    log_W = np.asarray(state["log_W"])
    var = P.log_evidence_variance(jnp.exp(state["log_W"]), state["eve"], state["resamplings"])
    stats = {}
    if infos:
        for key, out in (("ess", "ess"), ("resampled", "resampled"), ("log_evidence_increment", "log_evidence_increment"),
                         ("_acceptance_rate", "acceptance_rate"), ("_filtering_mean", "filtering_mean")):
            stats[out] = np.stack([np.asarray(i[key]) for i in infos])
    warnings = []
    rates = stats.get("acceptance_rate")
    if rates is not None and np.any(np.isfinite(rates)) and np.nanmin(rates) < 0.05:
        warnings.append(
            f"SMC² moves accepted as few as {100 * float(np.nanmin(rates)):.1f}% of proposals at some step: the "
            f"filters' likelihood estimates are too noisy for the move to mix\n"
            f"try: more state_particles (now {int(settings['state_particles'])}), or more mcmc_steps")
    out_settings = dict(settings)
    out_settings["devices"] = describe(particle_mesh(int(settings["particles"])))
    return Draws(draws, chains=None, log_weights=log_W, log_evidence=float(state["log_evidence"]),
                 log_evidence_sd=float(np.sqrt(var)), sample_stats=stats, settings=out_settings, warnings=warnings)
