"""AST back to model text, for messages, graph labels and docs."""

from __future__ import annotations

import math

from . import ast

_PREC = {"==": 1, "!=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "+": 2, "-": 2, "*": 3, "/": 3, "@": 3, "**": 5}


def _num(v: ast.Num) -> str:
    if isinstance(v.value, float) and math.isnan(v.value):
        return "nan"
    if isinstance(v.value, float) and math.isinf(v.value):
        return "inf" if v.value > 0 else "-inf"
    return str(int(v.value)) if v.is_int else repr(float(v.value))


def unparse(e, prec: int = 0) -> str:
    """Model text for an expression, type or target."""
    if e is None:
        return ""
    if isinstance(e, ast.Num):
        return _num(e)
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Str):
        return '"' + e.value.replace('"', '\\"') + '"'
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Slice):
        s = f"{unparse(e.start)}:{unparse(e.stop)}"
        return s + (f":{unparse(e.step)}" if e.step is not None else "")
    if isinstance(e, ast.Index):
        return f"{unparse(e.obj, 9)}[{', '.join(unparse(i) for i in e.indices)}]"
    if isinstance(e, ast.ArrayLit):
        return "[" + ", ".join(unparse(i) for i in e.items) + "]"
    if isinstance(e, ast.UnaryOp):
        s = f"{e.op}{unparse(e.operand, 4)}"
        return f"({s})" if prec > 4 else s
    if isinstance(e, ast.BinOp):
        p = _PREC[e.op]
        right_assoc = e.op == "**"
        left = unparse(e.left, p + (1 if right_assoc else 0))
        right = unparse(e.right, p if right_assoc else p + 1)
        s = f"{left} {e.op} {right}"
        return f"({s})" if p < prec else s
    if isinstance(e, ast.Call):
        parts = [unparse(a) for a in e.args] + [f"{k} = {unparse(v)}" for k, v in e.kwargs]
        return f"{e.func}{'.T' if e.adjoint else ''}({', '.join(parts)})"
    if isinstance(e, ast.TypeExpr):
        s = e.base
        parts = [unparse(a) for a in e.args] + [f"{k} = {unparse(v)}" for k, v in e.kwargs]
        if parts:
            s += f"({', '.join(parts)})"
        if e.dims:
            s += f"[{', '.join(unparse(d) for d in e.dims)}]"
        return s
    if isinstance(e, ast.Target):
        return e.name + (f"[{', '.join(unparse(i) for i in e.indices)}]" if e.indices else "")
    return str(e)
