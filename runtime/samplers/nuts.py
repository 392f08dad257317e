"""NUTS and HMC through NumPyro's functional kernels, with several chains.

The lowered model is a NumPyro model function whose unknowns are improper
uniform sites on their declared supports, so NumPyro's bijections supply the
Stan-style unconstrained parameterization and its Jacobian.

The whole run (initialization, warmup with step-size and mass-matrix
adaptation, sampling, and the map back to constrained values) is one jitted
function of the random key: NumPyro's `MCMC` driver evaluates the model
eagerly during initialization, and on a CPU each of those ~100 small ops
compiles its own XLA kernel, which costs more than compiling the sampler.
Chains run one after another (`lax.map`) or together (`vmap`) inside that
program.  The compiled run is cached on the lowered model, so a second
`sample` with other seeds compiles nothing.

After sampling, finite discrete unknowns that were summed out are drawn from
their exact conditional posterior given each draw (per element, or by forward
filtering backward sampling along a chain).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.hmc import hmc
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import ParamInfo, constrain_fn, find_valid_initial_params, potential_energy
from numpyro.distributions.transforms import biject_to

from augury.errors import AuguryInferenceError

from ..posterior import Posterior
from ..progress import progress_bar

# draws between progress-bar updates (a host callback each time)
_PROGRESS_EVERY = 20


def _check_settings(warmup, samples, chains, target_accept, thinning, num_steps) -> None:
    counts = [("warmup", warmup), ("samples", samples), ("chains", chains), ("thinning", thinning)]
    for k, v in counts + ([("num_steps", num_steps)] if num_steps is not None else []):
        if isinstance(v, bool) or int(v) != v or v < (0 if k == "warmup" else 1):
            raise AuguryInferenceError(f"`{k}` must be a {'non-negative' if k == 'warmup' else 'positive'} "
                                       f"integer, not {v!r}")
    if not 0 < float(target_accept) < 1:
        raise AuguryInferenceError(f"`target_accept` must lie in (0, 1), not {target_accept!r}")


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


def build_run(model: Callable, *, method: str, warmup: int, samples: int, chains: int, target_accept: float,
              max_tree_depth: int, num_steps: Optional[int], trajectory_length: float, thinning: int,
              dense_mass: bool = False, progress: bool = False, chain_method: str = "vectorized") -> Callable:
    """A jitted `run(key) -> (ok, (draws, diverging, num_steps))` doing all chains end to end;
    every output is shaped (chains, samples, ...).

    `model` is a NumPyro model function of no arguments (a `LoweredModel.numpyro_model`, or
    any hand-written one with its data bound, which the benchmarks use for a like-for-like run).

    `ok[c]` says whether chain c found an initial point with a finite log density and
    gradient (NumPyro's `init_to_uniform`: up to 100 uniform(-2, 2) draws in unconstrained
    space); when any chain has none, nothing is sampled and the draws are zeros.
    With `progress`, the iteration count reaches the bar `progress_to` points at, every few iterations.
    """
    potential = partial(potential_energy, model, (), {})
    to_constrained = partial(constrain_fn, model, (), {}, return_deterministic=True)
    proto = _unconstrained_prototype(model)
    init_kernel, sample_kernel = hmc(potential_fn=potential, algo="HMC" if method == "hmc" else "NUTS")
    kernel_opts = dict(num_warmup=warmup, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                       dense_mass=dense_mass)
    if method == "hmc":
        kernel_opts.update(num_steps=num_steps, trajectory_length=None if num_steps else trajectory_length)

    def init_chain(key):
        k_init, k_run = jax.random.split(key)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), proto)
        (z, pe, grad), ok = find_valid_initial_params(k_init, model, init_strategy=init_to_uniform,
                                                      prototype_params=zeros)
        return init_kernel(ParamInfo(z, pe, grad), rng_key=k_run, **kernel_opts), ok

    # jitted so that the NUTS step is traced once, not once per loop that calls it
    step = jax.jit(sample_kernel) if chain_method == "sequential" else jax.jit(jax.vmap(sample_kernel))
    total = warmup + samples * thinning

    def tick(i):
        if progress:
            jax.lax.cond(i % _PROGRESS_EVERY == 0, lambda: jax.debug.callback(_report_progress, i), lambda: None)

    def collect(state, all_ok, done=0):
        """(unconstrained draws, diverging, num_steps), each (samples, ...): one loop over warmup
        and sampling (one copy of the NUTS step in the compiled program), writing every
        `thinning`-th post-warmup state into a buffer.  A run where some chain has no valid
        initial point steps nothing (it then fails with an error); `done` counts the iterations
        of earlier chains, for the progress bar."""
        def record(st):
            return st.z, st.diverging, st.num_steps

        buf = jax.tree.map(lambda s: jnp.zeros((samples,) + s.shape, s.dtype), jax.eval_shape(record, state))

        def body(i, carry):
            st, bf = carry
            tick(done + i)
            st = jax.lax.cond(all_ok, step, lambda s: s, st)
            slot = jnp.maximum(i - warmup, 0) // thinning
            bf = jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, slot, 0), bf, record(st))
            return st, bf

        return jax.lax.fori_loop(0, total, body, (state, buf))[1]

    def run(key):
        keys = jax.random.split(key, chains)
        if chain_method == "sequential":
            state, ok = jax.lax.map(init_chain, keys)
            zs, div, steps = jax.lax.map(lambda a: collect(a[0], jnp.all(ok), a[1] * total),
                                         (state, jnp.arange(chains)))
        else:
            state, ok = jax.vmap(init_chain)(keys)
            # (samples, chains, ...) -> (chains, samples, ...)
            zs, div, steps = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), collect(state, jnp.all(ok)))
        # constrained values of the kept draws only, not of every warmup and thinned-out step
        return ok, (jax.vmap(jax.vmap(to_constrained))(zs), div, steps)

    return jax.jit(run)


def sample_nuts(lowered, *, method: str = "nuts", warmup: int = 1000, samples: int = 1000, chains: int = 4,
                target_accept: float = 0.8, max_tree_depth: int = 10, num_steps: Optional[int] = None,
                trajectory_length: float = 2 * np.pi, seed: int = 0, progress: bool = False,
                thinning: int = 1, dense_mass: bool = False, chain_method: str = "auto") -> Posterior:
    """Run NUTS (or static HMC) on a `LoweredModel`; returns the `Posterior`.

    `chain_method`: "sequential" runs the chains one after another inside one compiled
    program; "vectorized" vmaps them (one step of every chain at a time, as wide as the
    widest tree); "auto" is sequential on a CPU and vectorized on an accelerator.
    """
    _check_settings(warmup, samples, chains, target_accept, thinning, num_steps)
    if not isinstance(dense_mass, (bool, np.bool_)):
        raise AuguryInferenceError(f"`dense_mass` must be true or false, not {dense_mass!r}")
    chain_method = resolve_chain_method(chain_method)
    if not lowered.unknowns:
        raise AuguryInferenceError(f"`{method}` needs at least one continuous unknown; this model has none",
                                   notes=["its discrete unknowns are summed out exactly; there is nothing to sample"])
    settings = dict(warmup=int(warmup), samples=int(samples), chains=int(chains), target_accept=float(target_accept),
                    max_tree_depth=int(max_tree_depth), num_steps=None if num_steps is None else int(num_steps),
                    trajectory_length=float(trajectory_length), thinning=int(thinning), dense_mass=bool(dense_mass),
                    chain_method=chain_method)
    total = (settings["warmup"] + settings["samples"] * settings["thinning"]) * \
        (settings["chains"] if chain_method == "sequential" else 1)
    t0 = time.perf_counter()
    with progress_bar(total, desc=f"{method} ({chains} chains)", enabled=progress) as bar:
        cache = lowered.compiled_runs
        key = (method, bar.enabled) + tuple(sorted(settings.items()))
        if key not in cache:
            cache[key] = build_run(lowered.numpyro_model, method=method, progress=bar.enabled, **settings)
        progress_to[0] = bar
        try:
            ok, (sites, diverging, steps) = cache[key](jax.random.PRNGKey(int(seed)))
            ok = np.asarray(ok)
        finally:
            progress_to[0] = None
        if bar.enabled:
            bar.update(total - bar.n)
    elapsed = time.perf_counter() - t0
    if not ok.all():
        bad = ", ".join(str(c) for c in np.nonzero(~ok)[0])
        raise AuguryInferenceError(
            f"`{method}` found no initial point with a finite log density in chain(s) {bad}",
            notes=["100 points were tried, uniform in (-2, 2) on the unconstrained scale",
                   "check that the data lie in the support of the likelihood and that bounds are consistent"])
    sites = {k: np.asarray(v) for k, v in sites.items()}
    draws = {k: v for k, v in sites.items() if not (k.endswith("__missing") or k.endswith("__raw"))}
    draws.update(recover_discrete(lowered, sites, seed))
    finite = all(np.all(np.isfinite(v)) for v in draws.values() if np.issubdtype(v.dtype, np.floating))
    warn = [] if finite else ["some draws are not finite (NaN or inf)"]
    kinds = {n: ("param" if n in lowered.s.params else "let" if n in lowered.s.lets else "missing")
             for n in draws}
    unused = ("num_steps", "trajectory_length") if method == "nuts" else ("max_tree_depth",)
    out_settings = {k: v for k, v in settings.items() if k not in unused}
    out_settings["seed"] = int(seed)
    stats = {"diverging": np.asarray(diverging), "num_steps": np.asarray(steps)}
    return Posterior(draws, chains=int(chains), method=method, settings=out_settings, sample_stats=stats,
                     timing={"sampling_s": elapsed}, warnings=warn, kinds=kinds)


# the bar of the run in progress: compiled runs are cached, so their callback cannot hold a bar
progress_to: list = [None]


def _report_progress(i) -> None:
    bar = progress_to[0]
    if bar is not None and int(i) > bar.n:
        bar.update(int(i) - bar.n)


def recover_discrete(lowered, sites: dict, seed: int) -> dict:
    """Draws of the summed-out discrete unknowns (and of the lets that read a scalar one),
    one per continuous draw, from their exact conditional posterior."""
    if not lowered.plans:
        return {}
    names = [lowered.site_name(u) for u in lowered.unknowns]
    chains, n = next(iter(sites.values())).shape[:2]
    flat = {k: jnp.reshape(jnp.asarray(sites[k]), (chains * n,) + sites[k].shape[2:]) for k in names}
    keys = jax.random.split(jax.random.PRNGKey(int(seed) + 7919), chains * n)

    def one(site_values, key):
        res = lowered.run(lowered.values_from_sites(site_values), enum_key=key)
        return {p: res.values[p] for p in [*lowered.plans, *sorted(lowered.global_lets)]}

    out = jax.jit(jax.vmap(one))(flat, keys)
    return {k: np.asarray(v).reshape((chains, n) + v.shape[1:]) for k, v in out.items()}
