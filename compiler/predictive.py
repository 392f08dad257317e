"""The posterior predictive: the data simulated from its likelihood at each posterior draw.

The program is the prior program's rewriting (compiler/prior.py) with the params the posterior
holds taken as given instead of drawn: each `~` statement of a data variable becomes a drawing
`let`, the given params are inputs of `draw(key, values)`, and a param the posterior does not
hold (a mixture's assignments after `em`) is drawn from its prior given the others, as a new
point's would be.  Lets are recomputed from the given values.  Vmapped over the draws, it gives
y_rep ~ p(y | θ) for every θ of the posterior (Gelman et al., BDA3 §6.3).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import jax
import jax.numpy as jnp

from .lower import Unknown
from .prior import PriorProgram, prior_structure
from .structure import Structure


class PredictiveProgram(PriorProgram):
    """Draws of the data given the params in `given` (and of the params not given, from their
    prior given the others); `draw(key, values)` is pure and jittable."""

    def __init__(self, s: Structure, consts: dict, data: dict, sizes: dict, operators: dict,
                 shapes: dict[str, tuple], dtype, simulate: set[str], given: set[str], kept: Optional[dict] = None):
        from augury.compiler.evaluate import Env
        self.original = s
        self.given = [p for p in s.params if p in given]
        free = replace(s, params={p: d for p, d in s.params.items() if p not in given},
                       samples=[loc for loc in s.samples if loc.stmt.target.name not in given])
        derived, self.sites = prior_structure(free, shapes, simulate)
        self.s = replace(derived, params={p: s.params[p] for p in self.given})
        self.dtype = dtype
        self.base = Env({**consts, **sizes, **data}, dict(operators))
        self.observed, self.param_shapes, self.plans = {}, shapes, {}
        self.unknowns = [Unknown(p, tuple(shapes[p]), "param", s.params[p]) for p in self.given]
        self.global_lets, self._global_uses, self._global_grid = set(), set(), {}
        self.order = self._order()
        self.let_base = dict(kept or {})
        self._refuse_whole_array_feedback(simulate)
        self._random = self._random_lets()
        self._static_lets = self._compute_static_lets()
        self._check_indices()
        drawn = [p for p in s.params if p not in given]
        self.names = [n for n in drawn + sorted(simulate) if n in self._random]
        self.kinds = {n: "param" if n in s.params else "data" for n in self.names}
        self.compiled_runs: dict = {}
        jax.eval_shape(self.draw, jax.random.PRNGKey(0), self._zeros())

    def _zeros(self) -> dict[str, Any]:
        out = {}
        for p in self.given:
            discrete = self.original.params[p].type.base in ("int", "bool", "category")
            out[p] = jnp.zeros(self.param_shapes[p], jnp.int32 if discrete else self.dtype)
        return out
