"""Lowering a collected model, with its data bound, to JAX functions.

`LoweredModel.run(get_param)` evaluates the whole model once: it asks `get_param` for each
continuous unknown (in an order where bounds that read other unknowns come after them), computes
the lets (vectorized over plates with `vmap`, recurrences with `lax.scan`), sums out finite
discrete unknowns exactly, and returns the values with the log prior and the log likelihood.
`numpyro_model` wraps it for NumPyro's NUTS/HMC; SMC reads `log_prior` and `log_likelihood` directly.

Semantics: the declared type wins (a distribution on a narrower declared support is that
distribution truncated to it, renormalized: `cauchy` on `positive` is a half-Cauchy), bounds may
read other unknowns, and `sphere(D)` is a normalized auxiliary Gaussian vector.  A truncation
normalizer that reads an unknown is in every method's log density; a constant one only where the
evidence needs it (`normalize_truncation`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import numpyro
import numpyro.distributions as nd
from numpyro.distributions import constraints

from augury.dsl import ast
from augury.errors import AuguryCheckError
from augury.dsl.signatures import DISTRIBUTIONS, TYPES
from augury.dsl.unparse import unparse
from augury.compiler.evaluate import Env, EvalError, evaluate, evaluate_distribution
from augury.runtime.operators import Operator
from augury.runtime.samplers.protocol import Problem

from .analysis import enumeration_plans, is_recurrent, let_groups, located_reads, reads
from .enumeration import DiscreteEnumeration
from .lowering_errors import lowering_error as _err
from .loops import LoopEvaluation
from .normalizers import PriorNormalizers, sphere_radius_log_normalizer
from .structure import Located, Structure


# which declared supports lie inside each distribution support (no -inf mask needed)
_INSIDE = {
    "real": None,  # everything continuous
    "positive": {"positive", "unit", "positive_ordered"},
    "unit": {"unit"},
    "simplex": {"simplex"}, "spd": {"spd"}, "cholesky_corr": {"cholesky_corr"}, "sphere": {"sphere"},
}


def support_mask_needed(s: Structure, target: str, dist_name: str) -> bool:
    """Whether the log density of `dist_name` must be masked to −inf outside the declared type
    of `target` (the declared type wins, as in Stan).  A real-line density needs no mask: the
    unknown's bijection (or the data check) keeps its value inside the declared support."""
    sig = DISTRIBUTIONS.get(dist_name)
    if sig is None or sig.discrete or sig.support in ("real", "any"):
        return False
    decl_type = s.declared_type(target)
    if decl_type is None:
        return False
    base = decl_type.base
    tsupport = TYPES[base].support if base in TYPES else "real"
    inside = _INSIDE.get(sig.support)
    if inside is not None and tsupport in inside:
        return False
    if sig.support == "positive" and base == "real":
        low = decl_type.kwarg("lower")
        if isinstance(low, ast.Num) and low.value >= 0:
            return False
    return True


def declared_bounds(t: ast.TypeExpr) -> tuple:
    """The (lower, upper) bound expressions a declared type puts on a scalar (None: unbounded)."""
    if t.base in ("positive", "positive_ordered"):
        return ast.Num(0, True), None
    if t.base == "unit":
        return ast.Num(0, True), ast.Num(1, True)
    return t.kwarg("lower"), t.kwarg("upper")


def declared_support_narrower(s: Structure, target: str, dist_name: str) -> bool:
    """Whether the declared type of `target` truncates `dist_name` (a normal on `positive`, a
    gamma on `real(upper = 3)`): prior draws then come from the truncated distribution."""
    sig = DISTRIBUTIONS.get(dist_name)
    decl_type = s.declared_type(target)
    if sig is None or sig.support == "any" or decl_type is None:
        return False
    bounded = decl_type.kwarg("lower") is not None or decl_type.kwarg("upper") is not None
    if sig.support == "real" and not sig.discrete:
        return decl_type.base != "real" or bounded
    return support_mask_needed(s, target, dist_name) or (bounded and not sig.discrete)


@dataclass
class Unknown:
    """A continuous unknown handed to the sampler."""

    name: str
    shape: tuple[int, ...]
    kind: str  # "param", "missing" (entries of partially observed data), "sphere"
    decl: Any
    reads: set[str] = field(default_factory=set)


@dataclass
class RunResult:
    values: dict[str, Any]
    log_prior: Any
    log_likelihood: Any


class LoweredModel(LoopEvaluation, DiscreteEnumeration, PriorNormalizers):
    """A model with its consts and data bound: pure functions for the samplers."""

    def __init__(self, s: Structure, consts: dict, data: dict, sizes: dict, observed: dict[str, np.ndarray],
                 operators: dict[str, Operator], param_shapes: dict[str, tuple], dtype):
        self.s = s
        self.dtype = dtype
        self.base = Env({**consts, **sizes, **data}, dict(operators))
        self.observed = observed
        self.param_shapes = param_shapes
        self.plans = {p.name: p for p in enumeration_plans(s)}
        self.unknowns = self._unknowns()
        self.order = self._order()
        self.reported_lets = [n for n in s.lets if self._depends_on_unknown(n)]
        # params whose varying truncation normalizer has no exact gradient (docs/language.md, "Truncation")
        self.restricted_truncations: list[str] = []
        self.joint_flat: list[str] = []  # flat() on bounds that read another unknown (the same section)
        self._varying_normalizers = {id(loc) for loc in s.samples if self._normalizer_varies(loc)}
        self._static_lets = self._compute_static_lets()
        self._prepare_global_enumeration()
        self.compiled_runs: dict = {}  # sampler settings -> compiled run (filled by the samplers)
        self._check_indices()  # first: an out-of-range index is named with its loop values
        self._check_sample_coverage()
        self._trace_once()

    def _trace_once(self):
        """Trace the whole model abstractly (no compilation), so shape and
        coverage errors surface when data is bound, before any sampling."""
        def zeros(u, support, env):
            return jnp.zeros(u.shape, self.dtype)
        jax.eval_shape(lambda: self.run(zeros).log_likelihood)

    def _check_sample_coverage(self):
        """Element-wise `~` statements of a param must give every element exactly one
        distribution, and those of data at most one (LANGUAGE.md §2), counted here
        because loop bounds are known only once data is bound."""
        s = self.s
        env = self.base.child(**self._static_lets)
        names = {loc.stmt.target.name for loc in s.samples if loc.stmt.target.indices}
        for name in sorted(names):
            locs = [loc for loc in s.samples if loc.stmt.target.name == name]
            if name in s.params:
                shape = self.param_shapes[name]
            elif name in self.base.values:
                shape = np.shape(self.base.values[name])
            else:
                continue
            rank = len(locs[0].stmt.target.indices)
            if any(len(loc.stmt.target.indices) != rank for loc in locs) or rank > len(shape):
                continue  # mixed index depths are checked per element by the distribution's shape
            count = np.zeros(shape[:rank], dtype=np.int64)
            try:
                indices = [self.target_indices(loc.stmt.target, loc.loops, env) for loc in locs]
            except AuguryCheckError:
                continue  # array-valued indices (`y[idx] ~ ...`): the distribution's shape check covers them
            for loc, ix in zip(locs, indices):
                for d, i in enumerate(ix):
                    if i.size and (i.min() < 0 or i.max() >= shape[d]):
                        bad = int(i.min() if i.min() < 0 else i.max())
                        raise _err(s, f"index {bad} is out of range for dimension {d} of `{name}` "
                                      f"(size {shape[d]})", loc.stmt.target.span)
                np.add.at(count, ix, 1)
            is_param = name in s.params
            wrong = (count != 1) if is_param else (count > 1)
            if wrong.any():
                bad = tuple(int(b) for b in np.argwhere(wrong)[0])
                elem = f"{name}[{', '.join(map(str, bad))}]"
                if count[bad] == 0:
                    raise _err(s, f"element `{elem}` of the parameter `{name}` has no distribution",
                               locs[0].stmt.target.span,
                               ["every element of a param must be on the left of exactly one `~`"])
                raise _err(s, f"element `{elem}` has more than one distribution", locs[0].stmt.target.span,
                           [f"it is on the left of {int(count[bad])} `~` statements; each element takes one"])

    # ------------------------------------------------------------ structure
    def _unknowns(self) -> list[Unknown]:
        out = []
        for name, d in self.s.params.items():
            if name in self.plans:
                continue
            shape = self.param_shapes[name]
            kind = "sphere" if d.type.base == "sphere" else "param"
            out.append(Unknown(name, shape, kind, d, reads(d.type)))
        for name, d in self.s.data.items():
            if d.has_missing and name not in self.plans and name in self.observed:
                n_miss = int((~self.observed[name]).sum())
                if n_miss:
                    out.append(Unknown(name, (n_miss,), "missing", d, reads(d.type)))
        return out

    def _order(self) -> list[tuple[str, Any]]:
        """Unknowns and let groups in dependency order."""
        g = nx.DiGraph()
        groups = let_groups(self.s)
        owner = {}
        for grp in groups:
            g.add_node(("let", grp))
            for n in grp:
                owner[n] = ("let", grp)
        for u in self.unknowns:
            g.add_node(("unknown", u.name))
            owner[u.name] = ("unknown", u.name)
        for u in self.unknowns:
            for r in u.reads:
                if r in owner and owner[r] != ("unknown", u.name):
                    g.add_edge(owner[r], ("unknown", u.name))
        for grp in groups:
            for n in grp:
                for loc in self.s.lets[n]:
                    for r in located_reads(loc):
                        if r in owner and owner[r] != ("let", grp):
                            g.add_edge(owner[r], ("let", grp))
        try:
            return list(nx.topological_sort(g))
        except nx.NetworkXUnfeasible:
            cyc = nx.find_cycle(g)
            names = ", ".join(f"`{c[0][1] if c[0][0] == 'unknown' else c[0][1][0]}`" for c in cyc)
            raise _err(self.s, f"these quantities depend on each other in a cycle: {names}",
                       self.s.params[cyc[0][0][1]].span if cyc[0][0][0] == "unknown" else ast.NO_SPAN) from None

    def _depends_on_unknown(self, name: str, seen=None) -> bool:
        seen = seen or set()
        if name in seen:
            return False
        seen.add(name)
        unknown = {u.name for u in self.unknowns} | set(self.plans)
        for loc in self.s.lets[name]:
            for r in located_reads(loc):
                if r in unknown or (r in self.s.lets and self._depends_on_unknown(r, seen)):
                    return True
        return False

    def _compute_static_lets(self) -> dict[str, Any]:
        """Lets of consts and data alone (transformed data), computed once."""
        env = self.base.child()
        env.loop_vars = frozenset()
        static = {}
        for kind, key in self.order:
            if kind != "let":
                continue
            if any(self._depends_on_unknown(n) for n in key):
                continue
            self._eval_let_group(key, env)
            for n in key:
                static[n] = env.values[n]
        return static

    # ------------------------------------------------------------ evaluation
    def _wrap(self, fn, span, what):
        try:
            return fn()
        except EvalError as e:
            raise _err(self.s, e.message, e.span, e.notes) from None
        except (TypeError, ValueError) as ex:
            msg = str(ex).splitlines()[0]
            raise _err(self.s, what, span, [msg]) from None

    def _eval_let_group(self, group: tuple[str, ...], env: Env):
        s = self.s
        if len(group) == 1 and len(s.lets[group[0]]) == 1 and not s.lets[group[0]][0].stmt.target.indices:
            loc = s.lets[group[0]][0]
            if loc.loops:
                raise _err(s, f"`let {group[0]}` inside a loop must be element-wise (`let {group[0]}[i] = ...`)",
                           loc.stmt.span)
            if group[0] in located_reads(loc):
                raise _err(s, f"`{group[0]}` depends on itself", loc.stmt.span)
            env.values[group[0]] = self._wrap(lambda: evaluate(loc.stmt.value, env), loc.stmt.span,
                                              f"cannot compute `{group[0]}`")
            return
        recurrent = is_recurrent(s, group)
        arrays: dict[str, Any] = {}
        later: list[tuple[str, Located]] = []
        index_sets: dict[str, list] = {n: [] for n in group}
        for n in group:
            for loc in s.lets[n]:
                if not loc.stmt.target.indices:
                    raise _err(s, f"`{n}` is assigned both as a whole and element by element", loc.stmt.span)
                index_sets[n].append(self.target_indices(loc.stmt.target, loc.loops, env))
        shapes = {}
        for n in group:
            rank = len(s.lets[n][0].stmt.target.indices)
            shapes[n] = tuple(int(max([ix[d].max() for ix in index_sets[n] if ix[d].size] or [-1])) + 1
                              for d in range(rank))
            if n in self.let_base:  # elements no statement assigns keep the given values
                shapes[n] = tuple(np.shape(self.let_base[n])[:rank])
            count = np.zeros(shapes[n], dtype=np.int64)
            for ix in index_sets[n]:
                np.add.at(count, ix, 1)
            if ((count == 0).any() and n not in self.let_base) or (count > 1).any():
                bad = tuple(int(b) for b in np.argwhere(count != 1)[0])
                raise self._assignment_error(n, bad, int(count[bad]))
            if n in self.let_base:
                arrays[n] = jnp.asarray(self.let_base[n])
        group_set = set(group)
        items = [(n, loc, ix) for n in group for loc, ix in zip(s.lets[n], index_sets[n])]
        # statements outside loops run first, in source order (`let err[0] = y[0] - nu[0]` reads nu[0])
        items.sort(key=lambda it: (bool(it[1].loops), it[1].stmt.span.line, it[1].stmt.span.col))
        for n, loc, ix in items:
            if recurrent and loc.loops and located_reads(loc) & group_set:
                later.append((n, loc))
                continue
            cur = env.child(**{m: arrays.get(m, jnp.zeros(shapes[m])) for m in group}) if recurrent else env
            vals = self._wrap(lambda: self.over_loops(loc.loops, cur, lambda e: evaluate(loc.stmt.value, e)),
                              loc.stmt.span, f"cannot compute `{n}`")
            if vals is None:
                continue
            vals = jnp.asarray(vals)
            elem = vals.shape[self.loop_axes(loc.loops):]
            if n not in arrays:
                arrays[n] = jnp.zeros(shapes[n] + elem, dtype=vals.dtype)
            elif arrays[n].dtype != vals.dtype:  # given int32 labels, int64 draws: the wider one
                arrays[n] = arrays[n].astype(jnp.result_type(arrays[n], vals))
            arrays[n] = arrays[n].at[ix].set(vals)
        if later:
            arrays = self._scan_recurrence(group, later, arrays, shapes, env)
        for n in group:
            env.values[n] = arrays[n]

    let_base: dict = {}  # element-wise lets that start from given values (see PriorProgram)
    prior_program = None  # the params' prior draws given the data (bind(..., with_prior=True))

    def _assignment_error(self, name: str, element: tuple, count: int):
        what = "never assigned" if count == 0 else "assigned more than once"
        return _err(self.s, f"element `{name}[{', '.join(map(str, element))}]` is {what}", self.s.lets[name][0].stmt.span)

    def _scan_recurrence(self, group, later, arrays, shapes, env: Env):
        """Sequential evaluation of recurrent element statements (`lax.scan`
        over each loop of the nest), carrying the group's arrays."""
        s = self.s
        loops = later[0][1].loops
        if any(loc.loops != loops for _, loc in later):
            raise _err(s, "the statements of a recurrence must share one loop", later[0][1].stmt.span)
        for n in group:
            if n not in arrays:  # element shape from one evaluation with zeros for the group
                probe = env.child(**{m: jnp.zeros(shapes[m]) for m in group if m not in arrays},
                                  **{m: arrays[m] for m in arrays})
                its = self.iterations(loops, env)
                a0 = {lp.var: int(x[0]) if x.size else 0 for lp, x in zip(loops, its)}
                loc = next(loc for m, loc in later if m == n)
                v = self._wrap(lambda: jax.eval_shape(lambda: evaluate(loc.stmt.value, probe.child(**a0))),
                               loc.stmt.span, f"cannot compute `{n}`")
                arrays[n] = jnp.zeros(shapes[n] + tuple(v.shape), dtype=v.dtype)
        # floats in the carry must keep one dtype across steps
        arrays = {n: (a.astype(jnp.result_type(float)) if jnp.issubdtype(a.dtype, jnp.floating) else a)
                  for n, a in arrays.items()}

        def body(carry, bound):
            e = env.child(**bound, **carry)
            for n, loc in later:
                val = evaluate(loc.stmt.value, e)
                idx = tuple(jnp.asarray(evaluate(i, e), jnp.int32) for i in loc.stmt.target.indices)
                carry = dict(carry)
                carry[n] = carry[n].at[idx].set(jnp.asarray(val, carry[n].dtype))
                e = env.child(**bound, **carry)
            return carry

        def nest(depth, carry, bound):
            if depth == len(loops):
                return body(carry, bound)
            lp = loops[depth]
            a, b = self.loop_range(lp, env.child(**bound))

            def step(c, i):
                return nest(depth + 1, c, {**bound, lp.var: i}), None

            if b <= a:
                return carry
            out, _ = jax.lax.scan(step, carry, jnp.arange(a, b, dtype=jnp.int32))
            return out

        def flat(carry):
            # a ragged nest runs as one scan over its iterations, in the nested loops' order
            its = [jnp.asarray(x, jnp.int32) for x in self.iterations(loops, env)]
            if its[0].size == 0:
                return carry
            names = [lp.var for lp in loops]
            out, _ = jax.lax.scan(lambda c, v: (body(c, dict(zip(names, v))), None), carry, its)
            return out

        run = flat if self.is_ragged(loops) else (lambda c: nest(0, c, {}))
        return self._wrap(lambda: run(arrays), later[0][1].stmt.span,
                          f"cannot compute the recurrence of {', '.join('`%s`' % n for n in group)}")

    # --------------------------------------------------------- log density
    def _support_mask_needed(self, target: str, dist_name: str) -> bool:
        return support_mask_needed(self.s, target, dist_name)

    def _statement_logp(self, st: ast.Sample, env: Env, mask_target: Optional[str]):
        return jnp.sum(self.statement_log_prob(st, env, mask_target))

    def statement_log_prob(self, st: ast.Sample, env: Env, mask_target: Optional[str]):
        """The log density of the statement's target, element by element (its batch shape)."""
        dist = evaluate_distribution(st.dist, env)
        tgt = ast.Name(st.target.name, st.target.span) if not st.target.indices else \
            ast.Index(ast.Name(st.target.name, st.target.span), st.target.indices, st.target.span)
        value = evaluate(tgt, env)
        count = self._finite_values(st.target.name, env) if st.dist.func == "flat" else None
        if count is not None:  # flat() on bool, category(K) or a bounded int: the uniform distribution, 1 / count
            return jnp.broadcast_to(-jnp.log(jnp.asarray(count, self.dtype)), jnp.shape(value))
        try:
            lp = dist.log_prob(jnp.asarray(value))
        except (TypeError, ValueError) as ex:
            vs = jnp.shape(value)
            raise EvalError(f"shape mismatch in the distribution of `{unparse(st.target)}`", st.dist.span,
                            [f"`{unparse(st.target)}` has shape {tuple(vs)}; the distribution's batch shape is "
                             f"{tuple(getattr(dist, 'batch_shape', ()))}", str(ex).splitlines()[0]]) from None
        if mask_target is not None:
            lp = jnp.where(dist.support(value), lp, -jnp.inf)
        return lp

    def _sample_logp(self, loc: Located, env: Env):
        st = loc.stmt
        mask = st.target.name if self._support_mask_needed(st.target.name, st.dist.func) else None
        grid = self._wrap(lambda: self.over_loops(loc.loops, env, lambda e: self._statement_logp(st, e, mask)),
                          st.span, f"cannot evaluate the distribution of `{unparse(st.target)}`")
        return 0.0 if grid is None else jnp.sum(grid)

    # ------------------------------------------------------------------ run
    def constraint_of(self, u: Unknown, env: Env):
        t = u.decl.type
        base = t.base
        if u.kind == "sphere":
            return constraints.real
        if base in ("real",):
            lo, hi = t.kwarg("lower"), t.kwarg("upper")
            lo = None if lo is None else self._wrap(lambda: evaluate(lo, env), lo.span, "cannot compute the bound")
            hi = None if hi is None else self._wrap(lambda: evaluate(hi, env), hi.span, "cannot compute the bound")
            if lo is not None and hi is not None:
                return constraints.interval(lo, hi)
            if lo is not None:
                return constraints.greater_than(lo)
            if hi is not None:
                return constraints.less_than(hi)
            return constraints.real
        return {"positive": constraints.positive, "unit": constraints.unit_interval,
                "simplex": constraints.simplex, "ordered": constraints.ordered_vector,
                "positive_ordered": constraints.positive_ordered_vector,
                "spd": constraints.positive_definite, "cholesky_corr": constraints.corr_cholesky}[base]

    def event_rank(self, u: Unknown) -> int:
        if u.kind in ("missing",):
            return 0
        return TYPES[u.decl.type.base].event_rank if u.kind != "sphere" else 1

    def environment(self, get_param: Callable) -> Env:
        """The values of every unknown (from `get_param`, as in `run`) and every let, without
        any log density: what the state-space callables of a chain model read."""
        return self._environment(get_param, False)[0]

    def _environment(self, get_param: Callable, normalize_truncation: bool):
        env = self.base.child()
        env.loop_vars = frozenset()
        env.values.update(self._static_lets)
        log_prior = jnp.zeros((), self.dtype)
        for kind, key in self.order:
            if kind == "unknown":
                u = next(x for x in self.unknowns if x.name == key)
                value = get_param(u, self.constraint_of(u, env), env)
                if u.kind == "missing":
                    full = jnp.asarray(self.base.values[u.name], value.dtype)
                    miss = np.nonzero(~self.observed[u.name])
                    env.values[u.name] = full.at[miss].set(value)
                elif u.kind == "sphere":
                    log_prior = log_prior - 0.5 * jnp.sum(value ** 2)
                    if normalize_truncation:  # the auxiliary vector's density, normalized (see below)
                        log_prior = log_prior - sphere_radius_log_normalizer(value.shape)
                    env.values[u.name] = value / jnp.linalg.norm(value, axis=-1, keepdims=True)
                else:
                    env.values[u.name] = value
            elif not all(n in self._static_lets or n in self.global_lets for n in key):
                self._eval_let_group(key, env)
        return env, log_prior

    def run(self, get_param: Callable, enum_key=None, normalize_truncation: bool = False) -> RunResult:
        """Evaluate the model; `get_param(unknown, constraint, env)` returns the
        constrained value of each continuous unknown.  With `enum_key`, the summed-out
        discrete unknowns are also drawn from their exact conditional posterior.

        With `normalize_truncation`, a prior truncated by its declared support (a normal on
        `positive`, bounds that read other params) is normalized: log P(lower < X < upper) is
        subtracted, so the log prior is the density prior sampling draws from (what a method
        that estimates the evidence needs).  Without it only the normalizers that read unknowns
        are subtracted (`b ~ normal(mu, 1)` on `positive`: log Φ(mu)), so MCMC's target is the
        same posterior up to a constant, which MCMC does not need."""
        env, log_prior = self._environment(get_param, normalize_truncation)
        log_lik = jnp.zeros((), self.dtype)
        enumerated = {id(use.loc) for p in self.plans.values() if p.kind != "global" for use in p.uses}
        for loc in self.s.samples:
            if id(loc) in enumerated or id(loc) in self._global_uses:
                continue
            lp = self._sample_logp(loc, env)
            if loc.stmt.target.name in self.s.params:
                log_prior = log_prior + lp
                normalize = normalize_truncation or id(loc) in self._varying_normalizers
                if normalize and loc.stmt.dist.func == "flat":
                    from .methods import flat_is_proper
                    if flat_is_proper(self.s, loc.stmt.target.name):  # an improper one has no normalizer
                        log_prior = log_prior - self._flat_log_volume(loc, env)
                elif normalize and declared_support_narrower(self.s, loc.stmt.target.name, loc.stmt.dist.func):
                    log_prior = log_prior - self._truncation_log_normalizer(loc, env)
            else:
                log_lik = log_lik + lp
        local = [p for p in self.plans.values() if p.kind != "global"]
        keys = list(jax.random.split(enum_key, len(self.plans) + 1)) if enum_key is not None else None
        for plan in local:
            if plan.name in self._global_dependent:
                continue
            lz, draw = self._enum_marginal(plan, env, None if keys is None else keys.pop())
            log_lik = log_lik + lz
            if draw is not None:
                env.values[plan.name] = draw
        if self._global_grid:
            lz = self._global_marginal(env, None if keys is None else keys.pop())
            log_lik = log_lik + lz
        return RunResult(env.values, log_prior, log_lik)

    @contextlib.contextmanager
    def data_replaced(self, data: dict):
        """`data` for the bound data of those names while inside, lets of data recomputed (SBC)."""
        saved = self.base, self._static_lets
        try:
            self.base = Env({**saved[0].values, **data}, saved[0].operators)
            self._static_lets = self._compute_static_lets()
            yield self
        finally:
            self.base, self._static_lets = saved

    # ------------------------------------------------------------ NumPyro
    def numpyro_model(self):
        """A NumPyro model: each unknown an improper-uniform site on its declared
        support (so NumPyro applies the right bijection and Jacobian), the log
        density as factors, and the lets as deterministic sites."""

        def get_param(u: Unknown, support, env):
            rank = self.event_rank(u)
            shape = u.shape
            batch, event = shape[:len(shape) - rank], shape[len(shape) - rank:]
            return numpyro.sample(self.site_name(u), nd.ImproperUniform(support, batch, event))

        res = self.run(get_param)
        numpyro.factor("log_prior", res.log_prior)
        numpyro.factor("log_likelihood", res.log_likelihood)
        for n in self.reported_lets:
            if n not in self.global_lets:  # these depend on the summed-out value: recovered after sampling
                numpyro.deterministic(n, res.values[n])
        for u in self.unknowns:
            if u.kind in ("missing", "sphere"):
                numpyro.deterministic(u.name, res.values[u.name])
        return res

    def site_name(self, u: Unknown) -> str:
        return {"missing": f"{u.name}__missing", "sphere": f"{u.name}__raw"}.get(u.kind, u.name)

    def values_from_sites(self, sites: dict) -> Callable:
        def get_param(u, support, env):
            return sites[self.site_name(u)]
        return get_param

    # ------------------------------------------------------------ samplers
    def recover_discrete(self, sites: dict, key) -> dict:
        """Draws of the summed-out discrete unknowns (and of the lets that read a scalar one),
        one per continuous draw (`sites` keyed by site name, leading axis the draws), from their
        exact conditional posterior."""
        names = [self.site_name(u) for u in self.unknowns]
        flat = {k: jnp.asarray(sites[k]) for k in names}
        keys = jax.random.split(key, next(iter(flat.values())).shape[0])
        if "recover" not in self.compiled_runs:
            def one(site_values, k):
                res = self.run(self.values_from_sites(site_values), enum_key=k)
                return {p: res.values[p] for p in [*self.plans, *sorted(self.global_lets)]}
            self.compiled_runs["recover"] = jax.jit(jax.vmap(one))
        return self.compiled_runs["recover"](flat, keys)

    def problem(self) -> Problem:
        """What the samplers see: callables and arrays (runtime/samplers/protocol.py)."""
        kinds = {u.name: ("param" if u.kind != "missing" else "missing") for u in self.unknowns}
        kinds.update({n: "param" for n in self.plans if n in self.s.params})
        kinds.update({n: "missing" for n in self.plans if n in self.s.data})
        kinds.update({n: "let" for n in self.reported_lets})
        return Problem(numpyro_model=self.numpyro_model, recover_discrete=self.recover_discrete if self.plans else None,
                       kinds=kinds, continuous=tuple(u.name for u in self.unknowns), cache=self.compiled_runs,
                       dtype=self.dtype)
