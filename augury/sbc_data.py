"""New data as an argument of NUTS's compiled programs: SBC's runs compile once.

A bound model (`LoweredModel`) holds its data as constants of the programs NUTS compiles, so a
second `Model.sample` with other data of the same shapes binds a new model and compiles again
(about 5 s for eight schools on a 2-core CPU, against 0.1 s of sampling with small settings).
Here the NumPyro model reads the drawn data from its keyword arguments instead: NUTS passes
`Problem.data_args` to its programs as arguments (runtime/samplers/nuts.py), so one compiled set
of programs serves every run.  The lets of data alone (transformed data) are recomputed from the
arguments inside the program.

Used only where it is safe: NUTS or HMC, drawn data that are arrays (a scalar integer is a
static size), no missing entries and no summed-out discrete unknown (whose recovery has its own
compiled program of the bound data); a trace of the model with abstract data must succeed.
Everything else binds and compiles per run (`Model.sample`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Optional

import jax
import numpy as np


FAST_METHODS = ("nuts", "hmc")


def reading_data(lowered) -> Callable:
    """A NumPyro model that reads its keyword arguments in place of `lowered`'s bound data of the
    same names (`LoweredModel.data_replaced`, while it is traced)."""
    def model(**data):
        if not data:
            return lowered.numpyro_model()
        with lowered.data_replaced(data):
            return lowered.numpyro_model()
    return model


def why_not(method: str, lowered, names: list[str]) -> Optional[str]:
    """None where `names` (drawn data) can be arguments of `method`'s programs, else the reason."""
    if method not in FAST_METHODS:
        return f"`{method}` compiles its programs with the data inside"
    if lowered.plans:
        return "the model has summed-out discrete unknowns, recovered by a program of the bound data"
    for n in names:
        v = lowered.base.values.get(n)
        if n in lowered.observed:
            return f"`{n}` has missing entries"
        if not isinstance(v, jax.Array) or np.ndim(v) == 0:
            return f"`{n}` is a scalar (a static size or loop bound)"
    try:  # an abstract trace with the data as arguments: a let of data alone may need concrete values
        from numpyro.infer.util import potential_energy

        from augury.runtime.samplers.nuts import _unconstrained_prototype
        zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), _unconstrained_prototype(lowered.numpyro_model))
        jax.eval_shape(lambda d: potential_energy(reading_data(lowered), (), d, zeros),
                       {n: lowered.base.values[n] for n in names})
    except Exception as ex:  # noqa: BLE001 (any failure means: bind per run instead)
        return f"the model cannot read its data as arguments ({type(ex).__name__})"
    return None


def arguments(lowered, names: list[str]) -> dict[str, Any]:
    """The validated, converted arrays of `names` in a bound model (dtype as bound)."""
    return {n: lowered.base.values[n] for n in names}


def fast_problem(problem, lowered) -> Any:
    """`problem` (of `lowered`) with the data-reading model and a cache of its own (programs of
    the plain model and of this one must not mix)."""
    return replace(problem, numpyro_model=reading_data(lowered), cache={}, data_args={})
