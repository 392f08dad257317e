"""Binding consts and data to a collected model: the step before lowering.

Consts are evaluated (with run-time overrides), data is validated against
its declarations (shapes, dtypes, supports, NaN, size names), sizes are
bound, operators are built and every unknown's shape becomes concrete.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from augury.dsl import ast
from augury.errors import AuguryCheckError, did_you_mean
from augury.dsl.signatures import TYPES
from augury.dsl.unparse import unparse
from augury.runtime.data import DataSpec, validate_data
from augury.compiler.evaluate import Env, EvalError, evaluate
from augury.runtime.operators import Operator, python

from .analysis import reads
from .lower import LoweredModel
from .structure import Structure


# the largest variable a model may declare, in bytes (float64)
MEMORY_BUDGET = int(float(os.environ.get("AUGURY_MEMORY_BUDGET", "4")) * 2 ** 30)


@dataclass
class BoundData:
    """A model with consts, data, sizes and operators bound, not lowered (the diffusion methods)."""

    s: Structure
    env: Env
    param_shapes: dict
    dtype: Any
    observed: dict
    compiled_runs: dict = field(default_factory=dict)


def _err(s, msg, span, notes=(), cls=AuguryCheckError):
    return cls(msg, span, list(notes), source=s.source)


def _eval(s: Structure, e, env: Env, what: str):
    try:
        return evaluate(e, env)
    except EvalError as ex:
        raise _err(s, ex.message, ex.span, ex.notes) from None
    except (TypeError, ValueError) as ex:
        raise _err(s, f"cannot compute {what}", getattr(e, "span", ast.NO_SPAN), [str(ex)]) from None


def evaluate_consts(s: Structure, overrides: Optional[dict] = None) -> dict[str, Any]:
    """Values of every `const`, in dependency order; overrides replace them."""
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in s.consts:
            note = did_you_mean(name, s.consts)
            raise AuguryCheckError(f"`{name}` is not a `const` of this model, so it cannot be set",
                                   notes=[note] if note else [f"its consts are: {', '.join(s.consts) or 'none'}"])
    g = nx.DiGraph()
    for n, d in s.consts.items():
        g.add_node(n)
        for r in reads(d.value):
            if r in s.consts:
                g.add_edge(r, n)
    try:
        order = list(nx.topological_sort(g))
    except nx.NetworkXUnfeasible:
        cyc = nx.find_cycle(g)
        raise _err(s, f"const `{cyc[0][1]}` depends on itself", s.consts[cyc[0][1]].span) from None
    env = Env({})
    for n in order:
        if n in overrides:
            v = overrides[n]
            v = np.asarray(v) if not isinstance(v, (int, float, bool)) else v
        else:
            v = _eval(s, s.consts[n].value, env, f"const `{n}`")
            if isinstance(v, jax.Array):
                v = np.asarray(v)
        env.values[n] = v
    return env.values


def _event_dims(t: ast.TypeExpr) -> tuple:
    sig = TYPES.get(t.base)
    if sig is None or not t.args:
        return ()
    k = t.args[0]
    return (k,) * sig.event_rank if t.base not in ("category",) else ()


def _dim_value(s, e, env: Env):
    """An int, a size name to bind, or None when it needs sizes not yet bound."""
    if isinstance(e, ast.Name) and e.id in s.sizes and e.id not in env.values:
        return e.id
    # A shape may also use a `data` integer (`data T : int`, `data y : real[T]`): wait for
    # a later pass of `bind` instead of failing while that integer is not validated yet.
    if any(isinstance(x, ast.Name) and (x.id in s.sizes or x.id in s.data) and x.id not in env.values
           for x in ast.walk_expr(e)):
        return None
    v = _eval(s, e, env, "a size")
    try:
        return int(np.asarray(v))
    except (TypeError, ValueError):
        raise _err(s, "a size must be an integer known when data is bound", e.span) from None


def _bound(s, t: ast.TypeExpr, key: str, env: Env):
    e = t.kwarg(key)
    if e is None:
        return None
    try:
        return float(np.asarray(evaluate(e, env)))
    except Exception:
        return None


def _spec(s: Structure, d: ast.DataDecl, env: Env) -> Optional[DataSpec]:
    dims = [_dim_value(s, e, env) for e in d.type.dims]
    ev = [_dim_value(s, e, env) for e in _event_dims(d.type)]
    if any(x is None for x in dims + ev):
        return None
    ncat = _dim_value(s, d.type.args[0], env) if d.type.base == "category" else None
    missing = None
    if d.has_missing:
        missing = math.nan if d.missing is None else _eval(s, d.missing, env, "the missing marker")
    return DataSpec(d.name, d.type.base, tuple(dims), tuple(ev), _bound(s, d.type, "lower", env),
                    _bound(s, d.type, "upper", env), ncat, missing, d.has_missing, d.span)


def _memory_guard(s: Structure, name: str, shape: tuple, span) -> None:
    """Refuse a variable larger than the memory budget before anything is allocated."""
    n = int(np.prod([int(d) for d in shape], dtype=object)) if shape else 1
    if n * 8 > MEMORY_BUDGET:
        raise _err(s, f"`{name}` would have shape {tuple(int(d) for d in shape)} ({n:.3g} elements, "
                      f"{n * 8 / 2 ** 30:.3g} GiB in float64), over the memory budget of "
                      f"{MEMORY_BUDGET / 2 ** 30:.3g} GiB", span,
                   ["check the sizes it is declared with; set AUGURY_MEMORY_BUDGET (GiB) to raise the budget"])


def check_python_allowed(s: Structure, allow_python: bool) -> None:
    """A model file runs Python only through paths its user allowed: refuse the first one."""
    imports = s.python_imports()
    if imports and not allow_python:
        kind, path, span = imports[0]
        others = f" (and {len(imports) - 1} more)" if len(imports) > 1 else ""
        raise _err(s, f"this model imports Python code `{path}`{others}, which runs only when you allow it", span,
                   ["if you trust the model file, run it with `--allow-python` (CLI) or "
                    "`augury.compile(..., allow_python=True)`"])


def bind(s: Structure, data: dict, consts: Optional[dict] = None, precision: str = "float32",
         bound: Optional[dict] = None, simulate: bool = False, allow_python: bool = False,
         with_prior: bool = False, inverse: bool = False, given_params: Optional[set] = None):
    """Validate `data` and build the `LoweredModel`; returns it with the warnings.

    With `simulate`, data on the left of `~` may be absent (its shape then comes from the
    sizes) and the result is the `PriorProgram`, which draws it from the likelihood.  With
    `with_prior`, the result also carries `prior_program`, the params' prior draws given the
    data (what particle methods start from).  With `simulate` and `given_params` (names),
    the result is the `PredictiveProgram`: the data drawn given those params' values.  Call it
    inside `precision_scope(precision)` for float64."""
    if precision not in ("float32", "float64"):
        raise AuguryCheckError(f"unknown precision `{precision}`", notes=["use \"float32\" or \"float64\""])
    check_python_allowed(s, allow_python)
    simulated = {loc.stmt.target.name for loc in s.samples if loc.stmt.target.name in s.data} if simulate else set()
    dtype = jnp.float64 if precision == "float64" else jnp.float32
    cvals = evaluate_consts(s, consts)
    env = Env(dict(cvals))
    arrays: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    warnings: list[str] = []
    pending = list(s.data.values())
    first = True
    while pending:
        specs, rest = [], []
        for d in pending:
            sp = _spec(s, d, env)
            (specs if sp is not None else rest).append(sp if sp is not None else d)
        specs = [replace(sp, optional=True) if sp.name in simulated else sp for sp in specs]
        if not specs:
            d = rest[0]
            raise _err(s, f"the shape of `{d.name}` cannot be computed from the data", d.type.span)
        given = {k: v for k, v in data.items() if k in {sp.name for sp in specs} or k in s.sizes or
                 (first and k not in s.data)}
        got, sz, warn = validate_data(specs, given, sizes=dict(sizes), source=s.source, precision=precision)
        warnings.extend(w for w in warn if w not in warnings)
        first = False
        arrays.update(got)
        sizes.update(sz)
        env.values.update(sizes)
        env.values.update({k: v for k, v in got.items() if np.ndim(v) == 0})
        pending = rest
    observed: dict[str, np.ndarray] = {}
    for name, d in s.data.items():
        if d.has_missing and name in arrays:
            x = np.asarray(arrays[name])
            marker = math.nan if d.missing is None else np.asarray(_eval(s, d.missing, env, "the missing marker"))
            observed[name] = ~np.isnan(x) if (isinstance(marker, float) and math.isnan(marker)) or \
                (np.ndim(marker) == 0 and np.isnan(np.asarray(marker, float))) else x != marker
    for n in s.sizes:
        if n not in sizes:
            raise _err(s, f"size `{n}` is not bound by any data", s.sizes[n],
                       [f"give it with the data (`{n}=50`, or `data={{\"{n}\": 50}}`)" if simulate else
                        f"use `{n}` in the shape of a `data` declaration, or make it a `const`"])
    env.values.update(sizes)
    param_shapes = {}
    for name, d in s.params.items():
        event = tuple(_dim_value(s, e, env) for e in _event_dims(d.type))
        if any(k < 1 for k in event):
            raise _err(s, f"`{name}` is declared {unparse(d.type)} with size {event[0]}: a `{d.type.base}` needs at "
                          "least one component", d.type.span)
        dims = tuple(_dim_value(s, e, env) for e in d.type.dims) + event
        _memory_guard(s, name, dims, d.span)
        param_shapes[name] = dims
    for name, d in s.data.items():
        if name in arrays:
            param_shapes[name] = tuple(np.shape(arrays[name]))
        else:  # simulated, not given
            dims = tuple(_dim_value(s, e, env) for e in d.type.dims) + \
                tuple(_dim_value(s, e, env) for e in _event_dims(d.type))
            _memory_guard(s, name, dims, d.span)
            param_shapes[name] = dims
    operators = {}
    # names bound from Python (`bind={...}`): arrays in the model's precision, functions as given
    bound_values = {k: (v if callable(v) else jnp.asarray(v, dtype) if np.issubdtype(np.asarray(v).dtype, np.floating)
                        else jnp.asarray(v))
                    for k, v in (bound or {}).items() if k not in s.data and k not in s.consts}
    op_env = Env(bound_values | dict(env.values) | {k: jnp.asarray(v) for k, v in arrays.items()}, operators)
    g = nx.DiGraph()
    for n, d in s.ops.items():
        g.add_node(n)
        for r in reads(d.value) | ast.called_names(d.value):
            if r in s.ops:
                g.add_edge(r, n)
    for n in nx.topological_sort(g):
        value = _eval(s, s.ops[n].value, op_env, f"operator `{n}`")
        if not isinstance(value, Operator):
            value = python(value) if callable(value) else value
        if not isinstance(value, Operator):
            raise _err(s, f"`op {n}` is not an operator", s.ops[n].value.span,
                       ["an operator is `blur(...)`, `mask(...)`, `python(\"pkg.module:fn\")` or a function bound "
                        "from Python with `bind=`"])
        operators[n] = value
    jdata = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        jdata[k] = jnp.asarray(a, dtype) if np.issubdtype(a.dtype, np.floating) else jnp.asarray(a)
    # ints stay Python ints so loop bounds and shapes remain static under jit
    scalars = {k: int(np.asarray(v)) for k, v in arrays.items()
               if np.ndim(v) == 0 and np.issubdtype(np.asarray(v).dtype, np.integer)}
    jdata.update(scalars)
    jdata.update({k: v for k, v in bound_values.items() if k not in s.ops})
    if simulate:
        from .prior import PriorProgram
        given = {k: v for k, v in jdata.items() if k not in simulated}
        kept = {k: v for k, v in jdata.items() if k in simulated}  # their uncovered elements are kept
        if given_params is not None:
            from .predictive import PredictiveProgram
            return PredictiveProgram(s, cvals, given, sizes, operators, param_shapes, dtype, simulated,
                                     set(given_params), kept), warnings
        return PriorProgram(s, cvals, given, sizes, operators, param_shapes, dtype, simulated, kept), warnings
    if inverse:
        return BoundData(s, Env({**cvals, **sizes, **jdata}, dict(operators)), param_shapes, dtype, observed), warnings
    lowered = LoweredModel(s, cvals, jdata, sizes, observed, operators, param_shapes, dtype)
    from .problem import improper_priors
    if with_prior and not improper_priors(s):  # particle methods start from prior draws given this data
        from .prior import PriorProgram
        lowered.prior_program = PriorProgram(s, cvals, jdata, sizes, operators, param_shapes, dtype, set(), None)
    return lowered, warnings
