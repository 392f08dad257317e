"""Evaluating expressions of the AST on jax.numpy.

This is the lowered program's interpreter (in the compiler: it reads the AST; the
runtime below it only sees arrays, distributions and operators): it runs once, while JAX traces,
so under `jit` the compiled computation is the same as a hand-written one.

Indexing is orthogonal, as in Stan's multi-indexing: each index item acts on
its own axis (`x[i, j]` with integer arrays i, j is the outer product), a
scalar index drops its axis, a slice keeps it.  Slices whose bounds move with
a loop variable (`y[t - K:t]`) become dynamic slices of a fixed length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from augury.dsl import ast
from augury.dsl.signatures import DISTRIBUTIONS
from augury.dsl.unparse import unparse

from augury.runtime import distributions as dists
from augury.runtime import operators as ops
from augury.runtime.functions import FUNCTIONS, call_function


class EvalError(Exception):
    """An expression could not be evaluated; carries the span of the culprit."""

    def __init__(self, message: str, span: ast.Span, notes=()):
        super().__init__(message)
        self.message, self.span, self.notes = message, span, tuple(notes)


@dataclass
class Env:
    """Values in scope: consts, data, sizes, params, lets, loop variables, operators."""

    values: dict[str, Any]
    operators: dict[str, ops.Operator] = field(default_factory=dict)
    loop_vars: frozenset = frozenset()

    def child(self, **bind) -> "Env":
        return Env({**self.values, **bind}, self.operators, self.loop_vars | frozenset(bind))


def _concrete(x) -> bool:
    try:
        np.asarray(x)
        return not isinstance(x, jax.core.Tracer)
    except Exception:
        return False


def _int_index(v, span):
    v = jnp.asarray(v) if not isinstance(v, (int, np.integer)) else v
    if hasattr(v, "dtype") and not (jnp.issubdtype(v.dtype, jnp.integer) or v.dtype == jnp.bool_):
        raise EvalError("an index must be an integer", span)
    return v


def evaluate(e, env: Env):
    """The value of expression `e` in `env`."""
    if isinstance(e, ast.LITERALS):
        return ast.literal_value(e)
    if isinstance(e, ast.Name):
        if e.id in env.values:
            return env.values[e.id]
        if e.id in env.operators:
            return env.operators[e.id]
        raise EvalError(f"`{e.id}` has no value here", e.span)
    if isinstance(e, ast.BinOp):
        return _binop(e, evaluate(e.left, env), evaluate(e.right, env))
    if isinstance(e, ast.UnaryOp):
        v = evaluate(e.operand, env)
        return -v if e.op == "-" else v
    if isinstance(e, ast.ArrayLit):
        items = [jnp.asarray(evaluate(i, env)) for i in e.items]
        try:
            return jnp.stack(jnp.broadcast_arrays(*items))
        except (TypeError, ValueError) as ex:
            raise EvalError(f"the items of this array do not have one shape ({ex})", e.span) from None
    if isinstance(e, ast.Index):
        return _index(e, env)
    if isinstance(e, ast.Call):
        return _call(e, env)
    raise EvalError(f"cannot evaluate {type(e).__name__}", getattr(e, "span", ast.NO_SPAN))


def _binop(e: ast.BinOp, a, b):
    try:
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if e.op == "/":
            return jnp.true_divide(a, b)
        if e.op == "**":
            return jnp.power(a, b) if not (isinstance(a, int) and isinstance(b, int)) else a ** b
        if e.op == "@":
            return jnp.matmul(a, b)
        cmp = {"==": jnp.equal, "!=": jnp.not_equal, "<": jnp.less, "<=": jnp.less_equal,
               ">": jnp.greater, ">=": jnp.greater_equal}[e.op]
        return cmp(a, b)
    except (TypeError, ValueError) as ex:
        sa, sb = jnp.shape(a), jnp.shape(b)
        raise EvalError(f"the operands of `{e.op}` do not fit: shapes {sa} and {sb}", e.span,
                        [str(ex).splitlines()[0]]) from None


def _static_length(sl: ast.Slice, env: Env):
    """Length of a slice whose bounds move with loop variables: `stop - start`
    with every loop variable set to 0, then to 1; both must agree."""
    if sl.start is None or sl.stop is None or sl.step is not None:
        raise EvalError("a slice whose bounds depend on a loop variable needs both bounds and no step", sl.span)
    lengths = []
    for v in (0, 1):
        sub = Env({**env.values, **{k: v for k in env.loop_vars}}, env.operators, frozenset())
        n = evaluate(ast.BinOp("-", sl.stop, sl.start, sl.span), sub)
        if not _concrete(n):
            raise EvalError("the length of this slice must be known before sampling", sl.span)
        lengths.append(int(np.asarray(n)))
    if lengths[0] != lengths[1]:
        raise EvalError("the length of this slice changes with the loop variable", sl.span)
    return lengths[0]


def _out_of_range(what: str, value: int, pos: int, e: ast.Index, n: int, part, env: Env) -> EvalError:
    """`index 5 (at t = 4) is out of range for axis 0 of `y`, which has size 5`; `pos` is the
    item's position in `e`, which is the axis of `e.obj` it indexes; the loop variables that
    `part` reads are named where their values are known (a scalar, not a tracer)."""
    at = []
    for v in sorted(env.loop_vars & ast.free_names(part)):
        x = env.values.get(v)
        if _concrete(x) and np.ndim(x) == 0 and np.issubdtype(np.asarray(x).dtype, np.integer):
            at.append(f"{v} = {int(np.asarray(x))}")
    where = f" (at {', '.join(at)})" if at else ""
    if value < 0:
        note = "indices are 0-based and never wrap: a negative index does not count from the end"
    elif what == "index":
        note = f"the valid indices of axis {pos} are 0 … {n - 1}" if n else f"axis {pos} is empty"
    else:
        note = f"a slice of axis {pos} lies within 0 … {n}"
    return EvalError(f"{what} {value}{where} is out of range for axis {pos} of `{unparse(e.obj)}`, "
                     f"which has size {n}", part.span, [note])


def _index(e: ast.Index, env: Env):
    x = evaluate(e.obj, env)
    x = jnp.asarray(x)
    axis = 0
    if len([i for i in e.indices]) > x.ndim:
        raise EvalError(f"too many indices: the value has {x.ndim} dimension(s) but {len(e.indices)} are given",
                        e.span, [f"its shape is {tuple(x.shape)}"])
    for pos, item in enumerate(e.indices):
        if isinstance(item, ast.Slice):
            parts = [evaluate(p, env) if p is not None else None for p in (item.start, item.stop, item.step)]
            if all(p is None or _concrete(p) for p in parts):
                s = slice(*[None if p is None else int(np.asarray(p)) for p in parts])
                n = x.shape[axis]
                if s.step is None or s.step > 0:
                    for b, part, what in ((s.start, item.start, "slice start"), (s.stop, item.stop, "slice end")):
                        if b is not None and not 0 <= b <= n:
                            raise _out_of_range(what, b, pos, e, n, part, env)
                x = x[(slice(None),) * axis + (s,)]
            else:
                n = _static_length(item, env)
                x = jax.lax.dynamic_slice_in_dim(x, jnp.asarray(parts[0], jnp.int32), n, axis=axis)
            axis += 1
        else:
            idx = _int_index(evaluate(item, env), item.span)
            if _concrete(idx):
                a = np.asarray(idx)
                n = x.shape[axis]
                if a.size and a.dtype != np.bool_ and (a.max() >= n or a.min() < 0):
                    # negative indices are errors, never wrapped (LANGUAGE.md §4)
                    raise _out_of_range("index", int(a.min() if a.min() < 0 else a.max()), pos, e, n, item, env)
            x = x[(slice(None),) * axis + (idx,)]
            axis += jnp.ndim(idx)
    return x


def _call(e: ast.Call, env: Env):
    name = e.func
    if name in env.operators or (name in env.values and isinstance(env.values[name], ops.Operator)):
        op = env.operators.get(name) or env.values[name]
        if len(e.args) != 1 or e.kwargs:
            raise EvalError(f"operator `{name}` takes one argument", e.span)
        x = evaluate(e.args[0], env)
        try:
            return op.adjoint(x) if e.adjoint else op(x)
        except (TypeError, ValueError) as ex:
            raise EvalError(f"cannot apply `{name}{'.T' if e.adjoint else ''}`: {ex}", e.span) from None
    if name in ("stack", "concat") and e.args and isinstance(e.args[0], ast.ArrayLit):
        # a list of arrays, as NumPy takes it: the items need not share one shape
        args = [[evaluate(i, env) for i in e.args[0].items]] + [evaluate(a, env) for a in e.args[1:]]
    else:
        args = [evaluate(a, env) for a in e.args]
    kwargs = {k: evaluate(v, env) for k, v in e.kwargs}
    bound = env.values.get(name)
    if callable(bound) and not isinstance(bound, ops.Operator):
        # a function in scope: bound from Python (`bind=`), or the compiler's own (`__draw`)
        return bound(*args, **kwargs)
    try:
        if name in FUNCTIONS:
            return call_function(name, args, kwargs)
        if name in ops.OPERATOR_HELPERS:
            return ops.OPERATOR_HELPERS[name](*args, **kwargs)
        if name in ops.OPERATOR_CONSTRUCTORS:
            return ops.OPERATOR_CONSTRUCTORS[name](*args, **kwargs)
        if name in DISTRIBUTIONS:
            params = DISTRIBUTIONS[name].params
            if len(args) > len(params):
                raise EvalError(f"`{name}` takes at most {len(params)} positional argument(s)", e.span)
            return dists.make_distribution(name, {**dict(zip(params, args)), **kwargs})
        if name in ("vp", "ve", "edm", "torch", "jax"):
            return (name, tuple(args), tuple(sorted(kwargs.items())))
    except EvalError:
        raise
    except (TypeError, ValueError, ImportError, AttributeError, ArithmeticError) as ex:
        msg = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise EvalError(f"cannot evaluate `{name}(…)`: {msg}", e.span) from None
    raise EvalError(f"unknown function `{name}`", e.func_span if e.func_span.line else e.span)


def evaluate_distribution(call: ast.Call, env: Env):
    """The distribution object of the right side of `~`."""
    return _call(call, env)


def bind_values(values: Mapping[str, Any]) -> Env:
    return Env(dict(values))
