"""Chains: a state-space model read off the graph, for particle filters, PMMH and SMC².

The compiler recognizes the form

    x[0] ~ D0(...)                                          # the initial distribution
    for t in range(1, T) { x[t] ~ D(..., x[t - 1], ...) }   # the transition
    for t in range(a, b) { y[t] ~ G(..., x[t], ...) }       # observations (any number)

where `x` is a continuous param (a scalar or a vector per step) and the other params, if any,
are static (PMMH, SMC²).  Each statement's distribution is rewritten once, `x[t - 1]` becoming
the name `__prev` and `x[t]` the name `__cur`, so that the initial, transition and emission
densities are functions of one step's state, evaluated by the same interpreter as the rest of
the model; `recognize` says, in the user's terms, why a model is not of this form.

Where the transition is `normal`/`mvnormal` with a covariance that does not read `x[t - 1]`
(its mean may be any function of it: the filter evaluates it per particle), and the one
observation statement is `normal`/`mvnormal` with a mean affine in `x[t]` and a covariance
that does not read it, the step is linear-Gaussian and the filter may use the locally optimal
proposal.  Affinity is read off the syntax (sums, products with terms free of `x[t]`, ...:
`min(x[t], 5)` is not affine, though it is at most points one could probe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from augury.dsl import ast
from augury.dsl.signatures import DISTRIBUTIONS

from .analysis import chain_variables, index_lag, located_reads, reads, rewrite
from .structure import Located, Structure

PREV, CUR, STEP = "__prev", "__cur", "__t"


@dataclass(frozen=True)
class Emission:
    """An observation statement: active for t in [start, stop) (loop) or t == start (no loop)."""

    loc: Located
    dist: ast.Call           # with x[t] replaced by `__cur`, the loop variable by `__t`
    target: ast.Expr         # the observed element, loop variable replaced by `__t`
    start: Optional[ast.Expr]
    stop: Optional[ast.Expr]


@dataclass(frozen=True)
class ChainForm:
    name: str
    init: Located
    init_dist: ast.Call
    transition: Located
    transition_dist: ast.Call   # x[t - 1] -> `__prev`, t -> `__t`
    emissions: tuple[Emission, ...]
    constant: tuple[Located, ...]   # data statements that do not read the chain
    static: tuple[str, ...]         # the other params


def _is_x_at(node, x: str, var: Optional[str], lag: int) -> bool:
    """`node` is `x[var - lag]` (or `x[var]` for lag 0)."""
    if not (isinstance(node, ast.Index) and isinstance(node.obj, ast.Name) and node.obj.id == x
            and len(node.indices) == 1):
        return False
    got = index_lag(node.indices[0], {var}) if var is not None else None
    return got == (var, lag)


def _const_index(node, x: str) -> Optional[int]:
    if (isinstance(node, ast.Index) and isinstance(node.obj, ast.Name) and node.obj.id == x
            and len(node.indices) == 1 and isinstance(node.indices[0], ast.Num) and node.indices[0].is_int):
        return int(node.indices[0].value)
    return None


def _replace(e, x: str, var: Optional[str], lag_names: dict[int, str], const: Optional[int] = None):
    """`e` with `x[var - lag]` replaced by `lag_names[lag]` (or `x[const]` by lag_names[0]) and
    the loop variable by `__t`; None if `x` is still read any other way."""
    def fn(node):
        for lag, name in lag_names.items():
            if var is not None and _is_x_at(node, x, var, lag):
                return ast.Name(name, node.span)
        if const is not None and _const_index(node, x) == const:
            return ast.Name(lag_names[0], node.span)
        if var is not None and isinstance(node, ast.Name) and node.id == var:
            return ast.Name(STEP, node.span)
        return None
    out = rewrite(e, fn)
    return None if x in reads(out) else out


def recognize(s: Structure) -> Union[ChainForm, str]:
    """The chain form of `s`, or the reason it is not a state-space model a filter can run."""
    chains = sorted(n for n in chain_variables(s) if n in s.params)
    if not chains:
        return "there is no chain: no parameter `x[t]` whose distribution reads `x[t - 1]`"
    if len(chains) > 1:
        return f"several chains ({', '.join('`%s`' % c for c in chains)}): the filters handle one latent chain"
    x = chains[0]
    decl = s.params[x]
    if s.is_discrete(x):
        return f"the chain `{x}` is discrete: it is summed out exactly by the forward algorithm (use nuts)"
    if decl.type.base != "real" or not decl.type.dims:
        return f"the chain `{x}` must be declared `real[T]` or `real[T, D]`"
    discrete = [n for n in s.params if s.is_discrete(n)]
    if discrete:
        return f"`{discrete[0]}` is a discrete parameter next to the chain (the filters handle continuous ones)"
    missing = [n for n, d in s.data.items() if d.has_missing]
    if missing:
        return f"`{missing[0]}` has missing entries (the filters need the observations given, or absent per step)"
    readers = [n for n, locs in s.lets.items() if any(x in located_reads(loc) for loc in locs)]
    if readers:
        return (f"`let {readers[0]}` reads the chain `{x}`: the filters read `{x}` only in `~` statements "
                "(write the expression into the distribution)")
    init = trans = None
    emissions, constant = [], []
    for loc in s.samples:
        st = loc.stmt
        name = st.target.name
        reads_x = x in reads(st.dist) or any(x in reads(i) for i in st.target.indices)
        if name == x:
            idx = st.target.indices
            if not loc.loops and len(idx) == 1 and isinstance(idx[0], ast.Num) and idx[0].is_int \
                    and int(idx[0].value) == 0 and init is None:
                if x in reads(st.dist):
                    return f"`{x}[0]`'s distribution reads `{x}`"
                init = loc
                continue
            if len(loc.loops) == 1 and len(idx) == 1 and isinstance(idx[0], ast.Name) \
                    and idx[0].id == loc.loops[0].var and trans is None:
                lp = loc.loops[0]
                if not (isinstance(lp.start, ast.Num) and lp.start.is_int and int(lp.start.value) == 1):
                    return f"the chain's transition loop must be `for {lp.var} in range(1, ...)`"
                d = _replace(st.dist, x, lp.var, {1: PREV})
                if d is None:
                    return (f"the transition of `{x}` reads `{x}` other than as `{x}[{lp.var} - 1]` "
                            "(the filters handle first-order chains)")
                trans = (loc, d)
                continue
            return (f"`{x}` must be given as `{x}[0] ~ ...` and one loop `for t in range(1, T) {{ {x}[t] ~ ... }}`; "
                    f"the statement at line {st.span.line} is neither")
        if name in s.params:
            if reads_x:
                return f"the prior of `{name}` reads the chain `{x}`"
            continue
        if not reads_x:
            constant.append(loc)
            continue
        if len(loc.loops) == 1:
            var = loc.loops[0].var
            if not (len(st.target.indices) >= 1 and isinstance(st.target.indices[0], ast.Name)
                    and st.target.indices[0].id == var and all(var not in reads(i) for i in st.target.indices[1:])):
                return f"the observation `{name}` at line {st.span.line} must be indexed by `{var}` first"
            d = _replace(st.dist, x, var, {0: CUR})
            if d is None:
                return f"the observation `{name}` at line {st.span.line} reads `{x}` other than as `{x}[{var}]`"
            tgt = ast.Index(ast.Name(name, st.target.span), st.target.indices, st.target.span)
            emissions.append(Emission(loc, d, _replace(tgt, "\0", var, {}), loc.loops[0].start or ast.Num(0, True),
                                      loc.loops[0].stop))
            continue
        if not loc.loops:
            consts = {_const_index(n, x) for n in ast.walk_expr(st.dist) if _const_index(n, x) is not None}
            if len(consts) == 1:
                c = consts.pop()
                d = _replace(st.dist, x, None, {0: CUR}, const=c)
                if d is not None:
                    tgt = ast.Index(ast.Name(name, st.target.span), st.target.indices, st.target.span) \
                        if st.target.indices else ast.Name(name, st.target.span)
                    emissions.append(Emission(loc, d, tgt, ast.Num(c, True), None))
                    continue
        return f"the observation `{name}` at line {st.span.line} reads `{x}` in a way the filters do not handle"
    if init is None:
        return f"the chain `{x}` has no initial distribution `{x}[0] ~ ...`"
    if trans is None:
        return f"the chain `{x}` has no transition `for t in range(1, T) {{ {x}[t] ~ ... }}`"
    if not emissions:
        return f"no observation reads the chain `{x}`"
    static = tuple(n for n in s.params if n != x)
    return ChainForm(x, init, init.stmt.dist, trans[0], trans[1], tuple(emissions), tuple(constant), static)


# ------------------------------------------------------------------ build


def build_state_space(lowered, form: ChainForm):
    """The `StateSpace` of a recognized chain in a bound model (`lowered`)."""
    from augury.compiler.evaluate import evaluate, evaluate_distribution
    from augury.runtime.distributions import truncate
    from augury.runtime.samplers.protocol import StateSpace

    from .lower import declared_bounds, declared_support_narrower
    from .prior import DrawSite, draw_on_support

    s = lowered.s
    x = form.name
    full = tuple(lowered.param_shapes[x])
    T, state_shape = full[0], full[1:]
    decl = s.params[x]
    dtype = lowered.dtype
    lo_e, hi_e = declared_bounds(decl.type)
    base_env = lowered.base.child()
    base_env.values.update(lowered._static_lets)
    with jax.ensure_compile_time_eval():
        ranges = []
        for em in form.emissions:
            a = int(np.asarray(evaluate(em.start, base_env)))
            b = a + 1 if em.stop is None else int(np.asarray(evaluate(em.stop, base_env)))
            ranges.append((a, b))

    def env_of(theta, **extra):
        e = base_env.child(**extra)
        e.values.update(theta)
        return e

    def site(dist_call: ast.Call, span) -> DrawSite:
        return DrawSite(x, state_shape, full, decl.type.base, declared_support_narrower(s, x, dist_call.func),
                        False, span)

    init_site, trans_site = site(form.init_dist, form.init.stmt.span), site(form.transition_dist,
                                                                             form.transition.stmt.span)

    def bounds(env, t):
        out = []
        for b in (lo_e, hi_e):
            if b is None:
                out.append(None)
            else:
                v = jnp.broadcast_to(jnp.asarray(evaluate(b, env), dtype), full)
                out.append(v[t])
        return out

    def log_density(dist, value, env, t, narrower: bool):
        lp = jnp.sum(dist.log_prob(value))
        if narrower:
            lo, hi = bounds(env, t)
            tr = truncate(dist, lo, hi)
            lp = lp - jnp.sum(jnp.broadcast_to(tr.log_normalizer(), jnp.shape(value)))
            inside = jnp.all(dist.support(value)) if hasattr(dist, "support") else True
            if lo is not None:
                inside = inside & jnp.all(value > lo)
            if hi is not None:
                inside = inside & jnp.all(value < hi)
            lp = jnp.where(inside, lp, -jnp.inf)
        return lp

    def init_draw(key, theta):
        env = env_of(theta)
        dist = evaluate_distribution(form.init_dist, env)
        lo, hi = bounds(env, 0)
        return draw_on_support(dist, key, init_site, lo, hi, dtype)

    def init_log_density(x0, theta):
        env = env_of(theta)
        return log_density(evaluate_distribution(form.init_dist, env), x0, env, 0, init_site.truncate)

    def transition_draw(key, x_prev, t, theta):
        env = env_of(theta, **{PREV: x_prev, STEP: t})
        dist = evaluate_distribution(form.transition_dist, env)
        lo, hi = bounds(env, t)
        return draw_on_support(dist, key, trans_site, lo, hi, dtype)

    def transition_log_density(x_new, x_prev, t, theta):
        env = env_of(theta, **{PREV: x_prev, STEP: t})
        return log_density(evaluate_distribution(form.transition_dist, env), x_new, env, t, trans_site.truncate)

    def emission_log_density(x_cur, t, theta):
        total = jnp.zeros((), dtype)
        for em, (a, b) in zip(form.emissions, ranges):
            # outside its range a statement is not evaluated at a real index: clip, then mask
            tt = jnp.clip(t, a, b - 1)
            env = env_of(theta, **{CUR: x_cur, STEP: tt})
            dist = evaluate_distribution(em.dist, env)
            value = evaluate(em.target, env)
            lp = jnp.sum(dist.log_prob(value))
            if lowered._support_mask_needed(em.loc.stmt.target.name, em.loc.stmt.dist.func):
                lp = jnp.where(jnp.all(dist.support(value)), lp, -jnp.inf)
            total = total + jnp.where((t >= a) & (t < b), lp, 0.0)
        return total

    def constant_log_likelihood(theta):
        env = env_of(theta)
        total = jnp.zeros((), dtype)
        for loc in form.constant:
            total = total + lowered._sample_logp(loc, env)
        return total

    linear = _linear_gaussian(form, ranges, env_of, dtype, state_shape,
                              init_site.truncate or trans_site.truncate)
    return StateSpace(x, T, state_shape, init_draw, init_log_density, transition_draw, transition_log_density,
                      emission_log_density, constant_log_likelihood, linear)


def _moments(dist, size: int):
    """(mean (size,), covariance (size, size)) of a normal / mvnormal distribution object."""
    import numpyro.distributions as nd
    if isinstance(dist, nd.MultivariateNormal):
        return jnp.reshape(dist.loc, (size,)), dist.covariance_matrix
    scale = jnp.broadcast_to(dist.scale, jnp.shape(dist.loc)) if jnp.ndim(dist.loc) >= jnp.ndim(dist.scale) \
        else dist.scale
    mean = jnp.broadcast_to(jnp.reshape(dist.loc, (-1,)), (size,))
    s = jnp.reshape(scale, (-1,))
    # a scale ≤ 0 has no density: NaN, as the bootstrap filter's log density gives (squaring hid it)
    var = jnp.broadcast_to(jnp.where(s > 0, s * s, jnp.nan), (size,))
    return mean, jnp.diag(var)


def _arguments(call: ast.Call) -> dict:
    """A distribution call's arguments by parameter name."""
    params = DISTRIBUTIONS[call.func].params
    return {**dict(zip(params, call.args)), **dict(call.kwargs)}


def _only_in_mean(call: ast.Call, name: str) -> bool:
    """`name` is read by the distribution's mean (`loc`) only, never by its scale or covariance."""
    return all(name not in reads(e) for k, e in _arguments(call).items() if k != "loc")


def _affine_in(e, name: str) -> bool:
    """`e` is affine in `name`, read off the syntax: sums, differences and negations of affine
    terms, products (`*`, `@`) of an affine term with one that does not read `name`, quotients
    by such a term, and elements of an affine vector.  A function of it (`min`, `exp`, `abs`,
    `where`, an operator) is not, whatever values it is probed at."""
    if e is None:
        return False
    if name not in reads(e):
        return True
    if isinstance(e, ast.Name):
        return e.id == name
    if isinstance(e, ast.UnaryOp):
        return _affine_in(e.operand, name)
    if isinstance(e, ast.Index):
        return _affine_in(e.obj, name) and all(name not in reads(i) for i in e.indices)
    if isinstance(e, ast.BinOp):
        if e.op in ("+", "-"):
            return _affine_in(e.left, name) and _affine_in(e.right, name)
        if e.op in ("*", "@"):
            return (name not in reads(e.left) and _affine_in(e.right, name)) or \
                (name not in reads(e.right) and _affine_in(e.left, name))
        if e.op == "/":
            return name not in reads(e.right) and _affine_in(e.left, name)
    return False


def _linear_gaussian(form: ChainForm, ranges, env_of, dtype, state_shape, truncated: bool):
    """The `LinearGaussianStep` when every step is linear-Gaussian, else None."""
    from augury.compiler.evaluate import evaluate, evaluate_distribution
    from augury.runtime.samplers.protocol import LinearGaussianStep

    gauss = ("normal", "mvnormal")
    if truncated or form.transition_dist.func not in gauss or form.init_dist.func not in gauss:
        return None
    if len(form.emissions) != 1 or form.emissions[0].dist.func not in gauss:
        return None
    em = form.emissions[0]
    if not (_only_in_mean(form.transition_dist, PREV) and _only_in_mean(em.dist, CUR)
            and _affine_in(_arguments(em.dist).get("loc"), CUR)):
        return None
    a, b = ranges[0]
    D = int(np.prod(state_shape, dtype=np.int64)) if state_shape else 1

    def shaped(v):
        return jnp.reshape(v, state_shape)

    def trans_dist(x_prev, t, th):
        return evaluate_distribution(form.transition_dist, env_of(th, **{PREV: shaped(x_prev), STEP: t}))

    def transition_mean(x_prev, t, th):
        return _moments(trans_dist(x_prev, t, th), D)[0]

    def transition_cov(t, th):
        return _moments(trans_dist(jnp.zeros(D, dtype), t, th), D)[1]

    def emission_at(x_cur, t, th):
        tt = jnp.clip(t, a, b - 1)
        env = env_of(th, **{CUR: shaped(x_cur), STEP: tt})
        dist = evaluate_distribution(em.dist, env)
        y = jnp.reshape(jnp.asarray(evaluate(em.target, env), dtype), (-1,))
        mean, cov = _moments(dist, y.shape[0])
        return mean, cov, y

    def emission(t, th):
        zero = jnp.zeros(D, dtype)
        H = jax.jacfwd(lambda v: emission_at(v, t, th)[0])(zero)
        mean0, R, y = emission_at(zero, t, th)
        return H, mean0, R, y

    def observed(t):
        return (t >= a) & (t < b)

    def init_dist(th):
        return evaluate_distribution(form.init_dist, env_of(th))

    return LinearGaussianStep(transition_mean=transition_mean, transition_cov=transition_cov, emission=emission,
                              observed=observed, init_mean=lambda th: _moments(init_dist(th), D)[0],
                              init_cov=lambda th: _moments(init_dist(th), D)[1])
