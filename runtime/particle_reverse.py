"""The weighted-particle reverse process the particle diffusion samplers share (tds, mcgdiff,
ensemble): particles (x, log w) moved from noise to the clean signal, each step adding a
log-weight increment, resampled when the effective sample size falls, with the log evidence
and its single-run standard deviation.

A method supplies `make_particle_step(inverse, settings) -> (init, step)`:

- `init(x, rng, c, data) -> (state, log_w, rng)`: the particles at the first step's time t.  `x`
  is the shared start (`reverse.start_draw`: the noised prior, or with teleport the noised
  Gaussian posterior); a method may draw its own instead.  `state` is a dict of per-particle
  arrays (leading axis P) holding at least "x"; everything in it is carried from step to step
  and resampled together.  `log_w` (P,) are the initial unnormalized log weights.
- `step(state, rng, c, data) -> (state, log_incr, rng, info)`: one step t → s (coefficients `c`
  as in runtime/reverse.py), with the log-weight increments (P,) of the step; the last step
  lands on the clean signal and its increment includes the final likelihood.

This module adds the bookkeeping (weights kept normalized, log Σ W·exp(incr) summed into the
log evidence, Eve indices for the variance estimate) and resampling: after every step but the
last, when ESS < `ess_threshold` · P (always, when `ess_threshold` is None), with the scheme
`resample` (systematic by default; runtime/particles.py).  The last step's weights are kept:
the posterior is the weighted particle set.  Everything runs in the backend: on JAX inside the
compiled block (a resampling that is not due gathers with the identity), on PyTorch on the
network's device, so particles never leave it.

Log evidence: with normalized weights W before a step, log Ẑ gains log Σ_i W_i exp(incr_i); the
initial term is log mean exp(log w).  Its sd is Lee & Whiteley's single-run estimate
(`particles.log_evidence_variance`) from the final weights and Eves.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from augury.errors import AuguryInferenceError

from .reverse import (block_size, coefficients, denoised_estimate, in_range, network_fault, nonfinite_error, run_blocks,
                      skipped_steps, start_draw)
from .samplers.protocol import Draws, Problem


def weighted_step(bk, step: Callable, particles: int, ess_threshold, scheme: str, last: int) -> Callable:
    """The method's `step` with the weight bookkeeping around it, as one function of the
    loop's carry `(carry, rng, c, data)`, carry = {"state", "log_W", "eve", "log_Z", "resamplings"}.
    `last` is the index (in `c["i"]`) of the final step, after which nothing is resampled."""
    n = particles

    def run(carry, rng, c, data):
        state, log_incr, rng, info = step(carry["state"], rng, c, data)
        log_incr = bk.where(log_incr == log_incr, log_incr, -math.inf + 0 * log_incr)  # NaN: zero weight
        log_W = carry["log_W"] + log_incr
        total = bk.logsumexp(log_W)
        log_W = log_W - total
        ess = bk.exp(-bk.logsumexp(2 * log_W))
        due = ess < (ess_threshold * n if ess_threshold is not None else math.inf)
        due = due & (c["i"] < last)
        rng, idx = bk.resample(rng, log_W, n, scheme, due)
        state = bk.gather(state, idx)
        eve = bk.gather({"e": carry["eve"]}, idx)["e"]
        log_W = bk.where(due, 0 * log_W - math.log(n), log_W)
        out = {"state": state, "log_W": log_W, "eve": eve, "log_Z": carry["log_Z"] + total,
               "resamplings": carry["resamplings"] + bk.where(due, 1.0, 0.0)}
        return out, rng, dict(info, ess=ess, resampled=bk.where(due, 1.0, 0.0), log_normalizer=total)

    return run


def run_particle_reverse(problem: Problem, key, settings: dict, *, method: str, progress: bool,
                         make_particle_step: Callable, calls_per_step: int = 1, start_calls: int = 0,
                         ess_threshold: float | None = 0.5) -> Draws:
    """Run a weighted-particle sampler (see the module docstring) and return weighted draws."""
    inv = problem.inverse
    bk = inv.backend
    steps, particles = int(settings["steps"]), int(settings["particles"])
    if particles < 2:
        raise AuguryInferenceError(f"`particles` must be at least 2 for `{method}`, not {particles}")
    scheme = str(settings.get("resample", "systematic"))
    coeffs = coefficients(inv.prior.schedule, steps)
    for i, row in enumerate(coeffs):
        row["i"] = float(i)
    first = skipped_steps(settings, steps)
    n = steps - first
    size = block_size(n)
    # the step closes over the measurement, whose SVD (and the start's form) can change with teleport
    cache_key = (method, "particles", size, inv.measurement.svd is not None, first > 0) + \
        tuple(sorted((k, v) for k, v in settings.items() if k != "teleport"))
    compiled = problem.cache.get(cache_key)
    if compiled is None:
        init, step = make_particle_step(inv, settings)
        if bk.name == "jax":
            import jax
            init = jax.jit(init)  # the start's arithmetic, compiled once like the steps
        run_block = bk.compile_steps(weighted_step(bk, step, particles, ess_threshold, scheme, steps - 1),
                                     particles=particles)
        compiled = problem.cache[cache_key] = (init, run_block)
    init, run_block = compiled
    import jax
    k_start, k_init, k_run = jax.random.split(key, 3)
    data = inv.measurement.data()
    with bk.no_grad():
        x, _ = start_draw(inv, particles, coeffs[first], first > 0, bk.rng(k_start))
        c0 = {k: bk.scalar(v) for k, v in coeffs[first].items()}
        state, log_w, _ = init(x, bk.rng(k_init), c0, data)
    log_w = bk.where(log_w == log_w, log_w, -math.inf + 0 * log_w)
    total0 = bk.logsumexp(log_w)
    carry = {"state": state, "log_W": log_w - total0, "eve": bk.arange(particles),
             "log_Z": total0 - math.log(particles), "resamplings": bk.scalar(0.0)}
    carry, column, done, interrupted = run_blocks(bk, run_block, carry, bk.rng(k_run), coeffs, first, size, data,
                                                  method=method, progress=progress)
    host = lambda v: np.asarray(bk.to_numpy(v), np.float64)  # noqa: E731
    x, warnings = carry["state"]["x"], []
    if interrupted and done < steps:
        x = denoised_estimate(inv, x, coeffs[done])
        warnings.append(f"interrupted after {done - first} of {steps - first} steps: the draws are the denoised "
                        f"estimates E[x0 | x_t] at t = {coeffs[done]['t']:.3g} with the weights of that step, not "
                        "posterior draws")
    x_np, log_W = host(x), host(carry["log_W"])
    _check_finite(inv, method, x_np, log_W, column, first, coeffs, calls_per_step)
    dead = ~np.isfinite(log_W)
    if np.any(dead):  # weight zero: their draws never count; a finite stand-in keeps the summary finite
        x_np[dead] = x_np[int(np.argmax(log_W))]
    eve = np.asarray(bk.to_numpy(carry["eve"])).astype(np.int64)
    resamplings = int(round(float(host(carry["resamplings"]))))
    log_Z = float(host(carry["log_Z"])) + (float(host(data["log_norm"])) if "log_norm" in data else 0.0)
    log_Z_sd = _log_evidence_sd(log_W, eve, resamplings)
    if log_Z_sd == 0.0 and resamplings > 0 and not interrupted:  # a negative estimate: none, not a zero sd
        log_Z_sd = None
        # resampling after every step (mcgdiff) keeps it negative, and multinomial would cost accuracy
        fix = ("compare the log evidence over a few seeds (`seed=`)" if ess_threshold is None else
               "more particles, resample = \"multinomial\", or compare the log evidence over seeds")
        warnings.append("no single-run sd of the log evidence: its estimate from the particles' genealogy was "
                        f"negative (biased low when resampling often)\ntry: {fix}")
    if settings.get("best"):  # the highest-weight particle alone (a point estimate)
        j = int(np.argmax(log_W))
        x_np, log_W = x_np[j:j + 1], np.zeros(1)
    x_model, bounded, bound_warnings = inv.to_draws(x_np)
    if bk.name == "jax":
        from .sharding import describe, particle_mesh
        devices = describe(particle_mesh(particles))
    else:
        devices = str(getattr(bk, "device", "cpu"))
    out_settings = dict(settings, network_calls=(steps - first) * calls_per_step + start_calls, prior=inv.prior.description,
                        resamplings=resamplings, devices=devices, **bounded)
    stats = {"residual": column("residual"), "ess": column("ess"), "resampled": column("resampled") > 0.5}
    return Draws({inv.name: x_model}, log_weights=log_W, log_evidence=None if interrupted else log_Z,
                 log_evidence_sd=None if interrupted else log_Z_sd, sample_stats=stats, settings=out_settings,
                 warnings=warnings + bound_warnings, interrupted=interrupted)


def _log_evidence_sd(log_W: np.ndarray, eve: np.ndarray, resamplings: int) -> float:
    import jax.numpy as jnp

    from .particles import log_evidence_variance
    W = np.exp(log_W - np.max(log_W))
    W = W / W.sum()
    with np.errstate(all="ignore"):
        v = float(log_evidence_variance(jnp.asarray(W), jnp.asarray(eve), resamplings))
    return math.sqrt(max(v, 0.0))


def _check_finite(inv, method, x_np, log_W, column, first, coeffs, calls_per_step) -> None:
    """NaN, infinity or overflow from the network on finite inputs is its error (checked first: it
    also kills the particles' weights); all weights zero is an error of its own, at the step where
    the last one died; NaN in the particles kept is the sampler's."""
    notes = ["use more steps", "check that the data is in the range the prior expects"]
    if network_fault(inv, column) is not None:
        raise nonfinite_error(inv, method, column, first, coeffs, calls_per_step, notes)
    alive = np.isfinite(log_W)
    if not np.any(alive):
        dead = np.nonzero(~np.isfinite(column("ess")))[0]  # the normalized weights are NaN once all are zero
        at = f" from step {first + int(dead[0]) + 1} of {len(coeffs)}" if dead.size else ""
        raise AuguryInferenceError(
            f"`{method}`: every particle's weight is zero{at} (the likelihood is zero or not finite at all of them)",
            notes=["check that the data is in the range the prior expects, and its noise level",
                   "more particles, or more steps, make the weights less extreme"])
    if not in_range(x_np[alive]):
        raise nonfinite_error(inv, method, column, first, coeffs, calls_per_step, notes)
