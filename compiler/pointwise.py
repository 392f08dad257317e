"""Pointwise log likelihood: log p(y_i | θ) for each observed element, what PSIS-LOO and WAIC
read (Vehtari, Gelman & Gabry 2017; ArviZ's `log_likelihood` group).

Each `~` statement of a data variable is evaluated element by element (its batch shape: an
`mvnormal` row is one element) and scattered to the elements its target writes, so the terms
have the data's own shape, as Stan's `log_lik[n]` would.  A discrete unknown summed out per
element (`z[n]`, a mixture's assignment) is summed out of its element's term too:
log Σ_k p(z_n = k | θ) p(x_n | z_n = k, θ), the marginal a Stan user writes by hand.  Terms that
cannot be split by element are refused by name: a summed-out chain (the forward algorithm) or a
summed-out scalar (a change point) ties every element together.  Elements that are missing
(imputed) or that no `~` covers are left out, and the result is then flat.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from augury.dsl import ast
from augury.errors import AuguryInferenceError

from .lower import LoweredModel


def pointwise_names(lowered: LoweredModel) -> tuple[list[str], dict[str, str]]:
    """The data variables with pointwise terms, and those without one with the reason."""
    s = lowered.s
    refused: dict[str, str] = {}
    names: list[str] = []
    tied = {id(u.loc): p for p in lowered.plans.values() if p.kind != "plate" for u in p.uses}
    for loc in s.samples:
        name = loc.stmt.target.name
        if name in s.params or name in refused or name in lowered.plans:  # a summed-out label: no observation
            continue
        plan = tied.get(id(loc)) or (next(iter(lowered.plans.values())) if id(loc) in lowered._global_uses else None)
        if plan is not None:
            what = "a chain" if plan.kind == "chain" else "a scalar"
            refused[name] = (f"its likelihood sums out `{plan.name}`, {what} read by every element, so it does not "
                             "split into one term per element")
        elif name not in names:
            names.append(name)
    return [n for n in names if n not in refused], refused


def pointwise_log_likelihood(lowered: LoweredModel, get_param: Callable, names: list[str]) -> dict:
    """({data name: log p(element | θ)}, {data name: the elements that are observations}) at one
    draw (`get_param` as in `LoweredModel.run`); the second is concrete (NumPy) under tracing."""
    s = lowered.s
    env, _ = lowered._environment(get_param, False)
    plate_of = {id(u.loc): p for p in lowered.plans.values() if p.kind == "plate" for u in p.uses}
    out: dict = {}
    covered: dict = {}
    done_plans = set()
    for loc in s.samples:
        name = loc.stmt.target.name
        if name not in names:
            continue
        shape = tuple(lowered.param_shapes[name])
        if id(loc) in plate_of:
            plan = plate_of[id(loc)]
            if plan.name in done_plans:
                continue
            done_plans.add(plan.name)
            _, emis, _ = lowered._enum_table(plan, env)
            terms = logsumexp(emis, axis=-1)  # per element of the summed-out unknown
            zshape = tuple(lowered.param_shapes[plan.name])
            if zshape != shape[:len(zshape)]:
                raise AuguryInferenceError(
                    f"`{name}` is indexed unlike `{plan.name}`, whose elements are summed out one by one, so its "
                    "pointwise log likelihood is not defined element by element")
            _add(out, covered, name, shape[:len(zshape)], (), terms)
            continue
        st = loc.stmt
        mask = st.target.name if lowered._support_mask_needed(st.target.name, st.dist.func) else None
        grid = lowered.over_loops(loc.loops, env, lambda e: lowered.statement_log_prob(st, e, mask))
        if grid is None:
            continue
        if not loc.loops and not st.target.indices:
            _add(out, covered, name, tuple(jnp.shape(grid)), (), grid)
            continue
        idx = lowered.target_indices(ast.Target(name, st.target.indices, st.span), loc.loops, env)
        nloop = lowered.loop_axes(loc.loops)
        rest = tuple(jnp.shape(grid)[nloop:])
        unit = shape[:len(idx)] + rest
        _add(out, covered, name, unit, tuple(np.reshape(i, -1) for i in idx),
             jnp.reshape(grid, (-1,) + rest))
    for n in out:  # imputed elements are unknowns, not observations
        if n in lowered.observed:
            obs = np.asarray(lowered.observed[n])
            covered[n] &= obs.reshape(covered[n].shape + (-1,)).all(-1)
    return out, covered


def _add(out: dict, covered: dict, name: str, unit: tuple, idx: tuple, values) -> None:
    """Scatter `values` to the elements `idx` of `name`'s terms (shape `unit`; all of them when
    `idx` is empty), recording which elements are covered."""
    if name not in out:
        out[name] = jnp.zeros(unit, values.dtype)
        covered[name] = np.zeros(unit, bool)
    if tuple(out[name].shape) != unit:
        raise AuguryInferenceError(f"the statements of `{name}` give terms of different shapes "
                                   f"({tuple(out[name].shape)} and {unit}), so its pointwise log likelihood is not "
                                   "defined element by element")
    if idx:
        out[name] = out[name].at[idx].add(values)
        covered[name][idx] = True
    else:
        out[name] = out[name] + jnp.broadcast_to(values, unit)
        covered[name][...] = True
