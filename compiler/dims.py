"""The names of a variable's dimensions, from its declaration: `theta : real[J]` has dims ("J",),
`Sigma : spd(D)[K]` ("K", "D", "D_2").  ArviZ labels the posterior and the observed data with
them (`Posterior.to_arviz`), as a Stan user gets from cmdstanpy's `dims=`."""

from __future__ import annotations

from typing import Mapping

from augury.dsl import ast
from augury.dsl.check_rules import CONSTRAINED


def _dim_name(e) -> str | None:
    return e.id if isinstance(e, ast.Name) else None


def declared_dims(structure, names) -> dict[str, tuple[str, ...]]:
    """name -> its dimension names (batch dims, then the event dims of simplex/spd/... types), for
    the params and data among `names` whose every dim is a size name; duplicates get _2, _3."""
    out: dict[str, tuple[str, ...]] = {}
    for name in names:
        decl = structure.params.get(name) or structure.data.get(name)
        if decl is None:
            continue
        t = decl.type
        rank = CONSTRAINED.get(t.base, 0)
        dims = [_dim_name(e) for e in t.dims] + ([_dim_name(t.args[0])] * rank if rank and t.args else [])
        if not dims or any(d is None for d in dims) or (rank and not t.args):
            continue
        seen: dict[str, int] = {}
        labels = []
        for d in dims:
            seen[d] = seen.get(d, 0) + 1
            labels.append(d if seen[d] == 1 else f"{d}_{seen[d]}")
        out[name] = tuple(labels)
    return out


def observed_names(structure) -> list[str]:
    """The data on the left of a `~`: ArviZ's `observed_data`."""
    return [n for n in structure.data if structure.samples_of(n)]


def observed_data(structure, mapping: Mapping) -> dict:
    """The observed data's values as given (arrays), for those present in `mapping`."""
    import numpy as np
    return {n: np.asarray(mapping[n]) for n in observed_names(structure) if n in mapping}
