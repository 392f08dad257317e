"""Every index checked against the axis it indexes, once data is bound.

LANGUAGE.md §4: negative and out-of-range indices are errors, never wrapped or
clamped.  Inside a plate (`vmap`) or a recurrence (`lax.scan`) a loop variable is
a tracer, so `y[t - 1]` cannot be checked while the model is traced, and JAX
would read `y[-1]` (the last element) at t = 0 and clamp `y[t + 1]` at the last
t.  This pass runs when data is bound (from `LoweredModel.__init__`):

- every `Index` node of the model (right sides of `~` and `let`, the targets of
  `~`, the indices inside let targets, loop bounds, bounds of param types) is
  visited children first, so `y[idx[t]]` checks `idx[t]` before using it;
- each index item (and each slice bound) that reads only loop variables, consts,
  sizes, data and lets of data alone is evaluated at every iteration of the loops
  around it: `jax.vmap` over the concrete list of iterations (`iterations`,
  ragged nests included), so the cost is linear in the number of iterations;
- its values are compared with the size of the axis it indexes: item k of
  `obj[...]` always indexes axis k of `obj`, whose shape is concrete for data and
  lets of data, `param_shapes` for params, and `jax.eval_shape` of the lowering's
  own let evaluation for lets that read unknowns (or of the object's expression
  when it is not a name).

Items that read unknowns (`mu[z[n]]` with a summed-out `z`, which is in range by
construction, or a let of params) are skipped; a float or bool index is left to
the lowering's own errors.  The first offending iteration is named:

    index -1 (at t = 0) is out of range for axis 0 of `y`, which has size 20
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from augury.dsl import ast
from augury.dsl.unparse import unparse
from augury.errors import AuguryCheckError
from augury.compiler.evaluate import Env, evaluate

from .analysis import reads
from .lowering_errors import lowering_error as _err


def at_clause(values: dict) -> str:
    """` (at t = 0)`, ` (at i = 1, j = 2)`, or '' when no loop variable is involved."""
    if not values:
        return ""
    return " (at " + ", ".join(f"{k} = {int(v)}" for k, v in values.items()) + ")"


def negative_note() -> str:
    return "indices are 0-based and never wrap: a negative index does not count from the end"


def _range_note(size: int, axis: int) -> str:
    if size == 0:
        return f"axis {axis} is empty, so it has no valid index"
    return f"the valid indices of axis {axis} are 0 … {size - 1}"


def _children(e):
    if isinstance(e, ast.Index):
        return (e.obj,) + tuple(e.indices)
    if isinstance(e, ast.Slice):
        return tuple(p for p in (e.start, e.stop, e.step) if p is not None)
    if isinstance(e, ast.ArrayLit):
        return tuple(e.items)
    if isinstance(e, ast.BinOp):
        return (e.left, e.right)
    if isinstance(e, ast.UnaryOp):
        return (e.operand,)
    if isinstance(e, ast.Call):
        return tuple(e.args) + tuple(v for _, v in e.kwargs)
    return ()


def _post_order(e):
    """Sub-expressions of `e`, each after all of its own sub-expressions, left to right."""
    if e is None:
        return
    for c in _children(e):
        yield from _post_order(c)
    yield e


def named_loop_vars(used: set, loops) -> set:
    """The loop variables an index reads, and the outer ones their ranges read
    (`j` of `for j in range(i + 1)` comes with `i`)."""
    used = set(used)
    for lp in reversed(loops):
        if lp.var in used:
            used |= reads(lp.start) | reads(lp.stop)
    return used


class IndexChecker:
    """One pass over a `LoweredModel` (`m`): see the module docstring."""

    def __init__(self, m):
        self.m = m
        self.s = m.s
        self.concrete = {**m.base.values, **m._static_lets}
        unknown = {u.name for u in m.unknowns} | set(m.plans) | set(self.s.params)
        self.known = set(self.concrete) - unknown
        self.env = Env(dict(self.concrete), m.base.operators, frozenset())
        self._iterations: dict = {}
        self._abstract: Optional[dict] = None

    # ------------------------------------------------------------ driver
    def run(self):
        s = self.s
        tasks = []  # (position in the source, expression, loops around it)
        for loc in s.loops:
            lp = loc.stmt
            for e in (lp.start, lp.stop):
                if e is not None:
                    tasks.append((lp.span, e, loc.loops))
        for loc in s.samples:
            t = loc.stmt.target
            if t.indices:
                tasks.append((loc.stmt.span, ast.Index(ast.Name(t.name, t.span), t.indices, t.span), loc.loops))
            tasks.append((loc.stmt.span, loc.stmt.dist, loc.loops))
        for locs in s.lets.values():
            for loc in locs:
                # the let's own shape comes from its targets; the indices inside them are checked
                # here, and a negative target index by `target_indices`
                for i in loc.stmt.target.indices:
                    tasks.append((loc.stmt.span, i, loc.loops))
                tasks.append((loc.stmt.span, loc.stmt.value, loc.loops))
        for d in s.params.values():
            for _, v in d.type.kwargs:
                tasks.append((d.span, v, ()))
        tasks.sort(key=lambda t: (t[0].line, t[0].col))
        for _, e, loops in tasks:
            for node in _post_order(e):
                if isinstance(node, ast.Index):
                    self.check_index(node, loops)

    def iterations(self, loops) -> list[np.ndarray]:
        key = tuple(id(lp) for lp in loops)
        if key not in self._iterations:
            self._iterations[key] = self.m.iterations(loops, self.env) if loops else []
        return self._iterations[key]

    # ------------------------------------------------------------ shapes
    def abstract_values(self) -> dict:
        """Shapes (`ShapeDtypeStruct`) of the params and of the lets that read unknowns, from one
        abstract evaluation of the lets as the lowering computes them; {} if that fails (the
        model's own trace then reports why)."""
        if self._abstract is None:
            m, s = self.m, self.s
            static = set(m._static_lets)

            def lets():
                env = Env(dict(self.concrete), m.base.operators, frozenset())
                for u in m.unknowns:
                    if u.kind != "missing":
                        env.values[u.name] = jnp.zeros(u.shape, m.dtype)
                for p in m.plans:
                    if p in s.params:
                        env.values[p] = jnp.zeros(m.param_shapes[p], jnp.int32)
                for kind, key in m.order:
                    if kind == "let" and not all(n in static for n in key):
                        m._eval_let_group(key, env)
                return {n: env.values[n] for n in s.lets if n in env.values and n not in static}

            try:
                out = dict(jax.eval_shape(lets))
            except Exception:
                out = {}
            for p in s.params:
                if p in m.param_shapes and p not in self.concrete:
                    dt = jnp.int32 if p in m.plans else m.dtype
                    out[p] = jax.ShapeDtypeStruct(tuple(m.param_shapes[p]), dt)
            self._abstract = out
        return self._abstract

    def let_target_dims(self, name: str) -> Optional[tuple]:
        """The leading dims of an element-wise let, from its targets (as `_eval_let_group` sizes it)."""
        locs = self.s.lets[name]
        if not all(loc.stmt.target.indices for loc in locs):
            return None
        rank = len(locs[0].stmt.target.indices)
        try:
            ixs = [self.m.target_indices(loc.stmt.target, loc.loops, self.env) for loc in locs]
        except AuguryCheckError:
            raise  # a negative target index: the lowering would refuse it too
        except Exception:
            return None
        if any(len(ix) != rank for ix in ixs):
            return None
        return tuple(int(max([ix[d].max() for ix in ixs if ix[d].size] or [-1])) + 1 for d in range(rank))

    def shape_of(self, obj, loops, need: int) -> Optional[tuple]:
        """The shape of `obj` at one iteration of `loops` (the same at every iteration), or None;
        `need` is how many leading dims the caller reads."""
        if isinstance(obj, ast.Name):
            n = obj.id
            if n in self.concrete:
                return tuple(np.shape(self.concrete[n]))
            if n in self.m.param_shapes:
                return tuple(self.m.param_shapes[n])
            if n in self.s.lets:
                dims = self.let_target_dims(n)
                if dims is not None and need <= len(dims):
                    return dims  # no abstract evaluation needed (and none can fail on `s[t - 1]`)
            v = self.abstract_values().get(n)
            return None if v is None else tuple(v.shape)
        avals = self.abstract_values()
        lv = {lp.var: jax.ShapeDtypeStruct((), jnp.int32) for lp in loops}

        def f(vals, lvs):
            return evaluate(obj, Env({**self.concrete, **vals, **lvs}, self.m.base.operators, frozenset(lvs)))

        try:
            return tuple(jax.eval_shape(f, avals, lv).shape)
        except Exception:
            return None

    # ------------------------------------------------------------ values
    def computable(self, e, loops) -> bool:
        return reads(e) <= self.known | {lp.var for lp in loops}

    def values(self, e, loops):
        """(values, iteration) of `e`: values has one leading axis per iteration when `e` reads a
        loop variable (then `iteration` is the list of loop-variable arrays), else none; None when
        `e` cannot be evaluated here or is not an integer (the lowering reports those)."""
        names = [lp.var for lp in loops]
        used = reads(e) & set(names)
        try:
            if not used:
                v = np.asarray(evaluate(e, self.env))
                its = None
            else:
                its = self.iterations(loops)
                if its[0].size == 0:
                    return None
                args = [jnp.asarray(x, jnp.int32) for x in its]
                v = np.asarray(jax.vmap(lambda *xs: evaluate(e, self.env.child(**dict(zip(names, xs)))))(*args))
        except Exception:
            return None
        if v.dtype.kind not in "iu":
            return None
        return v, its

    def check_index(self, node: ast.Index, loops):
        if loops and not self.iterations(loops)[0].size:
            return  # the statement never runs
        items = []
        for k, item in enumerate(node.indices):
            if isinstance(item, ast.Slice):
                if item.step is None:
                    items += [(k, p, "slice start" if p is item.start else "slice end")
                              for p in (item.start, item.stop) if p is not None and self.computable(p, loops)]
            elif self.computable(item, loops):
                items.append((k, item, "index"))
        if not items:
            return
        shape = self.shape_of(node.obj, loops, max(k for k, _, _ in items) + 1)
        if shape is None:
            return
        for k, e, what in items:
            if k >= len(shape):
                return  # too many indices: the lowering reports it
            got = self.values(e, loops)
            if got is None:
                continue
            v, its = got
            size = int(shape[k])
            rows = v.reshape(1 if its is None else v.shape[0], -1)
            hi = size if what.startswith("slice") else size - 1
            bad = (rows < 0) | (rows > hi)
            if not bad.any():
                continue
            r = int(np.argmax(bad.any(axis=1)))
            value = int(rows[r][bad[r]][0])
            at = {}
            if its is not None:
                used = named_loop_vars(reads(e), loops)
                at = {lp.var: x[r] for lp, x in zip(loops, its) if lp.var in used}
            obj = unparse(node.obj)
            notes = [negative_note()] if value < 0 else \
                [_range_note(size, k) if what == "index" else f"a slice of axis {k} lies within 0 … {size}"]
            if at:
                spans = []
                for lp, x in zip(loops, its):
                    if lp.var in at:
                        spans.append(f"`{lp.var}` runs from {int(x.min())} to {int(x.max())}")
                notes.append("here " + " and ".join(spans))
            raise _err(self.s, f"{what} {value}{at_clause(at)} is out of range for axis {k} of `{obj}`, "
                               f"which has size {size}", e.span, notes)


def check_indices(m) -> None:
    """Refuse any index of the bound model `m` that would be out of range (see the module docstring)."""
    IndexChecker(m).run()
