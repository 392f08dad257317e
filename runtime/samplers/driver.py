"""The driver every sampler runs under: seeds, the step loop, NaN checks, interrupts, the Posterior.

`sample(method, problem, settings, seed, progress)` loads the registered module, runs it
(its own compiled `run`, or `build`'s `init`/`step` looped here), turns the result into a
`Posterior`, and appends the diagnostics that fail (divergences, R-hat, ESS, E-BFMI, tree
depth; weight collapse for particles) to `post.warnings`.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import jax
import numpy as np

from augury.errors import AuguryInferenceError

from .. import checkpoints, interrupts
from ..posterior import Posterior
from ..progress import progress_bar
from . import SAMPLERS
from .protocol import INT_NAN, Draws, Problem


def seed_key(seed: Any):
    """A PRNG key from a user's seed: an integer in [0, 2**64), folded in 32-bit halves so that
    large seeds neither overflow nor depend on the float precision in force."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 64:
        raise AuguryInferenceError(f"the seed must be an integer in [0, 2**64), not {seed!r}")
    seed = int(seed)
    key = jax.random.PRNGKey(np.uint32(seed & 0xFFFFFFFF))
    return jax.random.fold_in(key, np.uint32(seed >> 32)) if seed >> 32 else key


def _first_nonfinite(tree: dict) -> Optional[str]:
    """The name of the first float array in a (nested) dict with a NaN or infinity (or an
    integer draw that could not be made); entries named `_...` are reported values, not checked."""
    for name, v in tree.items():
        if name.startswith("_"):
            continue
        if isinstance(v, dict):
            inner = _first_nonfinite(v)
            if inner is not None:
                return inner
            continue
        a = np.asarray(v)
        if (a.dtype.kind in "fc" and not np.all(np.isfinite(a))) or (a.dtype.kind == "i" and np.any(a == INT_NAN)):
            return name
    return None


def loop(module, problem: Problem, key, settings: dict, method: str, progress: bool) -> Draws:
    """Run a BlackJAX-style sampler: `init` once, then the jitted `step` until `num_steps` (or
    `is_done`), checking each step's `info` for NaN or infinity; Ctrl-C keeps what is done."""
    init, step = module.build(problem, settings)
    total = module.num_steps(settings)
    # a step may be a block of iterations (pmmh): the bar counts iterations, and names the phase
    per_step = getattr(module, "ITERATIONS_PER_STEP", 1)
    iterations = getattr(module, "num_iterations", lambda s: None)(settings) or (
        total * per_step if total is not None else None)
    phase = getattr(module, "phase", lambda i, s: method)
    step_where = getattr(module, "step_where", lambda i: f"step {i + 1}")  # smc2 says the time
    k_init, k_steps = jax.random.split(key)
    infos: list = []
    interrupted = False
    ck = checkpoints.current()
    with progress_bar(iterations, desc=f"{method}: starting", enabled=progress) as bar:
        state = init(k_init)  # shown, since the first compilation can take a while
        step = problem.cache.setdefault((method, "step") + tuple(sorted(settings.items())), jax.jit(step))
        i = 0
        resumed = ck.start("driver") if ck is not None else None
        if resumed is not None:  # step i's key is fold_in(k_steps, i): the rest is as if never stopped
            state, infos, i = resumed.state(state), resumed.infos(), resumed.step
            bar.update(min(i * per_step, iterations) if iterations is not None else i * per_step)
        bar.set_phase(phase(i, settings))
        try:
            while (i < total) if total is not None else not module.is_done(state):
                state, info = step(state, jax.random.fold_in(k_steps, i))
                info = jax.tree.map(np.asarray, info)
                bad = _first_nonfinite(info) if isinstance(info, dict) else None
                if bad is not None:
                    raise AuguryInferenceError(
                        f"`{method}` produced NaN or infinity in `{bad}` at {step_where(i)}",
                        notes=[getattr(module, "NAN_NOTE", "the log density or a distribution parameter is not "
                                       "finite there; check the data's scale, the priors' supports, or try "
                                       "precision=\"float64\"")])
                infos.append(info)
                i += 1
                bar.update(per_step if iterations is None else min(per_step, iterations - bar.n))
                bar.set_phase(phase(i, settings))
                if ck is not None and ck.due(i * per_step):
                    ck.save(i, state, infos, total=total, units=i * per_step)
                interrupts.check()  # Ctrl-C is taken here, between compiled steps
        except KeyboardInterrupt:
            interrupted = True
            if ck is not None:
                ck.save(i, state, infos, interrupted=True, total=total, units=i * per_step)
    out = module.finalize(problem, state, infos, settings)
    if interrupted:
        out.interrupted = True
        out.warnings.append(f"interrupted after {i} of {total if total is not None else '?'} steps: "
                            "the posterior holds what was done")
        if out.log_evidence is not None:  # of the data seen or the temperature reached: not the model's evidence
            out.log_evidence = out.log_evidence_sd = None
            out.warnings.append("an interrupted run reports no log evidence: it would not be the model's")
    return out


def _run_warnings(post: Posterior, out: Draws, method: str, module=None) -> list[str]:
    """The failing diagnostics of a finished run (R-hat and ESS from the Posterior's own)."""
    from ..diagnostics import mcmc_warnings, particle_warnings
    if out.chains is not None:
        stats = out.sample_stats
        return mcmc_warnings(out.draws, diverging=stats.get("diverging"), energy=stats.get("energy"),
                             tree_depth=stats.get("tree_depth"), max_tree_depth=out.settings.get("max_tree_depth"),
                             method=method, per_var=post.element_stats())
    if out.log_weights is not None or "ess" in out.sample_stats:
        return particle_warnings(out.log_weights, ess_per_step=out.sample_stats.get("ess"),
                                 step_label=getattr(module, "step_where", None))
    return []


def sample(method: str, problem: Problem, settings: dict, seed: Any = 0, progress: bool = False,
           checkpoint: Optional[checkpoints.Checkpoint] = None) -> Posterior:
    """Run registered method `method` on `problem` with checked `settings`; returns the Posterior.
    With `checkpoint` (`checkpoints.request`), the sampler's loop writes it and resumes from it."""
    module = SAMPLERS[method].load()
    key = seed_key(seed)
    t0 = time.perf_counter()
    # Ctrl-C stops the run between blocks, never inside JAX; the loops find the checkpoint themselves
    with interrupts.deferred(), checkpoints.active(checkpoint):
        if hasattr(module, "run"):
            out = module.run(problem, key, settings, method=method, progress=progress)
        else:
            out = loop(module, problem, key, settings, method, progress)
        interrupts.settle()
    if out.interrupted and not out.draws:
        raise KeyboardInterrupt  # stopped before a draw was made: nothing to keep
    elapsed = time.perf_counter() - t0
    warnings = list(out.warnings)
    with np.errstate(all="ignore"):
        for name, v in out.draws.items():
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                n_bad = int(np.sum(~np.isfinite(v).reshape(v.shape[0], -1).all(axis=1))) if v.ndim else 1
                warnings.append(f"`{name}` is NaN or infinite in some draws ({n_bad} of {v.shape[0]} along the first "
                                "axis): the summary excludes nothing, so its moments are not finite")
    settings_out = dict(out.settings)
    settings_out["seed"] = int(seed)
    kinds = {n: problem.kinds.get(n, "param") for n in out.draws}
    equal = getattr(module, "EQUAL_WEIGHTS", False)  # independent chains (the diffusion methods): no weights
    post = Posterior(out.draws, chains=out.chains, log_weights=None if equal else out.log_weights,
                     log_evidence=out.log_evidence,
                     log_evidence_sd=out.log_evidence_sd,
                     method=method, settings=settings_out, sample_stats=out.sample_stats,
                     timing={"sampling_s": elapsed}, warnings=warnings, kinds=kinds, interrupted=out.interrupted)
    if out.draws and not out.interrupted and not getattr(module, "OWN_WEIGHT_WARNINGS", False) and not equal:
        post.warnings.extend(_run_warnings(post, out, method, module))
    if checkpoint is not None:
        _checkpoint_notes(post, checkpoint, method)
    return post


def _checkpoint_notes(post: Posterior, ck: checkpoints.Checkpoint, method: str) -> None:
    """Where the run resumed from (`post.timing`), and a warning when no loop took the checkpoint."""
    if ck.resumed_step is not None:
        post.timing["resumed_at_step"] = ck.resumed_step
    if ck.kind is None:
        post.warnings.append(f"`{method}` wrote no checkpoint: its loop does not take one")
    elif post.interrupted and ck.saved_step is not None:
        post.warnings.append(f"interrupted: the checkpoint `{ck.path}` holds step {ck.saved_step}; resume with "
                             f"resume=\"{ck.path}\" (augury run ... --resume {ck.path})")
