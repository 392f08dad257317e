"""The normalizing constants of priors, for methods that estimate the evidence
(`LoweredModel.run(..., normalize_truncation=True)`): a prior truncated by its declared support,
`flat()` on a compact support (the uniform distribution there), and a `sphere(D)` unknown's
auxiliary Gaussian radius; and which truncation normalizers read an unknown, so that every
method's density has them (docs/language.md, "Distributions and supports")."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from augury.compiler.evaluate import Env, EvalError, evaluate, evaluate_distribution
from augury.dsl import ast
from augury.dsl.signatures import DISTRIBUTIONS, TYPES
from augury.dsl.unparse import unparse
from augury.runtime.distributions import truncate

from .analysis import located_reads, reads
from .structure import Located


def sphere_radius_log_normalizer(shape: tuple) -> float:
    """A `sphere(D)` unknown is u = v / |v| with v's density exp(−|v|²/2) p(u): normalized, it
    is p(u) exp(−|v|²/2) / (2^(D/2−1) Γ(D/2)) (p w.r.t. the sphere's area; the radius is χ_D).
    This returns the log of that constant summed over the batch, for evidence estimates."""
    d = int(shape[-1])
    count = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return count * ((d / 2 - 1) * math.log(2.0) + math.lgamma(d / 2))


# Scalar families whose truncation normalizer log P(lower < X < upper) is exact (runtime/cdf.py);
# the arguments named here reach it only through the incomplete beta function, which JAX cannot
# differentiate in its shape parameters, so a gradient method cannot follow them.
NORMALIZER_FAMILIES = {"normal", "lognormal", "half_normal", "cauchy", "half_cauchy", "student_t", "laplace",
                       "exponential", "gamma", "inv_gamma", "beta", "uniform"}
_NO_CDF_GRADIENT = {"student_t": ("df",), "beta": ("a", "b")}


def _no_gradient_args(dist: ast.Call) -> list:
    """The arguments of a distribution call that its normalizer cannot be differentiated in."""
    names = _NO_CDF_GRADIENT.get(dist.func, ())
    params = DISTRIBUTIONS[dist.func].params
    return [a for i, a in enumerate(dist.args) if params[i] in names] + [v for k, v in dist.kwargs if k in names]


class PriorNormalizers:
    """Normalizer methods of `LoweredModel` (which provides `s`, `unknowns`, `plans`,
    `_depends_on_unknown`, `over_loops` and `_wrap`)."""

    def _normalizer_varies(self, loc: Located) -> bool:
        """Whether a param's prior statement has a truncation normalizer that reads an unknown:
        its arguments or its declared bounds do (`b ~ normal(mu, 1)` on `positive`, `real(upper
        = 1 - a)`).  Such a normalizer is part of every method's target, MCMC's included; a
        constant one matters only to the evidence.  `flat()` is a constant density (on chained
        bounds: uniform over the joint region, as in Stan), never renormalized here."""
        from .lower import declared_bounds, declared_support_narrower  # lower.py imports this module
        name, func = loc.stmt.target.name, loc.stmt.dist.func
        if name not in self.s.params:
            return False
        unknown = {u.name for u in self.unknowns} | set(self.plans)
        is_unknown = lambda r: r != name and (r in unknown or (r in self.s.lets and self._depends_on_unknown(r)))  # noqa: E731
        bounds = [b for b in declared_bounds(self.s.params[name].type) if b is not None]
        if func == "flat":
            if any(is_unknown(r) for b in bounds for r in reads(b)):
                self.joint_flat.append(name)  # uniform over the joint region for MCMC, given the others for smc
            return False
        if not declared_support_narrower(self.s, name, func) or \
                not any(is_unknown(r) for r in located_reads(loc).union(*(reads(b) for b in bounds))):
            return False
        if func not in NORMALIZER_FAMILIES or any(
                is_unknown(r) for a in _no_gradient_args(loc.stmt.dist) for r in reads(a)):
            self.restricted_truncations.append(name)  # no exact, differentiable normalizer: Stan's restriction
            return False
        return True

    def _finite_values(self, name: str, env: Env):
        """How many values a param declared `bool`, `category(K)` or `int(lower, upper)` takes
        (where `flat()` is a proper uniform distribution); None for any other declaration."""
        t = self.s.declared_type(name) if name in self.s.params else None
        if t is None or t.base not in ("bool", "category", "int"):
            return None
        if t.base == "bool":
            return 2
        if t.base == "category":
            return evaluate(t.args[0], env)
        lo, hi = t.kwarg("lower"), t.kwarg("upper")
        return None if lo is None or hi is None else evaluate(hi, env) - evaluate(lo, env) + 1

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
