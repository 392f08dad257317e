"""Constant indices (pass 5 of `check`): an index that folds to a constant must not be
negative, nor past the end of an axis of known size; indices never wrap around.  The pass
also infers every let's shape, so that provable shape errors in an unread let are reported."""

from __future__ import annotations

import numpy as np

from . import ast
from .check import Checker, Scope, _fmt_number, _let_name_span, constant, numeric


def check_indices(ck: Checker):
    """Constant indices into arrays of a known size: negative or out-of-range ones are errors
    (indices never wrap around: LANGUAGE.md §4).  Every let's shape is inferred too, so that
    a let no distribution reads still has its provable shape errors reported."""
    for s, loops in ast.walk_statements(ck.program.statements):
        scope = Scope(loops)
        exprs = []
        if isinstance(s, ast.LetDecl):
            sym = ck.symbols.get(s.target.name)
            if sym is not None and not sym.quiet:
                ck.expr_shape(s.value, scope)
            exprs = [s.value] + list(s.target.indices)
            _target_indices(ck, s.target, scope)
        elif isinstance(s, ast.Sample):
            exprs = [s.dist] + list(s.target.indices)
            _target_indices(ck, s.target, scope)
        elif isinstance(s, (ast.ConstDecl, ast.OpDecl)):
            exprs = [s.value]
        elif isinstance(s, ast.For):
            exprs = [s.start, s.stop]
        elif isinstance(s, (ast.DataDecl, ast.ParamDecl)):
            exprs = [v for _, v in s.type.kwargs]
        for e in exprs:
            for n in ast.walk_expr(e):
                if isinstance(n, ast.Index):
                    shape = ck.expr_shape(n.obj, scope)
                    _indices(ck, n.obj, n.indices, shape, scope)


def _target_indices(ck: Checker, t: ast.Target, scope: Scope):
    sym = ck.symbols.get(t.name)
    if not t.indices or sym is None or sym.quiet or sym.kind not in ("data", "param"):
        return
    _indices(ck, ast.Name(t.name, _let_name_span(t)), t.indices, ck.name_shape(t.name), scope)


def _indices(ck: Checker, obj, indices, shape, scope: Scope):
    name = ck.text(obj)
    for k, i in enumerate(indices):
        if isinstance(i, ast.Slice) or (shape is not None and k >= len(shape)):
            continue
        if any(isinstance(n, ast.Name) and n.id in scope.vars for n in ast.walk_expr(i)):
            continue
        raw = constant(ck, i)
        if isinstance(raw, (bool, np.bool_)) or getattr(raw, "dtype", None) == bool:
            continue
        arr = numeric(raw)
        if arr is None or arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            continue
        d = shape[k] if shape is not None else None
        declared = ""
        sym = ck.symbols.get(obj.id) if isinstance(obj, ast.Name) else None
        if sym is not None and sym.type is not None:
            declared = f" (`{obj.id}` is declared {ck.type_text(sym.type)})"
        size = f", which has size {d}" if isinstance(d, int) else ""
        valid = (f"its indices are 0 to {d - 1}" if d > 0 else "the axis is empty") if isinstance(d, int) else ""
        if arr.min() < 0:
            v = _fmt_number(int(arr.min()))
            ck.error(f"index {v} is out of range for axis {k} of `{name}`{size}", i.span,
                     "indices start at 0 and never wrap around" + (f"; {valid}" if valid else "") + declared)
        elif isinstance(d, int) and arr.max() >= d:
            v = _fmt_number(int(arr.max()))
            ck.error(f"index {v} is out of range for axis {k} of `{name}`{size}", i.span, valid + declared)
