"""NUTS and HMC through NumPyro, with several chains.

The lowered model is a NumPyro model function whose unknowns are improper
uniform sites on their declared supports, so NumPyro's bijections supply the
Stan-style unconstrained parameterization and its Jacobian.  After sampling,
finite discrete unknowns that were summed out are drawn from their exact
conditional posterior given each draw (per element, or by forward filtering
backward sampling along a chain).
"""

from __future__ import annotations

import time
import warnings
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import HMC, MCMC, NUTS

from augury.dsl.errors import AuguryInferenceError

from ..posterior import Posterior


def _chain_method(chains: int) -> str:
    # one device per chain: pmap; otherwise vmap the chains, which compiles once (sequential recompiles per chain)
    if chains == 1:
        return "sequential"
    return "parallel" if jax.local_device_count() >= chains else "vectorized"


def sample_nuts(lowered, *, method: str = "nuts", warmup: int = 1000, samples: int = 1000, chains: int = 4,
                target_accept: float = 0.8, max_tree_depth: int = 10, num_steps: Optional[int] = None,
                trajectory_length: float = 2 * np.pi, seed: int = 0, progress: bool = False,
                thinning: int = 1) -> Posterior:
    """Run NUTS (or static HMC) on a `LoweredModel`; returns the `Posterior`."""
    for k, v in (("warmup", warmup), ("samples", samples), ("chains", chains)):
        if int(v) != v or v < (0 if k == "warmup" else 1):
            raise AuguryInferenceError(f"`{k}` must be a positive integer, not {v!r}")
    if not 0 < float(target_accept) < 1:
        raise AuguryInferenceError(f"`target_accept` must lie in (0, 1), not {target_accept!r}")
    if not lowered.unknowns:
        raise AuguryInferenceError(f"`{method}` needs at least one continuous unknown; this model has none",
                                   notes=["its discrete unknowns are summed out exactly; there is nothing to sample"])
    model = lowered.numpyro_model
    if method == "hmc":
        kernel = HMC(model, target_accept_prob=float(target_accept), num_steps=num_steps,
                     trajectory_length=None if num_steps else float(trajectory_length))
    else:
        kernel = NUTS(model, target_accept_prob=float(target_accept), max_tree_depth=int(max_tree_depth))
    mcmc = MCMC(kernel, num_warmup=int(warmup), num_samples=int(samples), num_chains=int(chains),
                chain_method=_chain_method(int(chains)), progress_bar=bool(progress), thinning=int(thinning))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There are not enough devices")
        mcmc.run(jax.random.PRNGKey(int(seed)), extra_fields=("diverging", "num_steps"))
    elapsed = time.perf_counter() - t0
    sites = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    draws = {}
    for k, v in sites.items():
        if k.endswith("__missing") or k.endswith("__raw"):
            continue
        draws[k] = v
    draws.update(recover_discrete(lowered, sites, seed))
    finite = all(np.all(np.isfinite(v)) for v in draws.values() if np.issubdtype(v.dtype, np.floating))
    warn = [] if finite else ["some draws are not finite (NaN or inf)"]
    kinds = {n: ("param" if n in lowered.s.params else "let" if n in lowered.s.lets else "missing")
             for n in draws}
    settings = dict(warmup=int(warmup), samples=int(samples), chains=int(chains), target_accept=float(target_accept),
                    seed=int(seed))
    if method == "nuts":
        settings["max_tree_depth"] = int(max_tree_depth)
    stats = {"diverging": extra.get("diverging"), "num_steps": extra.get("num_steps")}
    return Posterior(draws, chains=int(chains), method=method, settings=settings,
                     sample_stats={k: v for k, v in stats.items() if v is not None},
                     timing={"sampling_s": elapsed}, warnings=warn, kinds=kinds)


def recover_discrete(lowered, sites: dict, seed: int) -> dict:
    """Draws of the summed-out discrete unknowns, one per continuous draw."""
    if not lowered.plans:
        return {}
    names = [lowered.site_name(u) for u in lowered.unknowns]
    chains, n = next(iter(sites.values())).shape[:2]
    flat = {k: jnp.reshape(jnp.asarray(sites[k]), (chains * n,) + sites[k].shape[2:]) for k in names}
    keys = jax.random.split(jax.random.PRNGKey(int(seed) + 7919), chains * n)

    def one(site_values, key):
        res = lowered.run(lowered.values_from_sites(site_values), enum_key=key)
        return {p: res.values[p] for p in lowered.plans}

    out = jax.jit(jax.vmap(one))(flat, keys)
    return {k: np.asarray(v).reshape((chains, n) + v.shape[1:]) for k, v in out.items()}
