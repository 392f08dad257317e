"""Prior sampling: every unknown drawn from its prior in dependency order, every data variable
simulated from its likelihood (the prior predictive).

The model is rewritten so that each `~` statement whose target is a param or data becomes an
element-wise `let` whose value is a draw: `x[t] ~ normal(a * x[t - 1], 1)` becomes
`let x[t] = __draw(__key, ID, normal(a * x[t - 1], 1), t)`.  The lowering's let machinery then
does the rest: dependency order, plates (vmapped draws, one key per element by folding the
loop variables into the statement's key) and chains (a scan, each step drawing from the
distribution given the previous draws).

Declared supports are honoured exactly, as the language says the declared type wins:
a distribution on a narrower declared support is the truncated distribution (inverse CDF where
the CDF is known, rejection otherwise), an `ordered` vector with exchangeable components is the
sorted draw, a bounded discrete unknown is drawn over its finite support, and `flat()` on a
compact support is the uniform distribution there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from augury.dsl import ast
from augury.dsl.signatures import DISTRIBUTIONS, TYPES
from augury.errors import AuguryCheckError
from augury.runtime import distributions as dists
from augury.runtime.samplers.protocol import INT_NAN, Problem

from .evaluate import Env, EvalError
from .lower import LoweredModel, declared_bounds, declared_support_narrower
from .structure import Located, Structure

KEY, DRAW = "__key", "__draw"
MAX_DISCRETE_VALUES = 100_000  # a bounded discrete prior is drawn over its finite support
REJECTION_ROUNDS = 512  # a count bounded on one side: P(accept) 8% still fails only 1e-19 of draws
WINDOW = 4096  # ... and past that, the values from the bound on


@dataclass(frozen=True)
class DrawSite:
    """What `__draw` needs to know about one statement beyond its distribution."""

    target: str
    shape: tuple[int, ...]  # one draw's shape (the element's, for element-wise statements)
    full: tuple[int, ...]   # the whole variable's shape (bounds broadcast to it, then index)
    base: str               # the declared type's base (real, positive, simplex, ...)
    truncate: bool          # the declared support is narrower than the distribution's
    discrete: bool
    span: ast.Span


def prior_structure(s: Structure, shapes: dict[str, tuple], simulate: set[str]) -> tuple[Structure, dict]:
    """`s` with the `~` statements of params and of the data in `simulate` rewritten as drawing
    lets; returns the new structure and the `DrawSite` of each statement id."""
    lets = {n: list(v) for n, v in s.lets.items()}
    sites: dict[int, DrawSite] = {}
    for loc in s.samples:
        st = loc.stmt
        name = st.target.name
        if name not in s.params and name not in simulate:
            continue
        decl = s.params.get(name) or s.data.get(name)
        if st.dist.func in ("diffusion",):
            raise AuguryCheckError(f"`{name}` has a learned diffusion prior, which has no sampler for prior draws "
                                   "yet", st.dist.span, source=s.source)
        ident = len(sites) + 1
        full = shapes[name]
        shape = tuple(full[len(st.target.indices):])
        sig = DISTRIBUTIONS.get(st.dist.func)
        tsig = TYPES.get(decl.type.base)
        sites[ident] = DrawSite(name, shape, tuple(full), decl.type.base,
                                declared_support_narrower(s, name, st.dist.func),
                                bool(tsig and tsig.discrete) or bool(sig and sig.discrete), st.span)
        lo, hi = declared_bounds(decl.type)
        if st.dist.func == "flat" and decl.type.base == "category":  # uniform on its values 0 … K − 1
            lo, hi = ast.Num(0, True), ast.BinOp("-", decl.type.args[0], ast.Num(1, True), st.span)
        elif st.dist.func == "flat" and decl.type.base == "bool":
            lo, hi = ast.Num(0, True), ast.Num(1, True)
        kwargs = tuple((k, v) for k, v in (("lower", lo), ("upper", hi)) if v is not None)
        # the element's indices key its draw (each element is drawn once) and select its bounds
        args = (ast.Name(KEY, st.span), ast.Num(ident, True), st.dist) + tuple(st.target.indices)
        value = ast.Call(DRAW, args, kwargs, span=st.dist.span, func_span=st.dist.func_span)
        lets.setdefault(name, []).append(Located(ast.LetDecl(st.target, value, st.span), loc.loops))
    derived = replace(s, params={}, data={n: d for n, d in s.data.items() if n not in simulate},
                      lets=lets, samples=[])
    return derived, sites


class PriorProgram(LoweredModel):
    """Joint draws from the prior and the prior predictive; `draw(key)` is pure and jittable."""

    def __init__(self, s: Structure, consts: dict, data: dict, sizes: dict, operators: dict,
                 shapes: dict[str, tuple], dtype, simulate: set[str], kept: Optional[dict] = None):
        self.original = s
        derived, self.sites = prior_structure(s, shapes, simulate)
        self.s = derived
        self.dtype = dtype
        self.base = Env({**consts, **sizes, **data}, dict(operators))
        self.observed, self.param_shapes, self.plans, self.unknowns = {}, shapes, {}, []
        self.global_lets, self._global_uses, self._global_grid = set(), set(), {}
        self.order = self._order()
        # simulated data given in full: elements no `~` covers (an AR model's first K) keep their values
        self.let_base = dict(kept or {})
        self._refuse_whole_array_feedback(simulate)
        self._random = self._random_lets()
        self._static_lets = self._compute_static_lets()
        self._check_indices()
        self.names = [n for n in list(s.params) + sorted(simulate) + list(s.lets) if n in self._random]
        self.kinds = {n: "param" if n in s.params else "data" if n in simulate else "let" for n in self.names}
        self.compiled_runs: dict = {}
        jax.eval_shape(self.draw, jax.random.PRNGKey(0))  # shape errors surface now, before any run

    def _assignment_error(self, name: str, element: tuple, count: int):
        if count == 0 and name in self.original.data:
            return AuguryCheckError(
                f"`{name}[{', '.join(map(str, element))}]` has no distribution, so simulating `{name}` needs its value",
                self.original.data[name].span, [f"give `{name}` with the data: the elements on the left of `~` are "
                                                "simulated, the others are kept"], source=self.s.source)
        return super()._assignment_error(name, element, count)

    def _refuse_whole_array_feedback(self, simulate: set[str]) -> None:
        """`y ~ normal(nu, s)` where `nu` reads `y` (ARMA) is a density, not a generative order:
        simulating it needs the likelihood written element by element."""
        from .analysis import is_recurrent, let_groups
        whole = {site.target for site in self.sites.values() if site.target in simulate and site.shape == site.full}
        for group in let_groups(self.s):
            hit = sorted(whole & set(group))
            if hit and is_recurrent(self.s, group):
                others = [n for n in group if n != hit[0]]
                raise AuguryCheckError(
                    f"cannot simulate `{hit[0]}` from its likelihood: its distribution reads `{hit[0]}` itself"
                    + (f" through {', '.join('`%s`' % n for n in others)}" if others else ""),
                    self.original.data[hit[0]].span,
                    [f"write the likelihood element by element (`for t in range(T) {{ {hit[0]}[t] ~ ... }}`) so "
                     "that each element is drawn given the earlier ones"], source=self.s.source)

    given: list = []  # params whose values `draw` is given (the posterior predictive's), not drawn

    def _random_lets(self) -> set[str]:
        from .analysis import located_reads
        random = set(self.given)
        changed = True
        while changed:
            changed = False
            for name, locs in self.s.lets.items():
                if name not in random and any(located_reads(loc) & (random | {KEY}) for loc in locs):
                    random.add(name)
                    changed = True
        return random

    def _depends_on_unknown(self, name: str, seen=None) -> bool:
        return name in self._random

    def draw(self, key, values: Optional[dict] = None) -> dict[str, Any]:
        """One joint draw: params, lets that read them, and simulated data (the params in `given`
        taken from `values`)."""
        env = self.base.child()
        env.loop_vars = frozenset()
        env.values.update(self._static_lets)
        env.values[KEY] = key
        env.values[DRAW] = self._draw_site
        for kind, group in self.order:
            if kind == "unknown":
                env.values[group] = jnp.asarray(values[group])
            elif any(n in self._random for n in group):
                self._eval_let_group(group, env)
        return {n: env.values[n] for n in self.names}

    def _draw_site(self, key, ident, dist, *index, lower=None, upper=None):
        site = self.sites[int(ident)]
        k = jax.random.fold_in(key, int(ident))
        for v in index:
            k = jax.random.fold_in(k, v)
        if index:  # an element-wise statement: the element's own bounds
            lower, upper = (None if b is None else jnp.broadcast_to(b, site.full)[tuple(index)] for b in (lower, upper))
        try:
            return draw_on_support(dist, k, site, lower, upper, self.dtype)
        except ValueError as ex:
            raise EvalError(f"cannot draw `{site.target}` from its prior: {ex}", site.span) from None


    def problem(self) -> Problem:
        return Problem(draw_prior=self.draw, kinds=dict(self.kinds), cache=self.compiled_runs, dtype=self.dtype)


def _iid(dist) -> bool:
    """Whether the components of a draw are exchangeable (parameters shared by all)."""
    return tuple(getattr(dist, "batch_shape", (1,))) == ()


def draw_on_support(dist, key, site: DrawSite, lower, upper, dtype):
    """A draw of `dist` restricted to the site's declared support (exact)."""
    shape = site.shape
    if isinstance(dist, dists.Flat) and site.discrete:  # bool, category(K), int(lower, upper)
        return _uniform_integers(key, shape, lower, upper)
    if isinstance(dist, dists.Flat):
        event = shape[len(shape) - TYPES[site.base].event_rank:]
        return dists.draw(dists.uniform_on(TYPES[site.base].support, event, lower, upper), key, shape).astype(dtype)
    if site.discrete:  # every discrete family of the table puts its mass on 0, 1, 2, ...
        if lower is not None and upper is not None:
            return _finite_support_draw(dist, key, shape, lower, upper)
        if upper is None and (lower is None or _at_most(lower, 0)):
            return dists.draw(dist, key, shape)  # the bound adds nothing to the distribution's support
        return _lower_bounded_draw(dist, key, shape, lower, upper)
    if site.base in ("ordered", "positive_ordered"):
        positive = site.base == "positive_ordered" and site.truncate
        if not _iid(dist):  # components of their own: the restriction to increasing vectors, by rejection
            return _ordered_by_rejection(dist, key, shape, positive).astype(dtype)
        x, ok = _truncated(dist, key, shape, 0.0, None) if positive else (dists.draw(dist, key, shape), True)
        return jnp.where(ok, jnp.sort(x, axis=-1), jnp.nan).astype(dtype)
    if not site.truncate:
        x = dists.draw(dist, key, shape)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
    if site.base not in ("real", "positive", "unit"):
        raise ValueError(f"a `{type(dist).__name__}` distribution puts no mass on the declared "
                         f"`{site.base}` support; give it a distribution on that support")
    x, ok = _truncated(dist, key, shape, lower, upper)
    return jnp.where(ok, x, jnp.nan).astype(dtype)


def _uniform_integers(key, shape, lower, upper):
    """`flat()` on a finite discrete support: every integer in [lower, upper] equally likely
    (INT_NAN where the interval is empty)."""
    if lower is None or upper is None:
        raise ValueError("`flat()` on an integer without both bounds is improper (its support is infinite): "
                         "there is no uniform distribution to draw from")
    lo = jnp.broadcast_to(jnp.asarray(lower).astype(jnp.int32), shape)
    hi = jnp.broadcast_to(jnp.asarray(upper).astype(jnp.int32), shape)
    x = jax.random.randint(key, shape, lo, hi + 1, jnp.int32)
    return jnp.where(lo <= hi, x, INT_NAN)


def _ordered_by_rejection(dist, key, shape, positive: bool):
    """Draws of `dist` restricted to increasing vectors (and to positive ones), by rejection:
    exact, and quick when the components' distributions are already mostly in order (a
    mixture's `ordered` locations with separated priors); NaN after REJECTION_ROUNDS rounds."""
    def ok_of(x):
        inc = jnp.all(jnp.diff(x, axis=-1) > 0, axis=-1)
        return inc & jnp.all(x > 0, axis=-1) if positive else inc

    def body(state):
        i, k, x, ok = state
        k, sub = jax.random.split(k)
        new = dists.draw(dist, sub, shape)
        take = ~ok & ok_of(new)
        return i + 1, k, jnp.where(take[..., None], new, x), ok | take

    x0 = jnp.full(shape, jnp.nan, dtype=jnp.result_type(float))
    ok0 = jnp.zeros(shape[:-1], bool)
    _, _, x, ok = jax.lax.while_loop(lambda s: (s[0] < REJECTION_ROUNDS) & ~jnp.all(s[3]), body, (0, key, x0, ok0))
    return jnp.where(ok[..., None], x, jnp.nan)


def _truncated(dist, key, shape, lower, upper):
    """Exact draws of `dist` restricted to (lower, upper), and whether each could be made: an
    interval with no mass (or lower > upper) and an exhausted rejection budget are failures."""
    t = dists.truncate(dist, lower, upper)
    x, ok = t.sample_with_flag(key, shape)
    if t.exact:
        ok = ok & jnp.isfinite(t.log_normalizer())
    if lower is not None and upper is not None:
        ok = ok & (jnp.asarray(lower) < jnp.asarray(upper))
    return x, ok


def _at_most(bound, value: float) -> bool:
    try:
        return bool(np.all(np.asarray(bound) <= value))
    except (TypeError, jax.errors.ConcretizationTypeError):
        return False


def _finite_support_draw(dist, key, shape, lower, upper):
    """A discrete distribution restricted to the integers in [lower, upper]: drawn over its values."""
    try:
        lo, hi = int(np.asarray(lower)), int(np.asarray(upper))
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise ValueError("the bounds of a discrete unknown must be known before sampling") from None
    if hi - lo + 1 > MAX_DISCRETE_VALUES:
        raise ValueError(f"its support has {hi - lo + 1} values, too many to draw over")
    return _window_draw(dist, key, shape, lo, hi - lo + 1)


def _window_draw(dist, key, shape, lo, width: int):
    """A draw over the integers lo … lo + width − 1 (lo may differ per element), renormalized;
    INT_NAN where they hold no mass of the distribution's support."""
    lo = jnp.broadcast_to(jnp.asarray(lo, jnp.int32), tuple(shape))
    values = lo[None] + jnp.arange(width, dtype=jnp.int32).reshape((width,) + (1,) * len(shape))
    logp = jnp.broadcast_to(dist.log_prob(values), values.shape)
    logp = jnp.where(dist.support(values), logp, -jnp.inf)  # a formula outside its support is no mass
    logp = jnp.moveaxis(logp, 0, -1)
    x = lo + jax.random.categorical(key, logp, axis=-1).astype(jnp.int32)
    return jnp.where(jnp.isfinite(jax.nn.logsumexp(logp, axis=-1)), x, INT_NAN)


def _lower_bounded_draw(dist, key, shape, lower, upper):
    """A count restricted to `lower` and above (or `upper` and below): rejection, which is quick
    unless the bound is far in a tail; where it runs out of tries, the window of WINDOW values
    from the bound, where a tail's mass lies (a tail far beyond the bound is negligible)."""
    k_rej, k_win = jax.random.split(key)
    x, ok = dists.truncate(dist, lower, upper, rounds=REJECTION_ROUNDS).sample_with_flag(k_rej, shape)
    if upper is not None:  # bounded above only: the support's least value makes it finite
        return jnp.where(ok, x, _window_draw(dist, k_win, shape, 0, WINDOW))
    return jnp.where(ok, x, _window_draw(dist, k_win, shape, lower, WINDOW))
