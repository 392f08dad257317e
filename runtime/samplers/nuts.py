"""NUTS and HMC through NumPyro's functional kernels, with several chains.

The lowered model is a NumPyro model function whose unknowns are improper
uniform sites on their declared supports, so NumPyro's bijections supply the
Stan-style unconstrained parameterization and its Jacobian.

The run is three compiled programs of the random key, built once per model and settings
and cached on the `Problem` (a second `sample` with other seeds compiles nothing):

* `init`: every chain's initial point and kernel state (NumPyro's `init_to_uniform`);
* `segment`: the next block of iterations (warmup with step-size and mass-matrix
  adaptation, then sampling) of every chain, writing kept draws into a buffer.  The same
  program runs every block, so the loop returns to Python between blocks: the progress bar
  moves without host callbacks, and Ctrl-C stops the run there, keeping the draws made;
* `constrain`: the map of the kept draws back to constrained values and lets.

NumPyro's `MCMC` driver evaluates the model eagerly during initialization, and on a CPU each
of those ~100 small ops compiles its own XLA kernel, which costs more than compiling the
sampler; here nothing runs eagerly.  Chains run one after another (`lax.map`) or together
(`vmap`) inside each program.

After sampling, finite discrete unknowns that were summed out are drawn from their exact
conditional posterior given each draw (`Problem.recover_discrete`).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.hmc import hmc
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import ParamInfo, constrain_fn, find_valid_initial_params, potential_energy

from augury.errors import AuguryInferenceError

from .. import checkpoints, interrupts
from ..progress import progress_bar
from .protocol import Draws, Problem

# a run is cut into at least 20 blocks of at most 250 iterations: progress and Ctrl-C are handled
# between blocks, so a long run still answers Ctrl-C within a few hundred iterations
_BLOCKS, _MAX_BLOCK = 20, 250
# static HMC's leapfrog steps per trajectory at most: trajectory_length / step_size has no bound in
# NumPyro, and a step size adapted towards zero (a region of NaN log density) would never return
MAX_LEAPFROG = 1024


def _unconstrained_prototype(model) -> dict:
    """Shapes and dtypes of the unconstrained sites (an abstract trace; nothing is compiled)."""
    def sites(key):
        tr = trace(substitute(seed(model, key), substitute_fn=init_to_uniform)).get_trace()
        return {k: biject_to(s["fn"].support).inv(s["value"]) for k, s in tr.items()
                if s["type"] == "sample" and not s["is_observed"]}
    return jax.eval_shape(sites, jax.random.PRNGKey(0))


def resolve_chain_method(chain_method: str) -> str:
    """"auto" -> "sequential" on a CPU (cheaper to compile, no padding of short trees),
    "vectorized" on an accelerator."""
    if chain_method == "auto":
        return "sequential" if jax.default_backend() == "cpu" else "vectorized"
    if chain_method not in ("sequential", "vectorized"):
        raise AuguryInferenceError(f"unknown `chain_method` {chain_method!r}",
                                   notes=["it is one of \"auto\", \"sequential\", \"vectorized\""])
    return chain_method


class Programs:
    """The compiled pieces of one NUTS/HMC configuration (see the module docstring)."""

    def __init__(self, model: Callable, *, method: str, warmup: int, samples: int, chains: int,
                 target_accept: float, max_tree_depth: int, num_steps: Optional[int], trajectory_length: float,
                 thinning: int, dense_mass: bool = False, chain_method: str = "vectorized"):
        self.total = warmup + samples * thinning
        self.block = max(1, min(-(-self.total // _BLOCKS), _MAX_BLOCK))
        self.samples, self.chains = samples, chains
        # the model's keyword arguments (`Problem.data_args`) are arguments of every program: new data
        # of the same shapes compiles nothing; with none, the programs are those of a model of no arguments
        def potential(**data):
            return partial(potential_energy, model, (), data)

        proto = _unconstrained_prototype(model)
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential, algo="HMC" if method == "hmc" else "NUTS")
        opts = dict(num_warmup=warmup, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                    dense_mass=dense_mass)
        if method == "hmc":
            opts.update(num_steps=num_steps, trajectory_length=None if num_steps else trajectory_length)
        sequential = chain_method == "sequential"
        # the step size's floor where HMC's trajectories have a fixed length (MAX_LEAPFROG)
        floor = trajectory_length / MAX_LEAPFROG if method == "hmc" and not num_steps else None

        def init_chain(key, data):
            k_init, k_run = jax.random.split(key)
            zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), proto)
            (z, pe, grad), ok = find_valid_initial_params(k_init, model, init_strategy=init_to_uniform,
                                                          model_kwargs=data, prototype_params=zeros)
            return init_kernel(ParamInfo(z, pe, grad), rng_key=k_run, model_kwargs=data, **opts), ok

        def record(st):  # the draw and ArviZ's sample stats (lp is −potential: the log density with its Jacobian)
            return (st.z, st.diverging, st.num_steps, st.energy, -st.potential_energy, st.accept_prob,
                    st.adapt_state.step_size)

        def init(key, data):
            keys = jax.random.split(key, chains)
            one_chain = partial(init_chain, data=data)
            state, ok = jax.lax.map(one_chain, keys) if sequential else jax.vmap(one_chain)(keys)
            # the draw buffer, chains first: (chains, samples, ...)
            one = jax.eval_shape(record, jax.tree.map(lambda x: x[0], state))
            buf = jax.tree.map(lambda s: jnp.zeros((chains, samples) + s.shape, s.dtype), one)
            return state, buf, ok

        # jitted so that the kernel is traced once, not once per loop that calls it
        step = jax.jit(sample_kernel) if sequential else jax.jit(jax.vmap(sample_kernel, in_axes=(0, None, None)))
        total, block = self.total, self.block

        def advance(state, buf, start, data):
            """Iterations start … start + block − 1 (those below `total`): one copy of the
            NUTS step in the program; every `thinning`-th post-warmup state is written to
            the buffer (chains first)."""
            def body(j, carry):
                st, bf = carry
                i = start + j
                active = i < total
                if floor is not None:
                    st = st._replace(adapt_state=st.adapt_state._replace(
                        step_size=jnp.maximum(st.adapt_state.step_size, floor)))
                st = jax.lax.cond(active, lambda s: step(s, (), data), lambda s: s, st)
                # every iteration writes its slot; the last write wins, so slot k ends holding
                # iteration warmup + (k + 1) * thinning − 1 (warmup writes slot 0, overwritten later)
                slot = jnp.clip((i - warmup) // thinning, 0, samples - 1)
                axis = 0 if sequential else 1
                bf = jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, slot, axis), bf, record(st))
                return st, bf

            if sequential:
                return jax.lax.map(lambda a: jax.lax.fori_loop(0, block, body, a), (state, buf))
            return jax.lax.fori_loop(0, block, body, (state, buf))

        self.init = jax.jit(init)
        self.advance = jax.jit(advance)
        self.constrain = jax.jit(lambda zs, data: jax.vmap(jax.vmap(
            partial(constrain_fn, model, (), data, return_deterministic=True)))(zs))

    def run(self, key, on_block: Optional[Callable[[int], None]] = None, data: Optional[dict] = None):
        """(ok, draws of `record` (chains, kept, ...), iterations done); stops early, keeping the
        draws made, on KeyboardInterrupt.  `on_block(i)` is told the iterations done so far; `data`
        are the model's keyword arguments (`Problem.data_args`)."""
        data = {} if data is None else data
        state, buf, ok = self.init(key, data)
        done = 0
        if not bool(np.all(np.asarray(ok))):
            return np.asarray(ok), buf, 0
        ck = checkpoints.current()
        resumed = ck.start("nuts") if ck is not None else None
        if resumed is not None:  # the kernel states hold their keys and adaptation: blocks on from there
            (state, buf), done = resumed.state((state, buf)), resumed.step
            if on_block is not None:
                on_block(done)
        try:
            for start in range(done, self.total, self.block):
                state, buf = self.advance(state, buf, start, data)
                jax.block_until_ready(buf)
                done = min(start + self.block, self.total)
                if on_block is not None:
                    on_block(done)
                if ck is not None and ck.due(done):
                    ck.save(done, (state, buf), total=self.total)
                interrupts.check()  # Ctrl-C is taken here, between blocks
        except KeyboardInterrupt:
            if ck is not None:
                ck.save(done, (state, buf), interrupted=True, total=self.total)
        return np.asarray(ok), buf, done


def build_run(model: Callable, **settings) -> Callable:
    """`run(key) -> (ok, (constrained draws, diverging, num_steps))` for all chains: the same
    compiled programs `sample` uses (the benchmarks call this on hand-written models)."""
    progs = Programs(model, **settings)

    def run(key):
        ok, (zs, div, steps, *_), _ = progs.run(key)
        return ok, (progs.constrain(zs, {}), div, steps)
    return run


def _settings(settings: dict, method: str) -> dict:
    """The method table's checked settings (`Model.sample` fills every one), plus the other
    kernel's, which the shared kernel builder takes and ignores (NUTS has no `num_steps`)."""
    out = dict(max_tree_depth=10, num_steps=None, trajectory_length=2 * np.pi)
    out.update(settings)
    out["chain_method"] = resolve_chain_method(out["chain_method"])
    return out


def tree_depth(num_steps: np.ndarray) -> np.ndarray:
    """NUTS tree depth from the leapfrog steps of a transition: a tree of depth d takes
    2^(d−1) … 2^d − 1 steps (Stan's `treedepth__`)."""
    return np.floor(np.log2(np.maximum(num_steps, 1))).astype(np.int64) + 1


def run(problem: Problem, key, settings: dict, *, method: str = "nuts", progress: bool = False) -> Draws:
    """Run NUTS (or static HMC) on `problem`; draws are (chains, samples, ...)."""
    if not problem.continuous:
        raise AuguryInferenceError(f"`{method}` needs at least one continuous unknown; this model has none",
                                   notes=["its discrete unknowns are summed out exactly; there is nothing to sample"])
    s = _settings(settings, method)
    cache_key = (method,) + tuple(sorted(s.items()))
    if cache_key not in problem.cache:
        problem.cache[cache_key] = Programs(problem.numpyro_model, method=method, **s)
    progs = problem.cache[cache_key]
    chains = s["chains"]
    with progress_bar(progs.total * chains, desc=f"{method} ({chains} chains)", enabled=progress) as bar:
        ok, (zs, diverging, steps, energy, lp, accept, step_size), done = progs.run(
            key, lambda d: bar.update(d * chains - bar.n), problem.data_args)
    if not ok.all():
        bad = ", ".join(str(c) for c in np.nonzero(~ok)[0])
        raise AuguryInferenceError(
            f"`{method}` found no initial point with a finite log density in chain(s) {bad}",
            notes=["100 points were tried, uniform in (-2, 2) on the unconstrained scale",
                   "check that the data lie in the support of the likelihood and that bounds are consistent"])
    warmup, thinning = s["warmup"], s["thinning"]
    kept = max(0, (done - warmup) // thinning) if done < progs.total else s["samples"]
    if kept == 0 and done < progs.total:
        raise KeyboardInterrupt  # stopped during warmup: nothing to keep
    zs = jax.tree.map(lambda x: x[:, :kept], zs)
    sites = {k: np.asarray(v) for k, v in progs.constrain(zs, problem.data_args).items()}
    draws = {k: v for k, v in sites.items() if not (k.endswith("__missing") or k.endswith("__raw"))}
    if problem.recover_discrete is not None:
        draws.update(_recover(problem, sites, chains, kept, key))
    unused = ("num_steps", "trajectory_length") if method == "nuts" else ("max_tree_depth",)
    out_settings = {k: v for k, v in s.items() if k not in unused}
    steps = np.asarray(steps)[:, :kept]
    stats = {"diverging": np.asarray(diverging)[:, :kept], "num_steps": steps,
             "energy": np.asarray(energy)[:, :kept], "lp": np.asarray(lp)[:, :kept],
             "acceptance_rate": np.asarray(accept)[:, :kept], "step_size": np.asarray(step_size)[:, :kept]}
    if method == "nuts":
        stats["tree_depth"] = tree_depth(steps)
    cut = int(np.sum(steps >= MAX_LEAPFROG)) if method == "hmc" and not s.get("num_steps") else 0
    out = Draws(draws, chains=chains, sample_stats=stats, settings=out_settings)
    if cut:
        out.warnings.append(
            f"hmc: {cut} of {steps.size} trajectories needed more than {MAX_LEAPFROG} leapfrog steps (the adapted "
            f"step size fell below trajectory_length / {MAX_LEAPFROG}) and were cut there: the log density is probably "
            "not finite, or extremely curved, where the chains went\n  try: nuts, or hmc with `num_steps`; check the "
            "model's supports and the data's scale")
    if done < progs.total:
        out.interrupted = True
        out.warnings.append(f"interrupted: {kept} of {s['samples']} draws per chain were made")
    return out


def _recover(problem: Problem, sites: dict, chains: int, n: int, key) -> dict:
    flat = {k: v.reshape((chains * n,) + v.shape[2:]) for k, v in sites.items()}
    out = problem.recover_discrete(flat, jax.random.fold_in(key, 7919))
    return {k: np.asarray(v).reshape((chains, n) + np.shape(v)[1:]) for k, v in out.items()}
