"""`pmmh`: particle marginal Metropolis–Hastings for the static parameters next to a chain.

Andrieu, Doucet & Holenstein (2010, JRSS-B 72(3), §2.4.2): a Metropolis–Hastings chain on the
static parameters θ whose likelihood p(y | θ) is replaced by a particle filter's unbiased
estimate p̂(y | θ); the chain still targets the exact posterior p(θ, x | y).  One iteration:

    θ' = θ + s L ε,  ε ~ N(0, I)                         (random walk in unconstrained coordinates)
    (p̂', x') = particle filter at θ' (x' one path traced back from a final particle)
    accept with probability min(1, p(θ') p̂' / (p(θ) p̂))   (the current estimate is kept, not redrawn)

Adaptation during warmup only (the sampling iterations are a fixed Markov chain): L is the
Cholesky factor of the pooled covariance of the chains' warmup draws so far (Haario, Saksman &
Tamminen 2001), s a per-chain scale moved by Robbins–Monro towards `target_accept`.  Sherlock,
Thiery, Roberts & Rosenthal (2015, Ann. Stat. 43(1)) show the efficiency is best near 7–15%
acceptance when the log-likelihood estimate has sd ≈ 1.2–1.8 at the posterior; after the run
that sd is measured at the posterior mean (32 filters) and a warning says when it is too large
(more particles) — Doucet, Pitt, Deligiannidis & Kohn (2015, Biometrika 102(2)).

Chains start from the best of 8 prior draws each (by estimated likelihood), so that a vague
prior does not leave a chain stuck where the estimate is -inf.  Chains run vectorized; each
driver step is a block of `BLOCK` iterations (one compiled scan), so progress shows and Ctrl-C
keeps the iterations done.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from augury.errors import AuguryInferenceError

from .. import filtering as F
from .. import particles as P
from .particle_filter import collapse_warnings
from .protocol import Draws, Problem

BLOCK = 25  # iterations per driver step
STARTS = P.PMMH_STARTS  # prior draws tried per chain for its starting point (the memory floor counts them)
NAN_NOTE = ("the particle filter's log-likelihood estimate or the prior is NaN there; check the model's scales, "
            "or give the static parameters tighter priors")


ITERATIONS_PER_STEP = BLOCK  # the driver's bar counts iterations, not blocks


def num_steps(settings: dict) -> int:
    return -(-num_iterations(settings) // BLOCK)


def num_iterations(settings: dict) -> int:
    return int(settings["warmup"]) + int(settings["samples"])


def phase(step: int, settings: dict) -> str:
    """The bar's label before driver step `step`."""
    return "pmmh warmup" if step * BLOCK < int(settings["warmup"]) else "pmmh sampling"


def _filter(problem: Problem, settings: dict):
    ss, static = problem.state_space, problem.static
    n = int(settings["particles"])
    proposal = F.resolve_proposal(ss, settings["proposal"])

    def estimate(z, key):
        """(log p̂(y | θ), one smoothing path, the ESS per time step) at unconstrained θ = z."""
        theta = static.constrain(z)
        k_f, k_p = jax.random.split(key)
        out = F.run_filter(ss, theta, k_f, n, resample=settings["resample"], ess_threshold=0.5,
                           proposal=proposal, store=True)
        path = F.genealogy_paths(out.particles, out.ancestors, out.final_log_weights, k_p, 1,
                                 resample=settings["resample"])[0]
        ll = jnp.where(jnp.isnan(out.log_evidence), -jnp.inf, out.log_evidence)
        return ll, path, out.ess

    return estimate


def _batch_estimate(problem: Problem, settings: dict):
    """`vmap(estimate)` compiled once per problem and settings (the start and the final
    likelihood-sd check share it)."""
    key = ("pmmh", "estimate") + tuple(sorted((k, v) for k, v in settings.items() if k in
                                              ("particles", "resample", "proposal")))
    if key not in problem.cache:
        problem.cache[key] = jax.jit(jax.vmap(_filter(problem, settings)))
    return problem.cache[key]


def build(problem: Problem, settings: dict):
    P.check_particle_counts(settings, "pmmh")
    static = problem.static
    chains, warmup = int(settings["chains"]), int(settings["warmup"])
    d = static.dimension
    target = float(settings["target_accept"])
    estimate = _filter(problem, settings)
    batch = _batch_estimate(problem, settings)

    def init(key):
        k_draw, k_est = jax.random.split(key)
        z = jax.jit(jax.vmap(static.draw))(jax.random.split(k_draw, chains * STARTS))
        lp = jax.jit(jax.vmap(static.log_prior))(z)
        ll, path, _ = batch(z, jax.random.split(k_est, chains * STARTS))
        score = jnp.where(jnp.isnan(lp + ll), -jnp.inf, lp + ll).reshape(chains, STARTS)
        _refuse_a_start_with_zero_likelihood(problem, settings, z, score, k_est)
        best = jnp.argmax(score, axis=1) + jnp.arange(chains) * STARTS
        dtype = z.dtype
        # the prior draws' spread sets the first proposal's shape; warmup replaces it
        cov0 = jnp.diag(jnp.var(z, axis=0) + 1e-6) if d else jnp.zeros((0, 0), dtype)
        return dict(z=z[best], lp=lp[best], ll=ll[best], path=path[best],
                    log_scale=jnp.full((chains,), math.log(2.38 / math.sqrt(max(d, 1))) - 1.0, dtype),
                    mean=jnp.zeros(d, dtype), cov=cov0, run_cov=jnp.zeros((d, d), dtype), count=jnp.zeros((), dtype),
                    it=jnp.zeros((), jnp.int32))

    def one(state, key):
        it = state["it"]
        k_prop, k_est, k_acc = jax.random.split(key, 3)
        chol = jnp.linalg.cholesky(state["cov"] + 1e-9 * jnp.eye(d, dtype=state["z"].dtype))
        eps = jax.random.normal(k_prop, state["z"].shape, state["z"].dtype)
        z_new = state["z"] + jnp.exp(state["log_scale"])[:, None] * (eps @ chol.T)
        lp_new = jax.vmap(static.log_prior)(z_new)
        ll_new, path_new, _ = jax.vmap(estimate)(z_new, jax.random.split(k_est, chains))
        log_alpha = (lp_new + ll_new) - (state["lp"] + state["ll"])
        log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
        accept = jnp.log(jax.random.uniform(k_acc, (chains,), state["z"].dtype)) < log_alpha
        sel = lambda new, old: jnp.where(accept.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)  # noqa: E731
        z, lp, ll, path = sel(z_new, state["z"]), sel(lp_new, state["lp"]), sel(ll_new, state["ll"]), \
            sel(path_new, state["path"])
        in_warmup = it < warmup
        # Robbins–Monro on the log scale, and the pooled running covariance (Welford), warmup only
        rate = 1.0 / jnp.power(it.astype(z.dtype) + 1.0, 0.6)
        prob = jnp.minimum(1.0, jnp.exp(log_alpha))
        log_scale = jnp.where(in_warmup, state["log_scale"] + rate * (prob - target), state["log_scale"])
        # the chains' running mean and covariance over warmup (pooled, Welford); the proposal keeps
        # the prior's shape until 50 iterations have been seen, then follows the running estimate
        count = state["count"] + chains
        delta = z.mean(0) - state["mean"]
        mean = state["mean"] + delta * chains / count
        centered = z - mean
        batch_cov = centered.T @ centered / chains
        run_cov = state["run_cov"] + (batch_cov - state["run_cov"]) * chains / count
        cov = jnp.where(in_warmup & (it >= 50), run_cov, state["cov"])
        keep = lambda new, old: jnp.where(in_warmup, new, old)  # noqa: E731
        new = dict(z=z, lp=lp, ll=ll, path=path, log_scale=log_scale, mean=keep(mean, state["mean"]), cov=cov,
                   run_cov=keep(run_cov, state["run_cov"]), count=keep(count, state["count"]), it=it + 1)
        return new, dict(z=z, ll=ll, path=path, accept=accept, prob=prob)

    def step(state, key):
        state, rec = jax.lax.scan(lambda s, k: one(s, k), state, jax.random.split(key, BLOCK))
        # values only: the driver checks `ll` for NaN (−inf is a legitimate rejected estimate)
        return state, {"_z": rec["z"], "_ll": rec["ll"], "_path": rec["path"], "_accept": rec["accept"],
                       "accept_prob": rec["prob"]}

    return init, step


def finalize(problem: Problem, state, infos: list, settings: dict) -> Draws:
    static, ss = problem.static, problem.state_space
    warmup, samples, chains = int(settings["warmup"]), int(settings["samples"]), int(settings["chains"])
    if not infos:
        return Draws({}, chains=chains, settings=dict(settings))

    def cat(key):
        return np.concatenate([np.asarray(i[key]) for i in infos], 0)  # (iterations, chains, ...)

    z, ll, path, accept = cat("_z"), cat("_ll"), cat("_path"), cat("_accept")
    z, ll, path, accept = (a[warmup:warmup + samples] for a in (z, ll, path, accept))
    kept = z.shape[0]
    out_settings = dict(settings)
    if kept == 0:
        return Draws({}, chains=chains, settings=out_settings,
                     warnings=["interrupted during warmup: no draws were kept"])
    flat = jnp.asarray(z.reshape(kept * chains, -1))
    values = jax.vmap(static.constrain)(flat)
    draws = {}
    for name, v in values.items():
        v = np.asarray(v)
        draws[name] = np.swapaxes(v.reshape((kept, chains) + v.shape[1:]), 0, 1)
    draws[ss.name] = np.swapaxes(path, 0, 1)
    order = [k for k in problem.kinds if k in draws] + [k for k in draws if k not in problem.kinds]
    draws = {k: draws[k] for k in order}
    stats = {"accepted": np.swapaxes(accept, 0, 1), "log_likelihood": np.swapaxes(ll, 0, 1)}
    warnings = []
    rate = float(accept.mean())
    sd, ess = _likelihood_sd(problem, settings, flat.mean(0))
    out_settings["log_likelihood_sd"] = sd
    if rate < 0.03 or (sd is not None and sd > 2.5):
        warnings.append(
            f"PMMH accepted {100 * rate:.1f}% of proposals and the log-likelihood estimate has sd {sd:.2f} at the "
            f"posterior mean (aim for about 1 to 1.5): the chain sticks where the estimate happens to be high\n"
            f"try: more particles (particles = {int(settings['particles'])} now; the sd falls like 1/sqrt(particles))"
            + (", or proposal = \"optimal\"" if ss.linear_gaussian is not None and settings["proposal"] == "bootstrap"
               else ""))
    warnings.extend(collapse_warnings(ess, int(settings["particles"]), settings["proposal"],
                                      ss.linear_gaussian is not None, where=" of the filter at the posterior mean"))
    return Draws(draws, chains=chains, sample_stats=stats, settings=out_settings, warnings=warnings)


def _refuse_a_start_with_zero_likelihood(problem: Problem, settings: dict, z, score, key) -> None:
    """A chain whose STARTS prior draws all have likelihood zero (or NaN) can never accept a
    move (the ratio is NaN); say where the filter lost the data instead of running it."""
    stuck = np.flatnonzero(~np.isfinite(np.asarray(score)).any(axis=1))
    if not stuck.size:
        return
    c = int(stuck[0])
    theta = problem.static.constrain(z[c * STARTS])
    out = F.run_filter(problem.state_space, theta, key, int(settings["particles"]), resample=settings["resample"],
                       proposal=F.resolve_proposal(problem.state_space, settings["proposal"]))
    bad = np.flatnonzero(~np.isfinite(np.asarray(out.log_evidence_increment)))
    where = (f"at t = {int(bad[0])} every particle got weight zero (or a NaN)" if bad.size else
             "the prior density of the static parameters is zero or NaN there")
    raise AuguryInferenceError(
        f"`pmmh`: the likelihood estimate is zero or NaN at all {STARTS} prior draws tried for chain {c + 1}'s "
        f"start: {where}, so no move could be accepted",
        notes=[f"check the data{f' at t = {int(bad[0])}' if bad.size else ''} and the emission's density there "
               "(a scale must be positive), or give the static parameters priors where the data are possible"])


def _likelihood_sd(problem: Problem, settings: dict, z_mean) -> tuple[float, np.ndarray]:
    """sd of the log-likelihood estimate at `z_mean` over chains × STARTS independent filters
    (the batch size of the start, so the compiled program is reused), and their median ESS per
    time step."""
    count = int(settings["chains"]) * STARTS
    z = jnp.broadcast_to(z_mean, (count,) + z_mean.shape)
    lls, _, ess = _batch_estimate(problem, settings)(z, jax.random.split(jax.random.PRNGKey(17), count))
    lls = np.asarray(lls)
    sd = float(np.std(lls[np.isfinite(lls)], ddof=1)) if np.isfinite(lls).sum() > 2 else float("inf")
    return sd, np.median(np.asarray(ess), axis=0)
