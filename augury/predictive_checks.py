"""The posterior predictive and the pointwise log likelihood of a posterior, for every method.

Both evaluate the model at each posterior draw (params as the posterior holds them, in their
stored layout: (chains, draws, ...) or (particles, ...), weights kept), vmapped in blocks under
one `jit`, in the precision the run used:

- `posterior_predictive`: y_rep ~ p(y | θ) per draw (compiler/predictive.py); new covariates
  may be given in `data`, and the data on the left of `~` are then predicted at them.
- `log_likelihood`: log p(y_i | θ) per draw and observed element (compiler/pointwise.py), what
  `arviz.loo` and `arviz.waic` read.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from augury.errors import AuguryError, AuguryInferenceError

BLOCK = 256  # draws per vmapped block (memory stays bounded for large data)


def _lead(post) -> tuple[int, ...]:
    return (post.chains, post.num_samples // post.chains) if post.chains is not None else (post.num_samples,)


def _blocked(fn, values: dict, keys=None) -> dict:
    """`fn` over the leading axis of `values` (and `keys`), in blocks of `BLOCK`."""
    n = next(iter(values.values())).shape[0] if values else keys.shape[0]
    xs = (values, keys) if keys is not None else (values,)
    return jax.lax.map(lambda a: fn(*a), xs, batch_size=min(BLOCK, n))


def _flat_values(post, names) -> dict:
    return {p: jnp.asarray(post.samples(p)) for p in names}


def posterior_predictive(model, post, data: Any = None, seed: int = 0) -> dict[str, np.ndarray]:
    """{data name: draws} of every data variable on the left of a `~`, one per posterior draw,
    in the posterior's layout.  `data` holds what the run was given (the covariates, sizes), or
    new covariates to predict at; the observed values themselves are not read."""
    from augury.model import _data_mapping, precision_scope
    from augury.runtime.samplers.driver import seed_key
    s = model.structure
    given = {p for p in s.params if p in post.names}
    lead = _lead(post)
    if post.method == "prior":
        raise AuguryError("a `prior` run already holds the prior predictive: its draws include the data")
    prec = post.settings.get("precision", "float64")
    mapping = {k: v for k, v in _data_mapping(data).items()}
    with precision_scope(prec):
        program, _ = model.bind(mapping, None, prec, simulate=True, given_params=given, for_checks=True)
        if not program.names:
            raise AuguryError("the model has no data on the left of a `~` to predict")
        cache = program.compiled_runs
        if "predictive" not in cache:
            cache["predictive"] = jax.jit(lambda v, k: _blocked(lambda a, b: program.draw(b, a), v, k))
        values = _flat_values(post, program.given)
        keys = jax.random.split(seed_key(seed), post.num_samples)
        out = cache["predictive"](values, keys)
    kinds = program.kinds
    return {n: np.asarray(v).reshape(lead + tuple(np.shape(v)[1:])) for n, v in out.items() if kinds[n] == "data"}


def log_likelihood(model, post, data: Any = None) -> dict[str, np.ndarray]:
    """{data name: log p(element | θ)}, shape (*lead, *element shape) for each data variable with
    pointwise terms; an element that is missing or that no `~` covers is left out, and that
    variable's terms are then flat (*lead, observed elements)."""
    from augury.compiler.pointwise import pointwise_log_likelihood, pointwise_names
    from augury.model import _data_mapping, precision_scope
    if data is None:
        raise AuguryError("the pointwise log likelihood needs the data the posterior was fitted to")
    prec = post.settings.get("precision", "float64")
    lead = _lead(post)
    with precision_scope(prec):
        # a learned diffusion prior has no density to lower, and the terms do not read it
        learned = any(loc.stmt.dist.func == "diffusion" for loc in model.structure.samples)
        lowered, _ = model.bind(_data_mapping(data), None, prec, for_checks=True, likelihood_only=learned)
        names, refused = pointwise_names(lowered)
        if not names:
            why = "; ".join(f"`{n}`: {r}" for n, r in refused.items()) or "the model observes no data"
            raise AuguryInferenceError(f"no pointwise log likelihood: {why}")
        missing = [u.name for u in lowered.unknowns if u.name not in post.names]
        if missing:
            raise AuguryInferenceError(f"the posterior holds no draws of `{missing[0]}`, which the likelihood reads",
                                       notes=[f"`{post.method}` keeps: {', '.join(post.names)}"])
        covered: dict = {}

        def one(values):
            def get_param(u, support, env):
                v = values[u.name]
                if u.kind == "missing":  # the posterior holds the whole variable, imputed entries in place
                    return v[np.nonzero(~np.asarray(lowered.observed[u.name]))]
                return v
            terms, cov = pointwise_log_likelihood(lowered, get_param, names)
            covered.update(cov)
            return terms

        key = ("pointwise", tuple(names))
        if key not in lowered.compiled_runs:
            lowered.compiled_runs[key] = jax.jit(lambda v: _blocked(one, v))
        fn = lowered.compiled_runs[key]
        values = _flat_values(post, [u.name for u in lowered.unknowns])
        out = fn(values)
        if not covered:  # compiled earlier: trace once more for the coverage (no compilation)
            jax.eval_shape(one, {k: v[0] for k, v in values.items()})
    result = {}
    for n, v in out.items():
        v = np.asarray(v)
        cov = covered[n]
        if not cov.all():  # only the observed elements, flat
            v = v.reshape((v.shape[0], -1))[:, cov.reshape(-1)]
        result[n] = v.reshape(lead + v.shape[1:])
    return result
