"""The `~` rules (pass 4 of `check`): what may stand on the left of `~` and how often,
whether a distribution's support fits the declared type, whether its parameters' shapes
fit the left side's, and flat priors that are improper."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from . import ast
from .check import KIND_ARTICLE, Checker, Scope, Symbol, _let_name_span, constant, numeric, suggest
from .signatures import DISTRIBUTIONS, TYPES
from .types import dims_conflict, fmt_shape

# (distribution, parameter) -> (event rank of the parameter, how its event dims relate to the left side's):
# "same" (equal to the left side's event dims), "square" (each equal to the left side's last dim),
# "cat" (the number of categories), None (batch dims only); a missing entry means (0, None);
# the value None means: do not check this parameter.
PARAM_EVENT = {
    ("mvnormal", "loc"): (1, "same"), ("mvnormal", "cov"): (2, "square"),
    ("mvnormal", "scale_tril"): (2, "square"), ("mvnormal", "precision"): (2, "square"),
    ("dirichlet", "concentration"): (1, "same"), ("von_mises_fisher", "mu"): (1, "same"),
    ("wishart", "scale"): (2, "same"), ("inv_wishart", "scale"): (2, "same"),
    ("lkj_cholesky", "D"): None,
    ("categorical", "probs"): (1, "cat"), ("categorical", "logits"): (1, "cat"),
    ("gaussian", "mean"): (-1, "same"), ("gaussian", "cov"): None,
}
SKIP_DISTS = {"mixture", "gmm", "diffusion", "flat"}

SUPPORT_WORDS = {"simplex": "simplexes", "spd": "symmetric positive-definite matrices",
                 "cholesky_corr": "Cholesky factors of correlation matrices", "sphere": "unit vectors",
                 "positive": "the positive reals", "unit": "the interval (0, 1)", "interval": "an interval",
                 "nonneg_int": "the non-negative integers", "category": "categories", "binary": "0 and 1"}
CONSTRAINED = {"simplex": 1, "spd": 2, "cholesky_corr": 2, "sphere": 1}
CONSTRAINED_PRIORS = {"simplex": "`dirichlet(...)`", "spd": "`wishart(...)` or `inv_wishart(...)`",
                      "cholesky_corr": "`lkj_cholesky(...)`", "sphere": "`von_mises_fisher(...)`"}
# declared support -> {narrower distribution support: the type to suggest}
NARROWER = {"real": {"positive": "positive", "unit": "unit", "interval": "interval"},
            "positive": {"unit": "unit"}, "ordered": {"positive": "positive_ordered"}}


# ================================================================= samples


def check_samples(ck: Checker):
    by_name: dict[str, list] = defaultdict(list)
    flat: dict[str, ast.Sample] = {}
    for s, loops in ast.walk_statements(ck.program.statements):
        if not isinstance(s, ast.Sample):
            continue
        scope = Scope(loops)
        sym = _target_symbol(ck, s, scope)
        if sym is None:
            continue
        by_name[sym.name].append(s)
        given = ck.dist_args.get(id(s.dist))
        if given is None:
            continue
        sig = DISTRIBUTIONS[s.dist.func]
        if sig.name == "flat" and sym.kind == "param":
            flat.setdefault(sym.name, s)
        if _check_support(ck, s, sym, sig, given):
            _check_shapes(ck, s, sym, sig, given, scope)
    _check_coverage(ck, by_name)
    _check_flat(ck, flat)


def _target_symbol(ck: Checker, s: ast.Sample, scope: Scope):
    t = s.target
    span = _let_name_span(t)
    sym = ck.symbols.get(t.name)
    if t.name in scope.vars:
        ck.error(f"loop variable `{t.name}` cannot have a distribution", span,
                 "only params, data and lets computed from data stand on the left of `~`")
        return None
    if sym is None:
        ck.error(f"unknown name `{t.name}`", span,
                 suggest(t.name, ck.names_for_suggestion(scope)) or
                 f"declare it first: `param {t.name} : real` for an unknown, or `data {t.name} : real` "
                 f"for an observation")
        return None
    if sym.kind in ("const", "op", "size"):
        note = {"const": f"a const is known before sampling; to make `{t.name}` unknown, declare it "
                         f"`param {t.name} : real`",
                "op": "an operator is not a random quantity; apply it inside a distribution: "
                      "`y ~ normal(A(x), sigma)`",
                "size": f"`{t.name}` is a size: it is read from the shapes of the data; to observe it, declare "
                        f"`data {t.name} : int`"}[sym.kind]
        ck.error(f"`{t.name}` is {KIND_ARTICLE[sym.kind]}; it cannot have a distribution", span, note)
        return None
    if sym.kind == "let":
        via = _let_param_dependency(ck, sym, set())
        if via:
            ck.error(f"`{t.name}` is computed from parameters, so it cannot be on the left of `~`", span,
                     f"`{t.name}` depends on the param `{via}`; only a let computed from data and consts "
                     f"alone (transformed data) can have a distribution: put it on the params instead")
            return None
    ck.used.add(t.name)
    if sym.kind in ("data", "param") and sym.type is not None and sym.type.base in TYPES:
        rank = len(sym.type.dims) + TYPES[sym.type.base].event_rank
        if len(t.indices) > rank:
            ck.error("too many indices on the left of `~`", t.indices[rank].span,
                     f"`{t.name}` is declared {ck.type_text(sym.type)}: "
                     + (f"{rank} dimension{'s' if rank != 1 else ''}, so at most {rank} "
                        f"ind{'ex' if rank == 1 else 'ices'}" if rank else "a scalar, which takes no index"))
            return None
    return sym


def _let_param_dependency(ck: Checker, sym: Symbol, seen: set):
    """The name of a param a let reads (directly or through other lets), or None."""
    if sym.name in seen:
        return None
    seen.add(sym.name)
    for stmt, _ in sym.pieces:
        for n in sorted(ast.free_names(stmt.value) | {c.func for c in ast.walk_expr(stmt.value)
                                                       if isinstance(c, ast.Call)}):
            other = ck.symbols.get(n)
            if other is None:
                continue
            if other.kind == "param":
                return n
            if other.kind == "let":
                via = _let_param_dependency(ck, other, seen)
                if via:
                    return via
    return None


def _check_coverage(ck: Checker, by_name: dict):
    for sym in ck.symbols.values():
        lst = by_name.get(sym.name, [])
        if sym.quiet:
            continue
        if sym.kind == "param" and not lst:
            ck.error(f"parameter `{sym.name}` has no distribution", sym.span,
                     f"give it one (`{sym.name} ~ normal(0, 1)`) or say it is flat on purpose: "
                     f"`{sym.name} ~ flat()`")
            continue
        wholes = [s for s in lst if not s.target.indices]
        elems = [s for s in lst if s.target.indices]
        role = {"param": "a param", "data": "a data", "let": "a let"}.get(sym.kind, "it")
        if len(wholes) >= 2:
            ck.error(f"`{sym.name}` already has a distribution", _let_name_span(wholes[1].target),
                     f"its distribution is given at {ck.where(wholes[0].span)}; {role} stands on the left of "
                     f"one `~` only")
        elif wholes and elems:
            first, later = sorted([wholes[0], elems[0]], key=lambda s: (s.span.line, s.span.col))
            ck.error(f"`{sym.name}` has a distribution both as a whole and element-wise",
                     _let_name_span(later.target),
                     f"the other one is at {ck.where(first.span)}; give `{sym.name}` one whole `~`, or "
                     f"element-wise ones only")
        seen: dict = {}
        for s in elems:
            key = tuple(ck.int_of(i) for i in s.target.indices)
            if None in key:
                continue
            if key in seen:
                ck.error(f"`{ck.text(s.target)}` already has a distribution", s.target.span,
                         f"it is given at {ck.where(seen[key].span)}")
            else:
                seen[key] = s


# ------------------------------------------------------------ flat priors


def _unbounded(ck: Checker, ty: ast.TypeExpr) -> bool:
    """Whether a type's support has infinite volume (so that `flat()` on it is improper)."""
    if ty is None or ty.base not in TYPES:
        return False
    if ty.base in ("real", "int"):
        for key in ("lower", "upper"):
            e = ty.kwarg(key)
            if e is None:
                return True
            arr = numeric(constant(ck, e))
            if arr is not None and not np.isfinite(arr).all():
                return True
        return False
    return TYPES[ty.base].support in ("positive", "ordered", "positive_ordered", "spd")


def _params_read(ck: Checker, exprs) -> set:
    """The params that expressions read, directly or through lets."""
    out: set = set()
    todo = list(exprs)
    seen: set = set()
    while todo:
        e = todo.pop()
        for n in ast.walk_expr(e):
            name = n.id if isinstance(n, ast.Name) else n.func if isinstance(n, ast.Call) else None
            sym = ck.symbols.get(name) if name is not None else None
            if sym is None or name in seen:
                continue
            seen.add(name)
            if sym.kind == "param":
                out.add(name)
            elif sym.kind == "let":
                todo.extend(stmt.value for stmt, _ in sym.pieces)
    return out


def _informed_params(ck: Checker) -> set:
    """Params that data informs: those a likelihood term reads (directly or through lets), and
    those connected to them through other params' priors or bounds (a hierarchy)."""
    parent = {n: n for n, sym in ck.symbols.items() if sym.kind == "param"}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    anchored: set = set()
    for s, _ in ast.walk_statements(ck.program.statements):
        if isinstance(s, ast.Sample):
            target = ck.symbols.get(s.target.name)
            if target is None:
                continue
            reads = _params_read(ck, [s.dist] + list(s.target.indices))
            if target.kind == "param":
                for p in reads:
                    parent[find(p)] = find(target.name)
            elif target.kind in ("data", "let"):
                anchored |= reads
        elif isinstance(s, ast.ParamDecl) and s.name in parent:
            for p in _params_read(ck, [v for _, v in s.type.kwargs]):
                parent[find(p)] = find(s.name)
    roots = {find(p) for p in anchored if p in parent}
    return {p for p in parent if find(p) in roots}


FLAT_PRIOR = "flat-prior"  # a warning that matters only to methods that draw from the prior


def _check_flat(ck: Checker, flat: dict):
    """`flat()` is the uniform distribution on a compact support (a simplex, a unit interval,
    a sphere, bounded reals): proper, nothing to say.  On an unbounded support it is improper;
    with no data to inform the parameter, so is its posterior."""
    if not flat:
        return
    informed = _informed_params(ck)
    for name, s in flat.items():
        sym = ck.symbols[name]
        if sym.quiet or not _unbounded(ck, sym.type):
            continue
        if name in informed:
            ck.warn(f"`{name}` has an improper flat prior; methods that draw from the prior "
                    f"(SMC, diffusion) will refuse it", s.dist.span,
                    "give it a proper prior if you want to use those methods")
            ck.warnings[-1] = replace(ck.warnings[-1], code=FLAT_PRIOR)
        else:
            ck.warn(f"the posterior of `{name}` is improper: its prior is flat on an unbounded support and no "
                    f"data informs it", s.dist.span,
                    f"`{name}` is declared {ck.type_text(sym.type)}; give it a proper prior, such as "
                    f"`{name} ~ normal(0, 10)`, or observe data that depends on it")


# ---------------------------------------------------------------- supports


def _retype(ck: Checker, ty: ast.TypeExpr, base: str, event_rank: int = 0, arg: str | None = None) -> str:
    dims = [ck.text(d) for d in ty.dims]
    if event_rank and arg is None:
        if ty.args:
            arg = ck.text(ty.args[0])
        elif len(dims) >= event_rank:
            arg = dims[-1]
            dims = dims[:-event_rank]
        else:
            arg = "D" if event_rank == 2 else "K"
    head = f"{base}({arg})" if arg is not None else base
    return head + (f"[{', '.join(dims)}]" if dims else "")


def _check_support(ck: Checker, s: ast.Sample, sym: Symbol, sig, given) -> bool:
    """Errors (or a warning) when the distribution's support does not fit the declared type.
    Returns False when an error was reported (shapes are then not compared)."""
    ty = sym.type
    if sym.kind not in ("data", "param") or ty is None or ty.base not in TYPES:
        return True
    dist = sig
    if sig.name == "mixture":
        comp = given.get("component")
        if not isinstance(comp, ast.Call) or comp.func not in DISTRIBUTIONS:
            return True
        dist = DISTRIBUTIONS[comp.func]
    if dist.support == "any":
        return True
    tsig = TYPES[ty.base]
    decl = f"`{sym.name}` is declared {ck.type_text(ty)}"
    at = s.dist.func_span
    verb = "declare" if sym.kind == "param" else "declare"
    if dist.discrete and not tsig.discrete:
        want = {"categorical": _retype(ck, ty, "category", arg="K"), "bernoulli": _retype(ck, ty, "bool")}.get(
            dist.name, _retype(ck, ty, "int"))
        ck.error(f"`{dist.name}` is a discrete distribution, but {decl}", at,
                 f"{verb} `{sym.kind} {sym.name} : {want}`")
        return False
    if not dist.discrete and tsig.discrete:
        ck.error(f"`{dist.name}` is a continuous distribution, but {decl}", at,
                 f"{verb} `{sym.kind} {sym.name} : {_retype(ck, ty, 'real')}`, or use a discrete distribution "
                 f"(categorical, bernoulli, binomial, poisson, negative_binomial)")
        return False
    if dist.discrete:
        if dist.support == "category" and ty.base == "bool":
            ck.error(f"`categorical` draws categories, but {decl}", at,
                     f"use `bernoulli` for a bool, or declare `{sym.kind} {sym.name} : "
                     f"{_retype(ck, ty, 'category', arg='2')}`")
            return False
        if dist.support == "nonneg_int" and ty.base != "int":
            ck.error(f"`{dist.name}` draws counts (the non-negative integers), but {decl}", at,
                     f"declare `{sym.kind} {sym.name} : {_retype(ck, ty, 'int')}`")
            return False
        return True
    if dist.support in CONSTRAINED and tsig.support != dist.support:
        want = _retype(ck, ty, dist.support, CONSTRAINED[dist.support])
        ck.error(f"`{dist.name}` draws {SUPPORT_WORDS[dist.support]}, but {decl}", at,
                 f"declare `{sym.kind} {sym.name} : {want}`")
        return False
    if sym.kind == "param" and tsig.support in CONSTRAINED and dist.support != tsig.support:
        words = SUPPORT_WORDS[tsig.support]
        ck.warn(f"{decl}, but `{dist.name}` is not a distribution on {words}", at,
                f"the declared type wins: the density of `{dist.name}` is restricted to {words}, "
                f"not renormalized",
                f"for a prior on {words}, use {CONSTRAINED_PRIORS[tsig.support]}")
    if sym.kind == "param" and sig.name != "mixture" and not ty.kwargs:
        narrower = NARROWER.get(tsig.support, {}).get(dist.support)
        if narrower:
            if narrower == "interval":
                lo, hi = given.get("low"), given.get("high")
                want = (f"real(lower = {ck.text(lo) if lo else '...'}, upper = {ck.text(hi) if hi else '...'})"
                        + (f"[{', '.join(ck.text(d) for d in ty.dims)}]" if ty.dims else ""))
            else:
                want = _retype(ck, ty, narrower, TYPES[narrower].event_rank,
                               arg=ck.text(ty.args[0]) if ty.args else None)
            ck.warn(f"`{sym.name}` is declared {ck.type_text(ty)}, but `{dist.name}` puts mass only on "
                    f"{SUPPORT_WORDS[dist.support]}", at,
                    f"declare `param {sym.name} : {want}` so that samplers move in the right space")
    return True


# ------------------------------------------------------------------ shapes


def _shape_phrase(s) -> str:
    return "is a scalar" if s == () else f"has shape {fmt_shape(s)}"


def _lhs_shape(ck: Checker, s: ast.Sample, sym: Symbol, scope: Scope):
    saved, ck.loops = ck.loops, list(scope.loops)
    try:
        shape = ck.name_shape(sym.name)
        if shape is None:
            return None
        shape = list(shape)
        pos = 0
        for i in s.target.indices:
            if pos >= len(shape):
                return None
            if isinstance(i, ast.Slice):
                shape[pos] = ck.shapes._slice_len(i, shape[pos])
                pos += 1
                continue
            si = ck.shapes.shape(i)
            if si != ():
                return None
            del shape[pos]
        return tuple(shape)
    finally:
        ck.loops = saved


def _check_shapes(ck: Checker, s: ast.Sample, sym: Symbol, sig, given, scope: Scope):
    if sig.name in SKIP_DISTS:
        return
    lhs = _lhs_shape(ck, s, sym, scope)
    if lhs is None:
        return
    t = s.target
    role = "prior" if sym.kind == "param" else "likelihood"
    if sym.type is not None and not t.indices:
        what = f"`{t.name}` is declared {ck.type_text(sym.type)}"
    elif sym.type is not None:
        what = f"`{ck.text(t)}` {_shape_phrase(lhs)} (`{t.name}` is declared {ck.type_text(sym.type)})"
    else:
        what = f"`{ck.text(t)}` {_shape_phrase(lhs)}"
    ev = sig.event_rank
    if ev == -1:
        batch, event = (), lhs
    else:
        if len(lhs) < ev:
            kind = "vectors" if ev == 1 else "matrices"
            want = "real[D]" if ev == 1 else "real[D, D]"
            ck.error(f"`{sig.name}` is a distribution over {kind}, but `{ck.text(t)}` "
                     f"{_shape_phrase(lhs) if lhs else 'is a scalar'}", _let_name_span(t) if not t.indices
                     else t.span, (f"{what}; declare it as a {'vector' if ev == 1 else 'matrix'}, e.g. "
                                   f"`{sym.kind} {t.name} : {want}`") if sym.type is not None and not t.indices
                     else what)
            return
        batch, event = lhs[: len(lhs) - ev], lhs[len(lhs) - ev:]
    for p, v in given.items():
        rel = PARAM_EVENT.get((sig.name, p), (0, None))
        if rel is None:
            continue
        shape = ck.expr_shape(v, scope)
        if shape is None:
            continue
        r, how = rel
        if r == -1:
            r = len(event)
        if len(shape) < r:
            continue
        ab, ae = shape[: len(shape) - r], shape[len(shape) - r:]
        bad = len(ab) > len(batch) and any(d != 1 for d in ab[: len(ab) - len(batch)])
        bad = bad or any(_conflict(x, y) for x, y in zip(reversed(ab), reversed(batch)))
        if not bad and how == "same":
            bad = any(_conflict(x, y) for x, y in zip(reversed(ae), reversed(event)))
        if not bad and how == "square" and event:
            bad = any(_conflict(x, event[-1]) for x in ae)
        if not bad and how == "cat" and sym.type is not None and sym.type.base == "category" and sym.type.args:
            k = ck.dim_of(sym.type.args[0])
            if ae and dims_conflict(ae[-1], k, broadcast=False):
                ck.error(f"shape mismatch in {role} of `{t.name}`", v.span,
                         f"`{ck.text(v)}` gives {ae[-1]} categories but `{t.name}` is declared "
                         f"{ck.type_text(sym.type)}")
                continue
        if bad:
            ck.error(f"shape mismatch in {role} of `{t.name}`", v.span,
                     f"`{ck.text(v)}` {_shape_phrase(shape)} but {what}")


def _conflict(arg_dim, lhs_dim) -> bool:
    return isinstance(arg_dim, int) and isinstance(lhs_dim, int) and arg_dim != lhs_dim and arg_dim != 1
