"""The warnings pass of `check` (pass 8): data declared but never used, a size name that
is declared nowhere and looks like a misspelt one, and a model that declares nothing.
(Warnings about a `~` rule, such as an improper flat prior, come from check_rules.py.)"""

from __future__ import annotations

from . import ast
from .check import Checker, suggest


def check_warnings(ck: Checker):
    _check_empty(ck)
    for sym in ck.symbols.values():
        if sym.kind == "data" and sym.name not in ck.used:
            ck.warn(f"data `{sym.name}` is declared but never used", sym.span,
                    "remove it, or use it in the model")
    sizes = [s.name for s in ck.symbols.values() if s.kind in ("const", "size") or (
        s.kind == "data" and s.type is not None and s.type.base == "int" and not s.type.dims)]
    for sym in ck.symbols.values():
        if sym.kind == "size" and ck.reads.get(sym.name, 0) == 1:
            hint = suggest(sym.name, [s for s in sizes if s != sym.name])
            if hint:
                ck.warn(f"`{sym.name}` is declared nowhere, so it is a new size", sym.span,
                        f"it is bound from the shape of the data; {hint}")


def _check_empty(ck: Checker):
    """A file that declares nothing is well formed, but almost surely not what was meant."""
    kinds = (ast.ConstDecl, ast.DataDecl, ast.ParamDecl, ast.LetDecl, ast.OpDecl, ast.Sample)
    if any(isinstance(s, kinds) for s, _ in ast.walk_statements(ck.program.statements)):
        return
    named = next((s for s in ck.program.statements if isinstance(s, ast.ModelDecl)), None)
    span = named.span if named is not None else ast.Span(ck.file, 0, 0, 0, 0)
    ck.warn("the model declares nothing", span,
            "declare its data, params and their distributions, e.g. `param mu : real` and `mu ~ normal(0, 1)`")
