"""Loops of a bound model: their ranges, the iterations of a nest, and evaluation over them.

Independent iterations are vectorized with `vmap`, one axis per loop.  A ragged
nest, whose inner bounds read an outer loop variable (`for j in range(i + 1)`),
is listed iteration by iteration once data is bound (in the nested loops'
row-major order) and vmapped once over that flat list.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from augury.dsl import ast
from augury.errors import AuguryCheckError
from augury.dsl.unparse import unparse
from augury.compiler.evaluate import Env, EvalError, evaluate

from .analysis import reads
from .index_check import named_loop_vars, at_clause, check_indices, negative_note
from .lowering_errors import concrete_int as _concrete_int, lowering_error as _err


class LoopEvaluation:
    """Loop methods of `LoweredModel` (which provides `s`, the collected model)."""

    def _check_indices(self):
        """Every index checked against its axis at every iteration (compiler/index_check.py)."""
        check_indices(self)

    def loop_range(self, lp: ast.For, env: Env) -> tuple[int, int]:
        try:
            with jax.ensure_compile_time_eval():  # concrete even while the model is traced
                a = 0 if lp.start is None else evaluate(lp.start, env)
                b = evaluate(lp.stop, env)
        except EvalError as e:
            raise _err(self.s, e.message, e.span, e.notes) from None
        a = _concrete_int(a, "the bounds of a loop", lp.span, self.s)
        b = _concrete_int(b, "the bounds of a loop", lp.span, self.s)
        return a, b

    @staticmethod
    def is_ragged(loops) -> bool:
        """Whether some loop's bounds read an enclosing loop's variable (a triangular nest)."""
        outer: set[str] = set()
        for lp in loops:
            if (reads(lp.start) | reads(lp.stop)) & outer:
                return True
            outer.add(lp.var)
        return False

    def loop_axes(self, loops) -> int:
        """Leading axes of `over_loops`' result: one per loop, or one flat axis for a ragged nest."""
        return 1 if self.is_ragged(loops) else len(loops)

    def iterations(self, loops, env: Env) -> list[np.ndarray]:
        """Concrete loop-variable values of every iteration of a nest, flat and row-major
        (the order nested loops run in); inner bounds may read outer variables."""
        values: list[np.ndarray] = []
        count = 1
        for lp in loops:
            e = env.child(**{v.var: x for v, x in zip(loops, values)})
            try:
                with jax.ensure_compile_time_eval():  # `range(n[i])` inside a trace: n[i] stays concrete
                    a = 0 if lp.start is None else evaluate(lp.start, e)
                    b = evaluate(lp.stop, e)
                a = np.broadcast_to(np.asarray(a, np.int64), (count,))
                b = np.broadcast_to(np.asarray(b, np.int64), (count,))
            except EvalError as ex:
                raise _err(self.s, ex.message, ex.span, ex.notes) from None
            except (TypeError, ValueError):
                raise _err(self.s, "the bounds of a loop must be integers known when data is bound",
                           lp.span) from None
            n = np.maximum(b - a, 0)
            values = [np.repeat(x, n) for x in values]
            starts = np.repeat(a - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
            values.append(starts + np.arange(int(n.sum())))
            count = int(n.sum())
        return values

    def over_loops(self, loops, env: Env, fn: Callable):
        """`fn` evaluated at every iteration of `loops` (nested vmap); the result
        has one leading axis per loop, or None if a loop is empty.  A ragged nest
        (`for j in range(i)`) is vmapped once over its flat list of iterations."""
        if loops and self.is_ragged(loops):
            its = self.iterations(loops, env)
            if its[0].size == 0:
                return None
            names = [lp.var for lp in loops]
            return jax.vmap(lambda *v: fn(env.child(**dict(zip(names, v)))))(
                *[jnp.asarray(x, jnp.int32) for x in its])
        if not loops:
            return fn(env)
        lp = loops[0]
        a, b = self.loop_range(lp, env)
        if b <= a:
            return None
        idx = jnp.arange(a, b, dtype=jnp.int32)
        return jax.vmap(lambda i: self.over_loops(loops[1:], env.child(**{lp.var: i}), fn))(idx)

    def loop_grid(self, loops, env: Env) -> list[np.ndarray]:
        """Concrete values of the loop variables on the iteration grid ('ij'),
        or flat for a ragged nest (matching `over_loops`)."""
        if loops and self.is_ragged(loops):
            return self.iterations(loops, env)
        ranges = []
        e = env
        for lp in loops:
            a, b = self.loop_range(lp, e)
            ranges.append(np.arange(a, b))
            e = e.child(**{lp.var: a})
        return list(np.meshgrid(*ranges, indexing="ij")) if ranges else []

    def target_indices(self, target: ast.Target, loops, env: Env) -> tuple[np.ndarray, ...]:
        """The element each iteration of `loops` writes: one integer array per index of the
        target, shaped like the iteration grid.  Each index must be one integer per iteration
        (`y[i, perm[i]]`); indexing is orthogonal, so an index reading two loop variables
        (`y[pos[i, j]]`) is evaluated iteration by iteration."""
        grid = self.loop_grid(loops, env)
        shape = grid[0].shape if grid else ()
        genv = env.child(**{lp.var: g for lp, g in zip(loops, grid)})
        first = env.child(**{lp.var: int(g.reshape(-1)[0]) for lp, g in zip(loops, grid)}) \
            if grid and grid[0].size else None
        not_computable = "an element-wise index on the left side must be computable from loop variables, " \
                         "consts and data"
        out = []
        for i in target.indices:
            try:
                with jax.ensure_compile_time_eval():  # `let s[idx[n]] = ...` is indexed inside a trace
                    if first is not None and np.ndim(np.asarray(evaluate(i, first))) != 0:
                        raise _err(self.s, "an index on the left side must be one integer per iteration", i.span,
                                   [f"`{unparse(i)}` is an array; write the loop over its entries instead"])
                    v = np.asarray(evaluate(i, genv))
                    if v.shape != shape and v.ndim != 0:
                        # orthogonal indexing made an outer product: evaluate point by point
                        flat = [g.reshape(-1) for g in grid]
                        v = np.array([np.asarray(evaluate(i, env.child(**{lp.var: int(f[k]) for lp, f in
                                                                          zip(loops, flat)})))
                                      for k in range(flat[0].size)]).reshape(shape)
                out.append(np.broadcast_to(v, shape).astype(np.int64))
            except AuguryCheckError:
                raise
            except Exception:
                raise _err(self.s, not_computable, i.span) from None
            neg = out[-1] < 0
            if neg.any():  # would wrap (LANGUAGE.md §4); too-large indices are checked against the shape
                k = int(np.argmax(neg.reshape(-1)))
                used = named_loop_vars(reads(i), loops)
                at = {lp.var: g.reshape(-1)[k] for lp, g in zip(loops, grid) if lp.var in used}
                raise _err(self.s, f"index {int(out[-1].reshape(-1)[k])}{at_clause(at)} of `{target.name}` "
                                   "is negative", i.span, [negative_note()])
        return tuple(out)

