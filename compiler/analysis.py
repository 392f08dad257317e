"""Analyses on the collected model: recurrences, discrete latents, loop kinds.

- `let_groups`: element-wise lets that read their own earlier elements (or
  each other's) form a recurrence group, compiled to a scan; the others are
  vectorized plates.
- `enumeration_plans`: each finite discrete unknown (a `category`, `bool` or
  bounded `int` param, or the missing entries of such data) is summed out:
  per plate element by log-sum-exp, or along a chain by the forward algorithm
  (an HMM).  The plan records which `~` statements touch it and how.
"""

from __future__ import annotations

from dataclasses import dataclass, replace, fields, is_dataclass
from typing import Callable, Optional

import networkx as nx

from augury.dsl import ast
from augury.errors import AuguryCheckError
from augury.dsl.signatures import TYPES
from augury.dsl.unparse import unparse

from .structure import Located, Structure


reads = ast.free_names  # the names an expression reads


def located_reads(loc: Located) -> set[str]:
    st = loc.stmt
    out = set()
    for lp in loc.loops:
        out |= reads(lp.start) | reads(lp.stop)
    if isinstance(st, ast.LetDecl):
        out |= reads(st.value)
        for i in st.target.indices:
            out |= reads(i)
    elif isinstance(st, ast.Sample):
        out |= reads(st.dist)
        for i in st.target.indices:
            out |= reads(i)
    return out - set(loc.loop_vars)


def rewrite(e, fn: Callable):
    """Rebuild an AST bottom-up; `fn(node)` returns a replacement or None."""
    if e is None or not is_dataclass(e) or isinstance(e, ast.Span):
        return e
    new = fn(e)
    if new is not None:
        return new
    changes = {}
    for f in fields(e):
        v = getattr(e, f.name)
        if isinstance(v, tuple):
            nv = tuple(rewrite(x, fn) if not (isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str))
                       else (x[0], rewrite(x[1], fn)) for x in v)
            if nv != v:
                changes[f.name] = nv
        elif is_dataclass(v) and not isinstance(v, ast.Span):
            nv = rewrite(v, fn)
            if nv is not v:
                changes[f.name] = nv
    return replace(e, **changes) if changes else e


# ------------------------------------------------------------------ let groups


def let_groups(s: Structure) -> list[tuple[str, ...]]:
    """Lets grouped into strongly connected components, in an order where each
    group's inputs come first; a group of one that does not read itself is a
    plain (possibly element-wise) let."""
    g = nx.DiGraph()
    for name in s.lets:
        g.add_node(name)
    for name, locs in s.lets.items():
        for loc in locs:
            for r in located_reads(loc):
                if r in s.lets:
                    g.add_edge(r, name)
    cond = nx.condensation(g)
    order = []
    for c in nx.topological_sort(cond):
        members = tuple(sorted(cond.nodes[c]["members"]))
        order.append(members)
    return order


def is_recurrent(s: Structure, group: tuple[str, ...]) -> bool:
    if len(group) > 1:
        return True
    name = group[0]
    return any(name in located_reads(loc) for loc in s.lets[name])


# -------------------------------------------------------- discrete unknowns


@dataclass(frozen=True)
class EnumUse:
    """One `~` statement that reads the discrete unknown: `roles` maps the text
    of each index expression of the unknown to "cur" (index t or a constant)
    or "prev" (t − 1), and `stmt` is the statement with those reads replaced by
    the names `__enum_cur` / `__enum_prev`."""

    loc: Located
    stmt: ast.Sample
    cur_index: tuple  # the index expressions that select the current element
    has_prev: bool


@dataclass(frozen=True)
class EnumPlan:
    name: str
    kind: str  # "plate", "chain" or "global" (a scalar, summed over its values jointly with all it touches)
    uses: tuple[EnumUse, ...]
    span: ast.Span
    lets: tuple[str, ...] = ()  # for "global": the lets that read it, directly or through other lets


def discrete_unknowns(s: Structure) -> list[str]:
    out = [n for n, d in s.params.items() if TYPES.get(d.type.base) and TYPES[d.type.base].discrete]
    out += [n for n, d in s.data.items() if d.has_missing and TYPES.get(d.type.base) and TYPES[d.type.base].discrete]
    return out


def index_lag(idx, var_names) -> Optional[tuple[str, int]]:
    """`t - c` → (t, c); `t` → (t, 0); anything else → None."""
    if isinstance(idx, ast.Name) and idx.id in var_names:
        return idx.id, 0
    if (isinstance(idx, ast.BinOp) and idx.op == "-" and isinstance(idx.left, ast.Name)
            and idx.left.id in var_names and isinstance(idx.right, ast.Num) and idx.right.is_int):
        return idx.left.id, int(idx.right.value)
    return None


def reads_own_past(loc: Located) -> bool:
    """Whether an element-wise statement inside loops (`x[t] ~ D(...)`, `let s[t] = ...`) reads an
    earlier element of its own target, `x[t - c]` with a constant c ≥ 1: a chain (state-space) step."""
    st = loc.stmt
    if not loc.loops or not st.target.indices:
        return False
    body = st.dist if isinstance(st, ast.Sample) else st.value
    loop_vars = set(loc.loop_vars)
    for node in ast.walk_expr(body):
        if isinstance(node, ast.Index) and isinstance(node.obj, ast.Name) and node.obj.id == st.target.name:
            if any((lag := index_lag(i, loop_vars)) is not None and lag[1] >= 1 for i in node.indices):
                return True
    return False


def chain_variables(s: Structure) -> set[str]:
    """Names (params, data, lets) given element by element along a chain: the one chain
    detection that the graph, the method table and discrete enumeration all read."""
    return {loc.stmt.target.name for loc in list(s.samples) + [l for ls in s.lets.values() for l in ls]
            if reads_own_past(loc)}


def _fail(s: Structure, msg: str, span, notes=()):
    raise AuguryCheckError(msg, span, notes, source=s.source)


def _global_plan(s: Structure, z: str, decl) -> EnumPlan:
    """A scalar discrete unknown: the `~` statements that read it, directly or through
    lets, are evaluated at each of its values and summed over them (exact)."""
    dependent = {z}
    changed = True
    while changed:
        changed = False
        for name, locs in s.lets.items():
            if name not in dependent and any(located_reads(loc) & dependent for loc in locs):
                dependent.add(name)
                changed = True
    uses = tuple(EnumUse(loc, loc.stmt, (), False) for loc in s.samples
                 if loc.stmt.target.name in dependent or located_reads(loc) & dependent)
    if not any(u.stmt.target.name == z for u in uses):
        _fail(s, f"the discrete unknown `{z}` has no distribution", decl.span)
    lets = tuple(n for n in s.lets if n in dependent)
    return EnumPlan(z, "global", uses, decl.span, lets)


def enumeration_plans(s: Structure) -> list[EnumPlan]:
    plans = []
    for z in discrete_unknowns(s):
        decl = s.params.get(z) or s.data.get(z)
        if z in s.params and not decl.type.dims:
            plans.append(_global_plan(s, z, decl))
            continue
        for name, locs in s.lets.items():
            for loc in locs:
                if z in located_reads(loc):
                    _fail(s, f"`let {name}` reads the discrete unknown `{z}`, which is summed out",
                          loc.stmt.span, [f"write the expression that uses `{z}` inside the distribution instead"])
        uses, chain = [], False
        for loc in s.samples:
            st = loc.stmt
            touched = z == st.target.name or z in reads(st.dist) or any(z in reads(i) for i in st.target.indices)
            if not touched:
                continue
            found: dict[str, tuple] = {}

            def visit(e):
                if isinstance(e, ast.Index) and isinstance(e.obj, ast.Name) and e.obj.id == z:
                    found.setdefault(unparse(ast.ArrayLit(e.indices)), e.indices)
                return None

            target_expr = ast.Index(ast.Name(z, st.target.span), st.target.indices, st.target.span) \
                if st.target.name == z and st.target.indices else None
            if st.target.name == z and not st.target.indices:
                _fail(s, f"the discrete unknown `{z}` must be given its distribution element by element",
                      st.span, [f"write `for n in range(N) {{ {z}[n] ~ ... }}` so that it can be summed out exactly"])
            rewrite(st.dist, visit)
            if target_expr is not None:
                visit(target_expr)
            # a bare `z` left after index reads are taken out means a whole-array use
            bare = [x for x in ast.walk_expr(rewrite(st.dist, lambda e: ast.Num(0, True)
                                                         if isinstance(e, ast.Index) and isinstance(e.obj, ast.Name)
                                                         and e.obj.id == z else None))
                    if isinstance(x, ast.Name) and x.id == z]
            if bare:
                _fail(s, f"the discrete unknown `{z}` is used as a whole array", bare[0].span,
                      [f"index it element by element (`{z}[n]`) inside a `for` loop so that it can be summed out"])
            loop_vars = set(loc.loop_vars)
            cur, prev = None, None
            for text, idx in found.items():
                if len(idx) != 1 and len(idx) != len(decl.type.dims):
                    _fail(s, f"`{z}` must be indexed by one index per dimension", st.span)
                lags = [index_lag(i, loop_vars) for i in idx]
                if all(lg is not None and lg[1] == 0 for lg in lags) or all(isinstance(i, ast.Num) for i in idx):
                    if cur is not None and cur != text:
                        _fail(s, f"`{z}` is read at two different elements in one statement", st.span,
                              ["only `z[t]` together with `z[t - 1]` (a chain) can be summed out"])
                    cur = text
                elif len(idx) == 1 and lags[0] is not None and lags[0][1] == 1:
                    prev = text
                else:
                    _fail(s, f"cannot sum out `{z}` read as `{z}{text}`", st.span,
                          [f"read `{z}` at a loop variable (`{z}[t]`), a constant, or the previous element `{z}[t - 1]`"])
            if prev is not None:
                chain = True
                if cur is None:
                    _fail(s, f"`{z}[t - 1]` is read without `{z}[t]`", st.span)
            roles = {}
            for text, idx in found.items():
                roles[text] = "__enum_cur" if text == cur else "__enum_prev"

            def sub(e):
                if isinstance(e, ast.Index) and isinstance(e.obj, ast.Name) and e.obj.id == z:
                    return ast.Name(roles[unparse(ast.ArrayLit(e.indices))], e.span)
                return None

            new_dist = rewrite(st.dist, sub)
            new_target = st.target
            if st.target.name == z:
                new_target = ast.Target("__enum_cur", (), st.target.span)
            uses.append(EnumUse(loc, ast.Sample(new_target, new_dist, st.span), found.get(cur, ()),
                                prev is not None))
        if not uses:
            _fail(s, f"the discrete unknown `{z}` has no distribution", decl.span)
        plans.append(EnumPlan(z, "chain" if chain else "plate", tuple(uses), decl.span))
    return plans
