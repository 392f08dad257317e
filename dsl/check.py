"""Checking a parsed model: names, declarations, types, `~` rules, supports,
shapes, loops, `infer` and dependency cycles.

`check(program, consts)` collects every error it can find, and raises one
`AuguryCheckError` that carries all of them (sorted by position), or returns
the warnings.  The rules are those of LANGUAGE.md; messages follow stanc3:
what is wrong in the user's words, at the most precise span, with a note
that suggests the fix.

This module holds the `Checker` (the symbol table, reporting, constant
folding and shapes that every pass reads), pass 1 and the driver; each
later pass is a module of its own.  Passes, in order:
  1. symbols      declarations, duplicates, size names, loop variables
  2. types        type names, sizes, bounds, `missing` markers, consts (check_types.py)
  3. names        every name read and every call (check_calls.py)
  4. samples      `~` rules, distributions, supports, shapes (check_rules.py)
  5. indices      constant indices out of range (check_indices.py)
  6. infer        methods, settings, targets (check_infer.py)
  7. cycles       values computed from themselves (check_cycles.py)
  8. warnings     unused data, misspelt size names, an empty model (check_warnings.py)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import ast, syntax_hints
from augury.errors import AuguryCheckError, Diagnostic, did_you_mean
from .operator_shapes import operator_shape
from .signatures import DISTRIBUTIONS, FUNCTIONS, OPERATORS, TYPES
from .unparse import unparse
from .types import (UNEVALUATED, NotConstant, Shape, ShapeInfer, as_int, const_eval,
                    value_shape)

def suggest(name: str, candidates) -> "str | None":
    """`did you mean `x`?` for a name differing only in case, or the nearest candidate."""
    cands = sorted(set(candidates))
    for c in cands:
        if c.lower() == name.lower() and c != name:
            return f"did you mean `{c}`?"
    return did_you_mean(name, cands)


KIND_WORDS = {"const": "const", "data": "data", "param": "param", "let": "let", "op": "operator",
              "size": "size"}
KIND_ARTICLE = {"const": "a const", "data": "data", "param": "a param", "let": "a let", "op": "an operator",
                "size": "a size", "loop": "a loop variable"}


@dataclass
class Symbol:
    name: str
    kind: str                      # const, data, param, let, op, size
    span: ast.Span                 # where the name is declared (first use for a size)
    stmt: object = None
    type: Optional[ast.TypeExpr] = None
    elementwise: bool = False      # a `let x[i] = ...`
    pieces: list = field(default_factory=list)   # LetDecl statements (with their loops)
    in_loop: bool = False
    quiet: bool = False            # already reported as malformed: no follow-on errors about it


@dataclass
class Scope:
    """Loop variables in scope, innermost last."""

    loops: tuple = ()

    @property
    def vars(self) -> dict:
        return {f.var: f for f in self.loops}

    def push(self, f: ast.For) -> "Scope":
        return Scope(self.loops + (f,))


class Checker:
    def __init__(self, program: ast.Program, consts: Optional[dict], bound: Optional[dict] = None):
        self.program = program
        # names bound from Python at compile time (`bind={...}`): name -> shape of an array, or
        # None (a function, a network, an operator); usable wherever a value of that kind may be
        self.bound: dict[str, Shape] = dict(bound or {})
        self.source = program.source
        self.file = program.file
        self.overrides = dict(consts or {})
        self.symbols: dict[str, Symbol] = {}
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.used: set[str] = set()
        self.reads: dict[str, int] = {}   # how often each declared or size name is read
        self.loops: list[ast.For] = []
        self._const_cache: dict[str, object] = {}
        self._const_busy: set[str] = set()
        self._let_shape_cache: dict[str, Shape] = {}
        self._shape_error_spans: set = set()
        self.shapes = ShapeInfer(self)

    # ------------------------------------------------------------ reporting
    def error(self, message: str, span: ast.Span = ast.NO_SPAN, *notes: Optional[str]):
        self.errors.append(Diagnostic("error", message, span, tuple(n for n in notes if n), self.source))

    def warn(self, message: str, span: ast.Span = ast.NO_SPAN, *notes: Optional[str]):
        self.warnings.append(Diagnostic("warning", message, span, tuple(n for n in notes if n), self.source))

    @property
    def lines(self) -> list[str]:
        """The source's lines, split once (messages read them per node)."""
        if getattr(self, "_lines", None) is None:
            self._lines = self.source.splitlines()
        return self._lines

    def text(self, node) -> str:
        """The source text of a node (falls back to a canonical rendering)."""
        sp = getattr(node, "span", ast.NO_SPAN)
        lines = self.lines
        if sp is not ast.NO_SPAN and sp.line == sp.end_line and 0 < sp.line <= len(lines):
            return lines[sp.line - 1][sp.col - 1: sp.end_col - 1]
        return unparse(node) if not isinstance(node, ast.TypeExpr) else node.base

    def kw_span(self, key: str, value) -> ast.Span:
        """The span of `key` in `key = value` (the parser keeps only the value's)."""
        sp = value.span
        lines = self.lines
        if 0 < sp.line <= len(lines):
            m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*$", lines[sp.line - 1][: sp.col - 1])
            if m and m.group(1) == key:
                return ast.Span(sp.file, sp.line, m.start(1) + 1, sp.line, m.end(1) + 1)
        return sp

    def word_span(self, span: ast.Span, word: str, skip: int = 0) -> ast.Span:
        """The span of the first `word` on the first line of `span` (after `skip` columns), or `span`."""
        lines = self.lines
        if 0 < span.line <= len(lines):
            line = lines[span.line - 1]
            m = re.search(rf"\b{re.escape(word)}\b", line[span.col - 1 + skip:])
            if m:
                col = span.col + skip + m.start()
                return ast.Span(span.file, span.line, col, span.line, col + len(word))
        return span

    def where(self, span: ast.Span) -> str:
        return f"{span.file}:{span.line}:{span.col}"

    # ------------------------------------------------------------- lookups
    def names_for_suggestion(self, scope: Optional[Scope] = None) -> set[str]:
        names = set(self.symbols)
        if scope is not None:
            names |= set(scope.vars)
        return names

    def type_text(self, ty: ast.TypeExpr) -> str:
        return self.text(ty)

    # ------------------------------------------------------------ constants
    def const_value(self, name: str):
        """A const's value (after overrides); UNEVALUATED where not folded."""
        if name in self._const_cache:
            return self._const_cache[name]
        if name in self.overrides:
            v = self.overrides[name]
            v = np.asarray(v) if isinstance(v, (list, tuple, np.ndarray)) else v
            self._const_cache[name] = v
            return v
        if name in self._const_busy:
            return UNEVALUATED
        sym = self.symbols[name]
        self._const_busy.add(name)
        try:
            v = const_eval(sym.stmt.value, self._const_lookup)
        except NotConstant:
            v = UNEVALUATED
        finally:
            self._const_busy.discard(name)
        self._const_cache[name] = v
        return v

    def _const_lookup(self, node: ast.Name):
        sym = self.symbols.get(node.id)
        if sym is None or sym.kind != "const":
            raise NotConstant(node)
        return self.const_value(node.id)

    def int_of(self, e) -> Optional[int]:
        """The value of a constant integer expression, or None."""
        try:
            return as_int(const_eval(e, self._const_lookup))
        except NotConstant:
            return None

    def dim_of(self, e):
        """A size expression as a dim: int, symbol or None."""
        try:
            v = const_eval(e, self._const_lookup)
            i = as_int(v)
            if i is not None:
                return i if i >= 0 else None   # a negative size is reported by the size check
            return None if v is not UNEVALUATED else unparse(e)
        except NotConstant:
            return e.id if isinstance(e, ast.Name) else unparse(e)

    # --------------------------------------------------------------- shapes
    def type_shape(self, ty: Optional[ast.TypeExpr]) -> Shape:
        if ty is None or ty.base not in TYPES:
            return None
        batch = tuple(self.dim_of(d) for d in ty.dims)
        ev = TYPES[ty.base].event_rank
        if ev == 0:
            return batch
        if len(ty.args) != 1:
            return batch + (None,) * ev
        d = self.dim_of(ty.args[0])
        return batch + (d,) * ev

    def name_shape(self, name: str) -> Shape:
        if any(f.var == name for f in self.loops):
            return ()
        sym = self.symbols.get(name)
        if sym is None:
            return self.bound.get(name)
        if sym.kind == "size":
            return ()
        if sym.kind in ("data", "param"):
            return self.type_shape(sym.type)
        if sym.kind == "const":
            if sym.type is not None:
                return self.type_shape(sym.type)
            return value_shape(self.const_value(name))
        if sym.kind == "let" and not sym.elementwise:
            if name not in self._let_shape_cache:
                self._let_shape_cache[name] = None   # guards against cycles
                saved, self.loops = self.loops, []
                self._let_shape_cache[name] = self.shapes.shape(sym.stmt.value)
                self.loops = saved
            return self._let_shape_cache[name]
        return None

    def shape_error(self, message: str, span: ast.Span, notes):
        key = (span.line, span.col, span.end_line, span.end_col)
        if key not in self._shape_error_spans:
            self._shape_error_spans.add(key)
            self.error(message, span, *notes)

    def expr_shape(self, e, scope: Scope) -> Shape:
        saved, self.loops = self.loops, list(scope.loops)
        try:
            return self.shapes.shape(e)
        finally:
            self.loops = saved

    def op_shape(self, call: ast.Call, arg_shapes: list):
        """Shape of an operator application, or False when `call` is not one."""
        sym = self.symbols.get(call.func)
        if sym is None or sym.kind != "op":
            return False
        if len(arg_shapes) != 1 or arg_shapes[0] is None:
            return None

        def definition(e):  # an operator named inside `compose(A, B)` stands for its `op` statement
            s = self.symbols.get(e.id) if isinstance(e, ast.Name) else None
            return s.stmt.value if s is not None and s.kind == "op" else e

        return operator_shape(sym.stmt.value, call.adjoint, arg_shapes[0], int_of=self.int_of,
                              shape_of=lambda e: self.expr_shape(e, Scope()), definition=definition)


# =============================================== folded values (every pass)


def constant(ck: Checker, e):
    """The value of `e` when the checker can fold it (literals and consts), else UNEVALUATED."""
    if e is None:
        return UNEVALUATED
    try:
        return const_eval(e, ck._const_lookup)
    except NotConstant:
        return UNEVALUATED


def numeric(v) -> "np.ndarray | None":
    """A folded value as a float array, or None when it is not numbers."""
    if v is UNEVALUATED or isinstance(v, str):
        return None
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr


def _fmt_number(v) -> str:
    """A folded value as the user would write it: `-3`, `2.5`, `inf`, `true`, `"text"`."""
    if isinstance(v, str):
        return f'the string "{v}"'
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if np.ndim(v) != 0:
        return f"an array of shape {tuple(np.shape(v))}"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, int):
        if abs(v) < 10 ** 15:
            return str(v)
        try:
            return f"{float(v):.3g}"
        except OverflowError:
            return f"an integer of {len(str(abs(v))) if abs(v) < 10 ** 4000 else 'over 4000'} digits"
    f = float(v)
    if np.isnan(f):
        return "nan"
    if np.isinf(f):
        return "inf" if f > 0 else "-inf"
    return repr(f)


# ======================================================================= pass 1


def _let_name_span(t: ast.Target) -> ast.Span:
    sp = t.span
    return ast.Span(sp.file, sp.line, sp.col, sp.line, sp.col + len(t.name))


def collect_symbols(ck: Checker):
    models = []
    for stmt, loops in ast.walk_statements(ck.program.statements):
        in_loop = bool(loops)
        if isinstance(stmt, ast.ModelDecl):
            models.append(stmt)
            if len(models) == 2:
                ck.error("the model is named twice", stmt.span,
                         f"it was first named `{models[0].name}` at {ck.where(models[0].span)}")
        if in_loop and isinstance(stmt, (ast.ModelDecl, ast.ConstDecl, ast.DataDecl, ast.ParamDecl,
                                         ast.OpDecl, ast.Infer)):
            word = {ast.ModelDecl: "model", ast.ConstDecl: "const", ast.DataDecl: "data",
                    ast.ParamDecl: "param", ast.OpDecl: "op", ast.Infer: "infer"}[type(stmt)]
            hint = None
            if isinstance(stmt, (ast.DataDecl, ast.ParamDecl)):
                hint = (f"declare `{stmt.name}` at the top level with an array type (`{word} {stmt.name} : "
                        f"{stmt.type.base}[N]`), and give its element-wise `~` inside the loop")
            ck.error(f"`{word}` cannot be inside a `for` loop", ck.word_span(stmt.span, word),
                     hint or "move it to the top level; only `~`, `let` and `for` may be inside a loop")
        if isinstance(stmt, ast.ConstDecl):
            _declare(ck, Symbol(stmt.name, "const", stmt.name_span, stmt, stmt.type, in_loop=in_loop))
        elif isinstance(stmt, ast.DataDecl):
            _declare(ck, Symbol(stmt.name, "data", stmt.name_span, stmt, stmt.type, in_loop=in_loop))
        elif isinstance(stmt, ast.ParamDecl):
            _declare(ck, Symbol(stmt.name, "param", stmt.name_span, stmt, stmt.type, in_loop=in_loop,
                                quiet=in_loop))
        elif isinstance(stmt, ast.OpDecl):
            if stmt.name in FUNCTIONS or stmt.name in OPERATORS or stmt.name in DISTRIBUTIONS:
                what = ("function" if stmt.name in FUNCTIONS else
                        "operator" if stmt.name in OPERATORS else "distribution")
                ck.error(f"`{stmt.name}` is the name of a built-in {what}", stmt.name_span,
                         f"choose another name for the operator, such as `{stmt.name.upper()[:1]}`"
                         if stmt.name.upper()[:1] != stmt.name else "choose another name for the operator")
            _declare(ck, Symbol(stmt.name, "op", stmt.name_span, stmt, in_loop=in_loop))
        elif isinstance(stmt, ast.LetDecl):
            sym = Symbol(stmt.target.name, "let", _let_name_span(stmt.target), stmt,
                         elementwise=bool(stmt.target.indices), pieces=[(stmt, loops)], in_loop=in_loop)
            _declare(ck, sym)
    _collect_sizes(ck)
    _check_loop_vars(ck, ck.program.statements, Scope())


KEYWORDS = frozenset(syntax_hints.KEYWORDS)


def _declare(ck: Checker, sym: Symbol):
    if sym.name in KEYWORDS:
        ck.error(f"`{sym.name}` is a keyword; it cannot be a name", sym.span,
                 f"choose another name, such as `{sym.name}_`")
        sym.quiet = True
    old = ck.symbols.get(sym.name)
    if old is None:
        ck.symbols[sym.name] = sym
        return
    if old.kind == "let" and sym.kind == "let" and old.elementwise and sym.elementwise:
        old.pieces.extend(sym.pieces)
        return
    first = f"`{sym.name}` was first declared at {ck.where(old.span)}"
    if old.kind == "let" and sym.kind == "let":
        if old.elementwise != sym.elementwise:
            ck.error(f"`{sym.name}` is defined both as a whole and element-wise", sym.span, first,
                     "define it either as a whole (`let x = ...`) or element by element (`let x[i] = ...`)")
        else:
            ck.error(f"`{sym.name}` is defined twice", sym.span, first)
    elif old.kind == sym.kind:
        ck.error(f"`{sym.name}` is declared twice", sym.span, first)
    else:
        ck.error(f"`{sym.name}` is declared as {KIND_ARTICLE[sym.kind]} here, but it is already "
                 f"{KIND_ARTICLE[old.kind]}", sym.span, first)


def _collect_sizes(ck: Checker):
    """Names in types' sizes that are declared nowhere are size names."""
    for sym in list(ck.symbols.values()):
        ty = sym.type
        if ty is None:
            continue
        for e in list(ty.dims) + list(ty.args):
            for n in ast.walk_expr(e):
                if isinstance(n, ast.Name) and n.id not in ck.symbols:
                    ck.symbols[n.id] = Symbol(n.id, "size", n.span, stmt=sym)


def _check_loop_vars(ck: Checker, stmts, scope: Scope):
    for s in stmts:
        if not isinstance(s, ast.For):
            continue
        if s.var in KEYWORDS:
            ck.error(f"`{s.var}` is a keyword; it cannot be a loop variable", s.var_span,
                     f"choose another name, such as `{_fresh_var(ck, s.var)}`")
        elif s.var in scope.vars:
            outer = scope.vars[s.var]
            ck.error(f"loop variable `{s.var}` is already the variable of an enclosing loop", s.var_span,
                     f"the enclosing loop is at {ck.where(outer.span)}; give this loop another variable")
        elif s.var in ck.symbols:
            sym = ck.symbols[s.var]
            ck.error(f"loop variable `{s.var}` shadows the {KIND_WORDS[sym.kind]} `{s.var}`", s.var_span,
                     f"`{s.var}` is declared at {ck.where(sym.span)}; give the loop another variable, "
                     f"such as `{_fresh_var(ck, s.var)}`")
        _check_loop_vars(ck, s.body, scope.push(s))


def _fresh_var(ck: Checker, base: str) -> str:
    for cand in ("i", "j", "k", "n", "t", "m", "c", "d"):
        if cand not in ck.symbols and cand != base:
            return cand
    return base + "_"


# ==================================================================== driver


def check(program: ast.Program, consts: Optional[dict] = None, bound: Optional[dict] = None) -> list[Diagnostic]:
    """Validate a parsed model.  Returns the warnings; raises `AuguryCheckError`
    carrying every error (as `diagnostics`) when there is at least one.  `bound` names the
    values bound from Python (name -> array shape, or None for a function or network)."""
    # imported here, not at the top: the pass modules import Checker from this module
    from . import check_calls, check_cycles, check_indices, check_infer, check_rules, check_types, check_warnings

    ck = Checker(program, consts, bound)
    collect_symbols(ck)
    check_types.check_types(ck)
    check_calls.check_names(ck)
    check_rules.check_samples(ck)
    check_indices.check_indices(ck)
    check_infer.check_infer(ck)
    check_cycles.check_cycles(ck)
    check_warnings.check_warnings(ck)
    if ck.errors:
        diags = _sorted(ck.errors)
        first = diags[0]
        raise AuguryCheckError(first.message, first.span, first.notes, source=program.source, diagnostics=diags)
    return _sorted(ck.warnings)


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.message, d.span.line, d.span.col)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(out, key=lambda d: (d.span.line, d.span.col))
