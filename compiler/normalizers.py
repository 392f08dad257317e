"""The normalizing constants of priors, for methods that estimate the evidence
(`LoweredModel.run(..., normalize_truncation=True)`): a prior truncated by its declared support,
`flat()` on a compact support (the uniform distribution there), and a `sphere(D)` unknown's
auxiliary Gaussian radius."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from augury.compiler.evaluate import Env, EvalError, evaluate, evaluate_distribution
from augury.dsl import ast
from augury.dsl.signatures import TYPES
from augury.dsl.unparse import unparse
from augury.runtime.distributions import truncate

from .structure import Located


def sphere_radius_log_normalizer(shape: tuple) -> float:
    """A `sphere(D)` unknown is u = v / |v| with v's density exp(−|v|²/2) p(u): normalized, it
    is p(u) exp(−|v|²/2) / (2^(D/2−1) Γ(D/2)) (p w.r.t. the sphere's area; the radius is χ_D).
    This returns the log of that constant summed over the batch, for evidence estimates."""
    d = int(shape[-1])
    count = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return count * ((d / 2 - 1) * math.log(2.0) + math.lgamma(d / 2))


class PriorNormalizers:
    """Normalizer methods of `LoweredModel` (which provides `s`, `over_loops` and `_wrap`)."""

    def _truncation_log_normalizer(self, loc: Located, env: Env):
        """Σ over the statement's elements of log P(lower < X < upper) for its distribution."""
        st = loc.stmt
        decl = self.s.params[st.target.name]
        from .lower import declared_bounds  # lower.py imports this module
        lo_e, hi_e = declared_bounds(decl.type)

        def one(e):
            dist = evaluate_distribution(st.dist, e)
            lo = None if lo_e is None else evaluate(lo_e, e)
            hi = None if hi_e is None else evaluate(hi_e, e)
            t = truncate(dist, lo, hi)
            if not t.exact:
                raise EvalError(f"the normalizing constant of `{st.dist.func}` truncated to the declared support "
                                f"of `{st.target.name}` has no closed form here", st.dist.span)
            value = evaluate(ast.Index(ast.Name(st.target.name, st.span), st.target.indices, st.span)
                             if st.target.indices else ast.Name(st.target.name, st.span), e)
            return jnp.sum(jnp.broadcast_to(t.log_normalizer(), jnp.shape(value)))

        grid = self._wrap(lambda: self.over_loops(loc.loops, env, one), st.span,
                          f"cannot normalize the prior of `{unparse(st.target)}`")
        return 0.0 if grid is None else jnp.sum(grid)

    def _flat_log_volume(self, loc: Located, env: Env):
        """Σ over the statement's elements of log volume(declared support): `flat()` on a
        compact support is the uniform distribution there (runtime/uniform.py)."""
        from augury.runtime.uniform import log_volume
        st = loc.stmt
        decl = self.s.params[st.target.name]
        from .lower import declared_bounds  # lower.py imports this module
        lo_e, hi_e = declared_bounds(decl.type)
        rank = TYPES[decl.type.base].event_rank

        def one(e):
            value = evaluate(ast.Index(ast.Name(st.target.name, st.span), st.target.indices, st.span)
                             if st.target.indices else ast.Name(st.target.name, st.span), e)
            shape = jnp.shape(value)
            event = shape[len(shape) - rank:]
            lo = None if lo_e is None else evaluate(lo_e, e)
            hi = None if hi_e is None else evaluate(hi_e, e)
            lv = log_volume(TYPES[decl.type.base].support, event, lo, hi)
            return jnp.sum(jnp.broadcast_to(lv, shape[:len(shape) - rank]))

        grid = self._wrap(lambda: self.over_loops(loc.loops, env, one), st.span,
                          f"cannot normalize the flat prior of `{unparse(st.target)}`")
        return 0.0 if grid is None else jnp.sum(grid)
