"""`smc`: adaptive tempered sequential Monte Carlo, with the log evidence and its variance.

A BlackJAX-style sampler looped by the driver (`build` -> `init`, `step`; `is_done`;
`finalize`).  Particles are the flat unconstrained vectors z of `Problem.unconstrained`; they
travel from the prior (temperature λ = 0) to the posterior (λ = 1) through the tempered
distributions π_λ(z) ∝ p(z) L(z)^λ (Neal 2001; Del Moral, Doucet & Jasra 2006, JRSS-B 68(3)).
Each step, one temperature:

1. the next temperature λ' is the one at which the conditional ESS of the incremental weights
   (Zhou, Johansen & Aston 2016, JCGS 25(3)) is `target_ess`·N, or 1 if reaching 1 keeps it
   above that (adaptive tempering, Jasra, Stephens, Doucet & Tsagaris 2011, Scand. J. Stat.
   38(1); bisection, `particles.next_temperature`);
2. reweighting by (λ' − λ) ℓ(z) (a particle with ℓ = −∞ gets weight 0, and one whose ℓ or log
   prior is NaN too, counted per step: a warning names the first step and how many); the log evidence gains
   log Σ_i W_i exp((λ' − λ) ℓ_i), the log normalizer of the step;
3. resampling (`resample`: BlackJAX's systematic, stratified, residual or multinomial schemes)
   when the ESS falls below `ess_threshold`·N (clearly below: by more than rounding, so that
   with `target_ess` = `ess_threshold`, the defaults, a step from equal weights, whose ESS the
   temperature search puts on the threshold, does not resample, and the next one does);
   each particle keeps the index of its time-0 ancestor (its Eve) through resampling;
4. MCMC moves invariant for π_λ' (`runtime/kernels.py`): `kernel` "rw" (random-walk Metropolis
   with the particles' covariance, ours), "hmc" or "nuts" (BlackJAX's kernels, vmapped over
   particles, diagonal inverse mass matrix = the particles' variances).  The proposal scale
   (or step size) is adapted between temperatures from the last mean acceptance (aims: 0.3
   for rw, 0.7 hmc, 0.8 nuts), and the number of moves is dynamic: at least `mcmc_steps`, at
   most `max_mcmc_steps`, stopping once the expected fraction of particles that never moved,
   Π_j (1 − ā_j) over this temperature's moves, is at most 1% (with a constant acceptance a:
   the first k ≥ log(0.01)/log(1 − a), e.g. 13 moves at a = 0.3).

`waste_free=True` is waste-free SMC (Dau & Chopin 2022, JRSS-B 84(1)): every step resamples
M = N/P starting points (P = max(`mcmc_steps`, 2), the chain length; N must be a multiple of
P), runs P − 1 moves from each, and keeps all N = M·P states visited as the new, equally
weighted particles (each inherits its starting point's Eve).  `ess_threshold` and
`max_mcmc_steps` do not apply then.

A run whose log weights are rounding noise is refused (`check_resolution`): each step adds
(λ' − λ) ε Σ_i W_i |ℓ_i|, the float rounding of its reweighting, and past 1 nat in all the run
stops with an error (data of 1e20 under a unit-scale prior: ℓ ≈ −5e39 at every particle, equal
to the last bit).

The run stops at λ = 1, or after `max_temperatures` temperatures (then the draws are from a
tempered distribution, not the posterior, a warning says so, and no log evidence is reported:
the normalizer of p(z) L(z)^λ at λ < 1 is not the model's).  The log evidence is the sum
of the step log normalizers; its standard deviation is estimated from the same run after Lee &
Whiteley (2018, Biometrika 105(3)), from the final weights and Eves (`particles.
log_evidence_variance`).  It is calibrated for `resample="multinomial"` and biased low for the
other schemes (15–20% in sd at the defaults on a Gaussian test, 2× when resampling at every
step).  Waste-free runs use the same estimator on the M chains (the conditionally independent
units; each waste-free resampling counts M draws): it ran 10–40% low in our tests, where the
sd was large (0.3–0.8 nats), and can come out 0.  When few Eves are left, the estimate is
unreliable and a warning says so.

What is BlackJAX's: the resampling schemes and the HMC/NUTS transition kernels.  What is ours:
the tempering schedule, the weights and evidence, Eve tracking and the variance estimate, the
random-walk kernel, the population tuning of every kernel, waste-free chains, and sharding the
particle axis over devices (`runtime/sharding.py`: one mesh, set up in `build`; the particle
arrays are constrained to it inside `init` and `step`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from augury.errors import AuguryInferenceError

from .. import kernels, particles, sharding
from .protocol import Draws, Problem

NAN_NOTE = ("the log likelihood or log prior is not finite for every particle (all particles got weight zero, or "
            "a move produced NaN); check the data's scale and the priors' supports, or try precision=\"float64\"")
RESOLUTION = 1.0  # nats of accumulated rounding in the log weights beyond which a run is refused
FEW_EVES = 10  # below this many distinct time-0 ancestors, the evidence variance estimate is unreliable
STEP_STATS = ("temperature", "ess", "resampled", "acceptance_rate", "mcmc_steps", "log_evidence_increment")


class SMCState(NamedTuple):
    """The population and the run's accumulators.  Particle axis first: `z` (N, d),
    `log_prior`, `log_likelihood`, `log_weights` (normalized), `eve` (N,)."""

    z: Any
    log_prior: Any
    log_likelihood: Any
    log_weights: Any
    eve: Any
    temperature: Any  # λ of the current population
    log_evidence: Any  # Σ of the step log normalizers so far
    resamplings: Any  # resampling events so far (int32)
    log_pair_factor: Any  # Σ over sampling events of log(n/(n−1)) (Lee & Whiteley's correction)
    scale: Any  # random-walk scale s, or the HMC/NUTS step size, for the next temperature
    count: Any  # temperatures done (int32)
    done: Any  # λ = 1, or `max_temperatures` reached
    key: Any  # for `finalize` (the discrete unknowns' draws)
    rounding: Any = 0.0  # Σ over steps of (λ' − λ) ε Σ_i W_i |ℓ_i|: the log weights' rounding error, in nats


def num_steps(settings: dict):
    return None  # adaptive: `is_done` says when


def is_done(state: SMCState) -> bool:
    check_resolution(float(state.rounding), float(jnp.finfo(state.z.dtype).eps))
    return bool(state.done)


def check_resolution(rounding: float, eps: float) -> None:
    """Refuse a run whose log weights are rounding noise: ℓ computed in floats of precision ε
    is off by about ε|ℓ|, so reweighting by (λ' − λ) ℓ is off by (λ' − λ) ε |ℓ|.  Summed over
    the steps that is the error of the log weights (and of the log evidence).  Data of 1e20
    under a prior of scale 1 gives ℓ ≈ −5e39 whatever the particle: every weight equal, the
    temperature jumps to 1 and the prior came back as the posterior, silently."""
    if rounding > RESOLUTION:
        scale = rounding / eps
        raise AuguryInferenceError(
            f"`smc` cannot resolve this log likelihood: its size at the particles is about {scale:.3g} nats, "
            f"which {'float32' if eps > 1e-10 else 'float64'} rounds by about {rounding:.3g} nats, so the "
            "particles' weights would be rounding noise", notes=[
                "center and rescale the data (and the parameters with them) so that the log likelihood is "
                "moderate near the posterior" + ("" if eps < 1e-10 else ", or try precision=\"float64\"")])


def _checked(problem: Problem, settings: dict):
    """(N, P or None): settings that need the problem or each other, checked."""
    u = problem.unconstrained
    if u is None or u.log_likelihood is None:
        raise AuguryInferenceError("`smc` needs the model's unknowns as one unconstrained vector with a log likelihood",
                                   notes=["this model has no continuous unknowns to temper, or its likelihood is "
                                          "computed elsewhere; try method=\"nuts\" or \"prior\""])
    n = int(settings["particles"])
    if n < 2:
        raise AuguryInferenceError(f"`particles` must be at least 2 for `smc`, not {n}")
    if int(settings["max_mcmc_steps"]) < int(settings["mcmc_steps"]):
        raise AuguryInferenceError(f"`max_mcmc_steps` ({settings['max_mcmc_steps']}) must be at least `mcmc_steps` "
                                   f"({settings['mcmc_steps']})")
    particles.resampler(settings["resample"])  # unknown scheme: ValueError
    if not settings["waste_free"]:
        return n, None
    p = max(int(settings["mcmc_steps"]), 2)
    if n % p or n // p < 2:
        near = max(2 * p, round(n / p) * p)
        raise AuguryInferenceError(
            f"waste-free SMC runs `particles` / P chains of P = max(mcmc_steps, 2) = {p} states each, so `particles` "
            f"must be a multiple of {p} and at least {2 * p}, not {n}", notes=[f"try particles={near}, or change "
                                                                             "mcmc_steps"])
    return n, p


def build(problem: Problem, settings: dict):
    """`init(key) -> SMCState` (jitted, cached on the problem) and `step(state, key) ->
    (state, info)` (jitted by the driver)."""
    n, chain = _checked(problem, settings)
    u = problem.unconstrained
    d = int(u.dimension)
    mesh = sharding.particle_mesh(n)
    kernel = kernels.make_kernel(settings["kernel"], u.log_prior, u.log_likelihood)
    resample = particles.resampler(settings["resample"])
    target_ess, threshold = float(settings["target_ess"]), float(settings["ess_threshold"])
    min_moves, max_moves = int(settings["mcmc_steps"]), int(settings["max_mcmc_steps"])
    max_temperatures = int(settings["max_temperatures"])
    power = kernels.scale_power(kernel)
    log_n_factor = math.log(n / (n - 1.0))

    def init(key):
        k_draw, k_keep = jax.random.split(key)
        z = sharding.constrain(jax.vmap(u.draw)(jax.random.split(k_draw, n)), mesh)
        dtype = z.dtype
        lp = jax.vmap(u.log_prior)(z).astype(dtype)
        ll = jax.vmap(u.log_likelihood)(z).astype(dtype)  # NaN kept: `step` counts it, then makes it −∞
        log_w = jnp.full((n,), -math.log(n), dtype)
        eve = jnp.arange(n, dtype=jnp.int32)
        z, lp, ll, log_w, eve = sharding.constrain((z, lp, ll, log_w, eve), mesh)
        zero = jnp.zeros((), dtype)
        return SMCState(z, lp, ll, log_w, eve, temperature=zero, log_evidence=zero, resamplings=jnp.int32(0),
                        log_pair_factor=jnp.asarray(log_n_factor, dtype),
                        scale=jnp.asarray(kernel.initial_scale(d), dtype), count=jnp.int32(0),
                        done=jnp.zeros((), bool), key=k_keep, rounding=zero)

    def step(state: SMCState, key):
        k_resample, k_move, k_keep = jax.random.split(key, 3)
        dtype = state.z.dtype
        lam = state.temperature
        # a NaN log density (the model undefined there) is weight zero, as −∞ is, but counted: finalize warns
        nan = jnp.sum(jnp.isnan(state.log_likelihood) | jnp.isnan(state.log_prior)).astype(jnp.int32)
        ll = kernels.clean(state.log_likelihood)
        new_lam = particles.next_temperature(state.log_weights, ll, lam, target_ess).astype(dtype)
        incr = jnp.where(jnp.isneginf(ll), -jnp.inf, (new_lam - lam) * jnp.where(jnp.isneginf(ll), 0.0, ll))
        log_w, log_norm = particles.normalize(state.log_weights + incr)
        log_w = sharding.constrain(log_w, mesh)
        ess = particles.ess(log_w)
        weights = jnp.exp(log_w)
        # ℓ is good to about ε|ℓ|; weighted by the new weights, it is the reweighting's rounding (the
        # weights renormalized here: where ℓ swamps log N the log weights no longer sum to one)
        rounding = state.rounding + (new_lam - lam) * jnp.finfo(dtype).eps * jnp.sum(
            weights * jnp.where(jnp.isfinite(ll), jnp.abs(ll), 0.0)) / jnp.sum(weights)
        scale = state.scale
        if chain is None:
            # clearly below the threshold: with target_ess = ess_threshold (the defaults) the temperature search
            # puts the ESS of a step from equal weights on the threshold itself, where rounding would decide
            do = ess < threshold * n * (1 - jnp.sqrt(jnp.finfo(dtype).eps))
            idx = jnp.where(do, resample(k_resample, weights, n).astype(jnp.int32), jnp.arange(n, dtype=jnp.int32))
            z, lp, ll, eve = sharding.constrain(
                (state.z[idx], state.log_prior[idx], ll[idx], state.eve[idx]), mesh)
            log_w = sharding.constrain(jnp.where(do, jnp.full_like(log_w, -math.log(n)), log_w), mesh)
            params = kernel.prepare(z, jnp.exp(log_w))
            ks = kernel.init(z, lp, ll, new_lam)
            ks, moves, acc = kernels.run_moves(kernel, k_move, sharding.constrain(ks, mesh), new_lam, scale, params,
                                               min_moves, max_moves, mesh)
            z, lp, ll = sharding.constrain(kernel.finish(ks), mesh)
            resamplings = state.resamplings + do.astype(jnp.int32)
            pair = state.log_pair_factor + jnp.where(do, log_n_factor, 0.0).astype(dtype)
        else:
            m = n // chain
            params = kernel.prepare(state.z, weights)
            idx = resample(k_resample, weights, m).astype(jnp.int32)
            ks = kernel.init(state.z[idx], state.log_prior[idx], ll[idx], new_lam)
            ks, acc = kernels.run_chains(kernel, k_move, ks, new_lam, scale, params, chain)
            z, lp, ll = sharding.constrain(kernel.finish(ks), mesh)
            eve = sharding.constrain(jnp.tile(state.eve[idx], chain), mesh)
            log_w = sharding.constrain(jnp.full((n,), -math.log(n), dtype), mesh)
            do = jnp.ones((), bool)
            moves = jnp.int32(chain - 1)
            resamplings = state.resamplings + 1
            pair = state.log_pair_factor + jnp.asarray(math.log(m / (m - 1.0)), dtype)
        acc = acc.astype(dtype)
        count = state.count + 1
        done = (new_lam >= 1) | (count >= max_temperatures)
        next_scale = kernels.adapt_scale(scale, acc, kernel.target_acceptance, power).astype(dtype)
        new = SMCState(z, lp.astype(dtype), ll.astype(dtype), log_w, eve, new_lam, state.log_evidence + log_norm,
                       resamplings, pair, next_scale, count, done, k_keep, rounding.astype(dtype))
        info = {"temperature": new_lam, "ess": ess, "resampled": do, "acceptance_rate": acc, "mcmc_steps": moves,
                "log_evidence_increment": log_norm, "_scale": scale, "nan_particles": nan}
        return new, info

    # `init` reads the number of particles, the kernel (its starting scale) and the unconstrained
    # view it draws from (the prior, or a reference: `settings["reference"]`)
    key = ("smc", "init", n, settings["kernel"], settings.get("reference", "auto"), id(problem.unconstrained))
    return problem.cache.setdefault(key, jax.jit(init)), step


def _summary(log_w, eve, log_pair_factor):
    w = jnp.exp(log_w)
    var = particles.log_evidence_variance(w, eve, 0, log_factor=log_pair_factor)
    return var, particles.distinct_eves(eve)


def nan_warning(infos: list, n: int) -> list[str]:
    """A warning when some particles' log likelihood or log prior was NaN (each got weight zero):
    the first step where it happened and how many particles then."""
    counts = np.asarray([int(np.asarray(i.get("nan_particles", 0))) for i in infos], np.int64)
    hit = np.flatnonzero(counts)
    if not hit.size:
        return []
    first = int(hit[0])
    return [f"`smc`: the log likelihood or log prior was NaN at {counts[first]} of {n} particles at step {first + 1} "
            f"of {len(infos)}" + (f" (and at {hit.size - 1} later steps)" if hit.size > 1 else "")
            + "; those particles got weight zero, as if outside "
            "the model's support, so the posterior covers only where the density is defined\n"
            "try: check the model's support and parameter ranges (a prior that puts mass where the likelihood "
            "is undefined, e.g. a negative scale or the log of a negative number)"]


def finalize(problem: Problem, state: SMCState, infos: list, settings: dict) -> Draws:
    """The particles (constrained), their weights, the log evidence and its sd, the per-step
    records; warnings when the run stopped short of λ = 1 or the variance estimate is unreliable."""
    u = problem.unconstrained
    n = int(settings["particles"])
    constrain = problem.cache.setdefault(("smc", "constrain"), jax.jit(jax.vmap(u.constrain)))
    summary = problem.cache.setdefault(("smc", "summary"), jax.jit(_summary))
    z = state.z
    draws = {k: sharding.to_host(v) for k, v in constrain(z).items()}
    if problem.recover_discrete is not None:
        sites = problem.cache.setdefault(("smc", "sites"), jax.jit(jax.vmap(u.sites or u.constrain)))(z)
        draws.update({k: np.asarray(v) for k, v in
                      problem.recover_discrete(sites, jax.random.fold_in(state.key, 7919)).items()})
    var, eves = summary(state.log_weights, state.eve, state.log_pair_factor)
    var, eves = float(var), int(eves)
    stats = {}
    for k in STEP_STATS:
        stats[k] = np.asarray([np.asarray(i[k]) for i in infos]) if infos else np.zeros(
            (0,), bool if k == "resampled" else (np.int32 if k == "mcmc_steps" else np.float64))
    stats["distinct_eves"] = np.asarray(eves)
    lam, count = float(state.temperature), int(state.count)
    warnings = []
    if lam < 1:
        if count >= int(settings["max_temperatures"]):
            warnings.append(
                f"SMC STOPPED BEFORE REACHING THE POSTERIOR: {count} temperatures (`max_temperatures`) took it only "
                f"to temperature {lam:.3g} of 1, so the draws are for a tempered distribution, not the posterior, "
                "and no log evidence is reported (the tempered one is not the model's)\ntry: a larger `max_temperatures`; a smaller `target_ess` (bigger steps); more "
                "`particles`; or a kernel that mixes better (kernel=\"hmc\" or \"nuts\", more `mcmc_steps`)")
        else:
            warnings.append(f"the run stopped at temperature {lam:.3g} of 1: the draws are for a tempered "
                            "distribution, not the posterior, and no log evidence is reported")
    warnings.extend(nan_warning(infos, n))
    if eves < FEW_EVES and lam >= 1:
        warnings.append(f"only {eves} of {n} initial particles still have descendants, so the estimate of the log "
                        f"evidence's standard deviation ({math.sqrt(var):.3g}) is unreliable\ntry: more `particles`")
    log_z, log_z_sd = float(state.log_evidence), math.sqrt(var)
    if lam < 1:  # the normalizer of p(z) L(z)^λ, not the evidence of the model
        log_z = log_z_sd = None
    out_settings = {**settings, "devices": sharding.describe(sharding.particle_mesh(n))}
    out_settings["reference"] = u.reference
    if not u.evidence_defined:  # tempered from a reference around the mode: an improper prior
        log_z = log_z_sd = None
    return Draws(draws, chains=None, log_weights=sharding.to_host(state.log_weights), log_evidence=log_z,
                 log_evidence_sd=log_z_sd, sample_stats=stats, settings=out_settings, warnings=warnings)
