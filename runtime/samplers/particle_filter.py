"""The `particle_filter` method: a particle filter over the model's chain x[0..T-1], with the
log evidence and smoothing paths (`augury.runtime.filtering` does the work).

Shape: a module-level `run` that owns its loop, not the driver's `build`/`step` loop.  The
filter runs in blocks of `_BLOCK` time steps, each block one compiled `lax.scan` (the same
program for every block: a block that runs past T leaves the state unchanged there), so the
progress bar moves between blocks and Ctrl-C stops the run there keeping the steps done (with
no smoothing then: the filtering particles of the last step done come back as `{x}_last`, and
no log evidence, which would be that of part of the data; FFBS runs in blocks too).  A
module `run` is used because smoothing needs the stored particle system of every step kept on
the device (particles and ancestors, or filtering weights for FFBS) and one more compiled
program after the loop; the driver's loop would pull every step's infos to the host and has
no place for the smoothing pass.  Step t's randomness is `fold_in(key, t)`, so the result does
not depend on the block size and equals `filtering.run_filter`'s with the same key.

Settings (METHODS["particle_filter"]): `particles` n; `resample` scheme; `ess_threshold`
(resample when ESS < ess_threshold·n); `proposal` "auto" (optimal when the step is
linear-Gaussian, else bootstrap), "bootstrap" or "optimal"; `smoothing`; `paths` m (None:
min(n, 1000)).

What comes back (`Draws`, weighted layout, no log weights: every path has weight 1/m):

* smoothing="genealogy": draws[x] (m, T, *S): m final particles drawn by their final weights
  (with the run's resampling scheme) and traced back through their ancestors.  Cheap (O(n·T)
  memory, O(m·T) work), exact in law for the joint smoothing distribution as n → ∞, but the
  paths coalesce at early times (path degeneracy): few distinct values of x[t] for t ≪ T.
* smoothing="ffbs": draws[x] (m, T, *S): m paths drawn by forward-filtering backward-sampling
  (Godsill, Doucet & West 2004), O(m·n·T) work; no path degeneracy.
* smoothing="none": no smoothing distribution, so no draws of x; draws[f"{x}_last"] (n, *S)
  are the final filtering particles, a weighted sample of p(x[T−1] | all data) with
  `log_weights` (n,) (the filtering distribution of the last state: what forecasting starts
  from).  A separate name, because their shape is not x's declared (T, *S).  x's filtering
  marginals at every t are in sample_stats "filtering_mean"/"filtering_sd".  Nothing per step
  is stored: the cheapest run, for the log evidence and the filtering moments.

log_evidence: log Ẑ of all data (chain emissions plus `constant_log_likelihood`);
log_evidence_sd: Lee & Whiteley's single-run estimate from the Eves (calibrated for
multinomial resampling; it runs low with the lower-variance schemes).  sample_stats per time
step t = 0..T−1: "ess" (of the time-t weights), "resampled" (the time-t particles descend
from a resampled system), "log_evidence_increment", "filtering_mean", "filtering_sd".
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from augury.errors import AuguryInferenceError

from .. import filtering as F
from .. import checkpoints, interrupts
from .. import particles as _p
from ..progress import progress_bar
from ..sharding import describe, particle_mesh, to_host
from .protocol import Draws, Problem

_BLOCK = 50  # time steps per compiled block
# FFBS's backward pass costs paths × particles transition densities per step: a block holds at most
# this many (and at most _BLOCK steps), so that even 1000 paths of 50 000 particles reach a point
# where Ctrl-C can stop them every second or so
_SMOOTH_WORK = 2 ** 25
OWN_WEIGHT_WARNINGS = True  # the collapse warnings name the time steps; the driver adds none of its own
_STATS = F.STATS
_COLLAPSE_SHARE = 0.01  # warn when the ESS at some t fell below this share of the particles (and 1.5)


class Programs:
    """The compiled pieces of one filter configuration: `init`, `advance` (one block of steps)
    and the smoothing pass; built once per problem and settings."""

    def __init__(self, ss, *, n: int, resample: str, ess_threshold: float, proposal: str, smoothing: str,
                 paths: int, block: Optional[int] = None):
        block = _BLOCK if block is None else block
        self.ss, self.n, self.block, self.smoothing = ss, n, block, smoothing
        self.mesh = mesh = particle_mesh(n)
        theta: dict = {}
        T = ss.length
        keep = {"genealogy": ("particles", "ancestors"), "ffbs": ("particles", "log_weights"),
                "none": ()}[smoothing]
        self.keep = keep

        def init(key):
            state, info = F.filter_init(ss, theta, key, n, proposal=proposal, mesh=mesh)
            rec = {k: info[k] for k in _STATS}
            stored = {"particles": state.particles, "ancestors": info["ancestors"],
                      "log_weights": state.log_weights}
            rec.update({k: stored[k] for k in keep})
            return state, rec

        def advance(state, key, start):
            ts = start + jnp.arange(block, dtype=jnp.int32)
            return F.scan_steps(ss, theta, state, key, ts, resample=resample, ess_threshold=ess_threshold,
                                proposal=proposal, keep=_STATS + keep, mesh=mesh, active=ts < T)

        def smooth(stored, final_log_weights, key):  # genealogy; FFBS runs in blocks (`smooth_paths`)
            return F.genealogy_paths(stored["particles"], stored["ancestors"], final_log_weights, key, paths,
                                     resample=resample)

        sblock = max(1, min(block, _SMOOTH_WORK // max(paths * n, 1)))
        self.smooth_block = sblock

        def back_block(x_next, particles, log_weights, keys, hi):
            """FFBS's backward steps t = hi, hi − 1, … down to max(hi − B + 1, 0), B the block: one
            program for every block (a window of B steps ending at hi; steps past hi leave x as is)."""
            b = min(sblock, particles.shape[0] - 1)
            lo = jnp.maximum(hi - b + 1, 0)
            window = lambda a: jax.lax.dynamic_slice_in_dim(a, lo, b, 0)  # noqa: E731

            def body(x, xs):
                new = F.ffbs_step(ss, theta, x, *xs)
                new = jnp.where(xs[2] <= hi, new, x)
                return new, new
            ts = lo + jnp.arange(b, dtype=jnp.int32)
            return jax.lax.scan(body, x_next, (window(particles), window(log_weights), ts, window(keys)), reverse=True)

        self.init = jax.jit(init)
        self.advance = jax.jit(advance)
        self.smooth = jax.jit(smooth)
        self.ffbs_start = jax.jit(lambda p, lw, key: F.ffbs_start(p, lw, key, paths, resample=resample))
        self.back_block = jax.jit(back_block)
        self.sd = jax.jit(F.log_evidence_sd)

    def smooth_paths(self, stored, final_log_weights, key, on_block=None):
        """The smoothing paths (m, T, *S); FFBS runs in blocks of time steps with a Ctrl-C check
        between them (KeyboardInterrupt), and equals `filtering.ffbs` with the same key.
        `on_block(k)` is told the backward steps done so far."""
        if self.smoothing != "ffbs":
            return self.smooth(stored, final_log_weights, key)
        particles, log_weights = stored["particles"], stored["log_weights"]
        T = particles.shape[0]
        x, keys = self.ffbs_start(particles, log_weights, key)
        pieces = [x[None]]
        b = max(1, min(self.smooth_block, T - 1))  # T = 1: no backward step
        for hi in range(T - 2, -1, -b):
            interrupts.check()
            x, path = self.back_block(x, particles, log_weights, keys, np.int32(hi))
            jax.block_until_ready(x)  # one block at a time: a Ctrl-C must not wait for a queue of them
            pieces.append(path[:hi - max(hi - b + 1, 0) + 1])
            if on_block is not None:
                on_block(T - 1 - max(hi - b + 1, 0))
        return jnp.moveaxis(jnp.concatenate(pieces[::-1], 0), 0, 1)

    def run(self, key, on_block=None, ck=None, resumed=None):
        """(final state, per-step records on the host, stored arrays on the device, steps done);
        stops between blocks on KeyboardInterrupt, keeping the steps done.  With a checkpoint `ck`
        it writes it between blocks and where Ctrl-C stops; `resumed` (what `ck.start` read) is
        where it goes on from."""
        T = self.ss.length
        k0, ksteps = jax.random.split(key)
        state, rec0 = self.init(k0)
        records = [{k: np.asarray(to_host(v))[None] for k, v in rec0.items() if k in _STATS}]
        stored = [{k: rec0[k][None] for k in self.keep}]
        done = 1
        if resumed is not None:  # step t's key is fold_in(ksteps, t): the filter goes on as if never stopped
            state, done = resumed.state(state), resumed.step
            extra = resumed.extra
            records = [{k: extra[f"rec.{k}"] for k in _STATS}]
            stored = [{k: jnp.asarray(extra[f"stored.{k}"]) for k in self.keep}]

        def save(stopped: bool = False) -> None:
            _save(ck, done, state, {k: np.concatenate([r[k] for r in records], 0) for k in _STATS},
                  {k: jnp.concatenate([s_[k] for s_ in stored], 0) for k in self.keep}, T, stopped)

        if on_block is not None:
            on_block(done)
        try:
            for start in range(done, T, self.block):
                new_state, rec = self.advance(state, ksteps, np.int32(start))
                jax.block_until_ready(new_state)
                count = min(self.block, T - start)
                host = {k: np.asarray(to_host(v))[:count] for k, v in rec.items() if k in _STATS}
                state = new_state
                records.append(host)
                stored.append({k: rec[k][:count] for k in self.keep})
                done = start + count
                if on_block is not None:
                    on_block(done)
                if ck is not None and ck.due(done):
                    save()
                interrupts.check()  # Ctrl-C is taken here, between blocks
        except KeyboardInterrupt:
            if ck is not None:
                save(stopped=True)
        rec = {k: np.concatenate([r[k] for r in records], 0) for k in _STATS}
        dev = {k: jnp.concatenate([s[k] for s in stored], 0) for k in self.keep}
        return state, rec, dev, done


def _save(ck, done: int, state, rec: dict, stored: dict, T: int, stopped: bool) -> None:
    """Write the filter at step `done`: its state, the per-step records and the stored particle system."""
    extra = {**{f"rec.{k}": v for k, v in rec.items()},
             **{f"stored.{k}": np.asarray(to_host(v)) for k, v in stored.items()}}
    ck.save(done, state, extra=extra, total=T, interrupted=stopped)


def collapse_warnings(ess: np.ndarray, n: int, proposal: str, optimal_available: bool, where: str = "") -> list[str]:
    """A warning naming the time steps whose ESS fell below max(1.5, 1% of n); `where` qualifies
    the filter (pmmh's, at the posterior mean)."""
    floor = max(1.5, _COLLAPSE_SHARE * n)
    low = np.nonzero(~(ess >= floor))[0]
    if low.size == 0:
        return []
    worst = int(low[np.argmin(np.where(np.isnan(ess[low]), -np.inf, ess[low]))])  # NaN counts as the worst
    listing = ", ".join(str(int(t)) for t in low[:10]) + (", …" if low.size > 10 else "")
    tries = [f"more particles (now {n})"]
    if proposal == "bootstrap" and optimal_available:
        tries.append("proposal=\"optimal\" (this model's step is linear-Gaussian)")
    elif proposal == "bootstrap":
        tries.append("a less diffuse transition or a more informative prior for x[0] (the bootstrap proposal "
                     "ignores each observation until it weights the particles)")
    return [f"the particle weights{where} collapsed at t = {listing} ({low.size} of {ess.size} steps with an ESS below "
            f"{floor:g}; the worst, ESS {ess[worst]:.2f}, at t = {worst}): the filtering estimates there, the "
            f"log evidence and the smoothing paths rest on a few particles\ntry: " + ", or ".join(tries)]


def run(problem: Problem, key, settings: dict, *, method: str = "particle_filter", progress: bool = False) -> Draws:
    """Run the particle filter on `problem.state_space` (theta = {})."""
    ss = problem.state_space
    if ss is None:
        raise AuguryInferenceError(f"`{method}` needs a state-space chain (a latent x[t] whose distribution reads "
                                   "x[t-1]); this model has none")
    s = dict(settings)
    n = int(s["particles"])
    if n < 2:
        raise AuguryInferenceError(f"`particles` must be at least 2 for `{method}`, not {n}")
    proposal = F.resolve_proposal(ss, s["proposal"])
    smoothing = s["smoothing"]
    if smoothing not in ("genealogy", "ffbs", "none"):
        raise AuguryInferenceError(f"unknown smoothing {smoothing!r}",
                                   notes=["it is one of \"genealogy\", \"ffbs\", \"none\""])
    _p.resampler(s["resample"])  # an unknown scheme fails here, before compiling
    paths = int(s["paths"]) if s.get("paths") is not None else min(n, 1000)
    cache_key = (method, ss.name, n, s["resample"], float(s["ess_threshold"]), proposal, smoothing, paths)
    if cache_key not in problem.cache:
        problem.cache[cache_key] = Programs(ss, n=n, resample=s["resample"], ess_threshold=float(s["ess_threshold"]),
                                            proposal=proposal, smoothing=smoothing, paths=paths)
    progs = problem.cache[cache_key]
    T = ss.length
    k_filter, k_smooth = jax.random.split(key)
    ck = checkpoints.current()
    resumed = ck.start("particle_filter") if ck is not None else None
    with progress_bar(T, desc=f"{method} ({n} particles)", enabled=progress) as bar:
        state, rec, stored, done = progs.run(k_filter, lambda d: bar.update(d - bar.n), ck, resumed)

    log_evidence = float(to_host(state.log_evidence))
    sd = float(to_host(progs.sd(state)))
    stats = {"ess": rec["ess"], "resampled": rec["resampled"].astype(bool),
             "log_evidence_increment": rec["log_evidence_increment"],
             "filtering_mean": rec["filtering_mean"], "filtering_sd": np.sqrt(np.maximum(rec["filtering_var"], 0.0))}
    draws: dict = {}
    log_weights = None
    smoothed = smoothing != "none" and not interrupts.requested()  # Ctrl-C during the filter: no smoothing
    if smoothed:
        try:  # (after an interruption the stored arrays are shorter: jit compiles that shape too)
            with progress_bar(done - 1 if smoothing == "ffbs" else 0, desc=f"{method} smoothing (ffbs)",
                              enabled=progress and smoothing == "ffbs") as bar:
                paths_out = progs.smooth_paths(stored, state.log_weights, k_smooth, lambda k: bar.update(k - bar.n))
            draws[ss.name] = np.asarray(to_host(paths_out))
        except KeyboardInterrupt:  # Ctrl-C (now or during the filter): keep the filter's results, no paths
            smoothed = False
            if ck is not None and done == T:  # the whole filter is kept: a resume only smooths
                _save(ck, done, state, rec, stored, T, True)
    if not smoothed:
        draws[f"{ss.name}_last"] = np.asarray(to_host(state.particles))
        log_weights = np.asarray(to_host(state.log_weights))

    out_settings = dict(s)
    out_settings.update(proposal=proposal, paths=paths if smoothing != "none" else None, devices=describe(progs.mesh))
    out = Draws(draws, log_weights=log_weights, log_evidence=log_evidence, log_evidence_sd=sd, sample_stats=stats,
                settings=out_settings)
    bad = np.nonzero(~np.isfinite(rec["log_evidence_increment"]))[0]
    if bad.size:
        out.warnings.append(f"the log evidence is not finite: at t = {int(bad[0])} every particle got weight zero "
                            "(or a NaN), so the filter lost the data from there on\n"
                            "try: more particles, the optimal proposal where the step is linear-Gaussian, or check "
                            f"the data at t = {int(bad[0])} and the emission's density there")
    # (after a step where every weight is zero the weights are NaN: that has its own warning above)
    out.warnings.extend(collapse_warnings(rec["ess"][:bad[0]] if bad.size else rec["ess"], n, proposal,
                                           ss.linear_gaussian is not None))
    eves = np.unique(np.asarray(to_host(state.eve))).size
    if eves <= 1 and done > 1 and not bad.size:
        out.warnings.append("every final particle descends from one time-0 particle, so `log_evidence_sd` (Lee & "
                            "Whiteley's estimate from the particles' time-0 ancestors) is unreliable\n"
                            "try: more particles")
    elif sd == 0.0 and s["resample"] != "multinomial" and done > 1 and not bad.size:
        out.warnings.append(f"`log_evidence_sd` is 0: Lee & Whiteley's estimate assumes multinomial resampling "
                            f"and comes out 0 (an underestimate) with \"{s['resample']}\" resampling this often\n"
                            "try: resample=\"multinomial\" for a calibrated estimate, or compare the log evidence "
                            "over a few seeds")
    if done < T:
        out.interrupted = True
        out.log_evidence = out.log_evidence_sd = None  # of the data up to done − 1 only: not the model's evidence
        out.warnings.append(f"interrupted after {done} of {T} time steps: the filtering moments "
                            + ("and the paths " if smoothed else "") + f"cover x[0..{done - 1}] and the data there; "
                            "no log evidence is reported (the per-step increments are in sample_stats)")
    if smoothing != "none" and not smoothed:
        out.interrupted = True
        out.warnings.append(f"interrupted before the smoothing paths were drawn: `{ss.name}_last` holds the "
                            f"filtering particles of x[{done - 1}] (weighted)")
    return out
