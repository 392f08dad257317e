"""Building the AST (`dsl.ast`) from Lark's parse tree: one dataclass per node, each
with its span.  The tree is walked without recursion, so that deeply nested input cannot
exhaust Python's stack; long `+`/`-` and `*`/`/` chains are grouped as balanced trees, and
nesting past `MAX_NESTING` is refused.  What is wrong but parses (a right side of `~` that
is not a call, an integer out of range, a keyword argument given twice) raises `_AstError`,
which `parser.parse` reports as an `AugurySyntaxError`."""

from __future__ import annotations

import math
from typing import Optional

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError

from . import ast


class _Build(Transformer):
    """Lark tree -> AST.  Each method receives `meta` for the node's span."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _sp(self, meta) -> ast.Span:
        if getattr(meta, "empty", True):
            return ast.NO_SPAN
        return ast.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> ast.Span:
        return ast.Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # ------------------------------------------------------------ statements
    @v_args(meta=True)
    def start(self, meta, children):
        return tuple(c for c in children if c is not None and not isinstance(c, Token))

    @v_args(meta=True)
    def model_stmt(self, meta, c):
        return ast.ModelDecl(str(c[0]), self._sp(meta))

    @v_args(meta=True)
    def const_stmt(self, meta, c):
        name, typ, value = c
        return ast.ConstDecl(str(name), typ, value, self._sp(meta), self._tok(name))

    @v_args(meta=True)
    def data_stmt(self, meta, c):
        name, typ, miss = c
        has = miss is not None
        value = miss[0] if has else None
        return ast.DataDecl(str(name), typ, has, value, self._sp(meta), self._tok(name))

    @v_args(meta=True)
    def missing(self, meta, c):
        return (c[0],)

    @v_args(meta=True)
    def param_stmt(self, meta, c):
        name, typ = c
        return ast.ParamDecl(str(name), typ, self._sp(meta), self._tok(name))

    @v_args(meta=True)
    def let_stmt(self, meta, c):
        return ast.LetDecl(c[0], c[1], self._sp(meta))

    @v_args(meta=True)
    def op_stmt(self, meta, c):
        return ast.OpDecl(str(c[0]), c[1], self._sp(meta), self._tok(c[0]))

    @v_args(meta=True)
    def sample_stmt(self, meta, c):
        target, dist = c
        if not isinstance(dist, ast.Call):
            raise _AstError("the right side of `~` must be a distribution, such as `normal(0, 1)`",
                            dist.span if hasattr(dist, "span") else self._sp(meta))
        return ast.Sample(target, dist, self._sp(meta))

    @v_args(meta=True)
    def for_stmt(self, meta, c):
        var, a, b = c[0], c[1], c[2]
        body = tuple(x for x in c[3:] if x is not None and not isinstance(x, Token))
        start, stop = (None, a) if b is None else (a, b)
        return ast.For(str(var), start, stop, body, self._sp(meta), self._tok(var))

    @v_args(meta=True)
    def infer_stmt(self, meta, c):
        targets, method = c
        if not isinstance(method, ast.Call) or method.adjoint:
            raise _AstError("`infer ... by` takes a method call, such as `nuts(samples = 1000)`",
                            getattr(method, "span", self._sp(meta)))
        return ast.Infer(tuple(targets or ()), method, self._sp(meta))

    def infer_targets(self, c):
        return [str(t) for t in c]

    @v_args(meta=True)
    def target(self, meta, c):
        name = c[0]
        idx = tuple(x for x in c[1:] if x is not None)
        return ast.Target(str(name), idx, self._sp(meta))

    # ----------------------------------------------------------------- types
    @v_args(meta=True)
    def type(self, meta, c):
        name, targs, dims = c
        args, kwargs = targs if targs is not None else ((), ())
        return ast.TypeExpr(str(name), args, kwargs, tuple(dims or ()), self._sp(meta))

    def type_args(self, c):
        return self._split_args([x for x in c if x is not None])

    def type_dims(self, c):
        return list(c)

    # ------------------------------------------------------------- literals
    def lit_number(self, c):
        tok = c[0]
        text = str(tok)
        span = self._tok(tok)
        is_int = not any(ch in text for ch in ".eE")
        if is_int:
            digits = text.lstrip("-").lstrip("0")
            if len(digits) > len(str(MAX_INT)) or (digits and int(digits) > MAX_INT):
                raise _AstError(f"the integer {_show_number(text)} is too large",
                                _short(span, 24), f"integers range from -{MAX_INT} to {MAX_INT}, as in Stan; "
                                f"write a larger number as a real, such as `{_as_real(text)}`")
            return ast.Num(int(text), True, span)
        value = float(text)
        if math.isinf(value):
            raise _AstError(f"the number {_show_number(text)} is too large for a real", _short(span, 24),
                            "the largest real is about 1.8e308; write `inf` for infinity")
        return ast.Num(value, False, span)

    @v_args(meta=True)
    def lit_neg_inf(self, meta, c):
        return ast.Num(-math.inf, False, self._sp(meta))

    @v_args(meta=True)
    def lit_inf(self, meta, c):
        return ast.Num(math.inf, False, self._sp(meta))

    @v_args(meta=True)
    def lit_nan(self, meta, c):
        return ast.Num(math.nan, False, self._sp(meta))

    @v_args(meta=True)
    def lit_true(self, meta, c):
        return ast.Bool(True, self._sp(meta))

    @v_args(meta=True)
    def lit_false(self, meta, c):
        return ast.Bool(False, self._sp(meta))

    # ---------------------------------------------------------- expressions
    def number(self, c):
        return self.lit_number(c)

    def name(self, c):
        return ast.Name(str(c[0]), self._tok(c[0]))

    def string(self, c):
        raw = str(c[0])[1:-1]
        value = raw.encode("utf-8").decode("unicode_escape") if "\\" in raw else raw
        return ast.Str(value, self._tok(c[0]))

    true = lit_true
    false = lit_false
    inf = lit_inf
    nan = lit_nan

    @v_args(meta=True)
    def array(self, meta, c):
        return ast.ArrayLit(tuple(x for x in c if x is not None), self._sp(meta))

    def _bin(op):
        @v_args(meta=True)
        def f(self, meta, c):
            return ast.BinOp(op, c[0], c[1], self._sp(meta))
        return f

    add, sub, mul, div, matmul, pow = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("@"), _bin("**")
    eq, ne, lt, le, gt, ge = _bin("=="), _bin("!="), _bin("<"), _bin("<="), _bin(">"), _bin(">=")
    del _bin

    def chain(self, spine, terms):
        """A left-associative chain `t0 op1 t1 op2 t2 ...` (its Lark nodes innermost first).
        Short chains are built as written; long ones of `+`/`-` or `*`/`/` as a balanced
        tree of the same value (the operators are regrouped exactly: a - b - c = a - (b + c))."""
        ops = [_CHAINS[n.data][0] for n in spine]
        if len(terms) <= CHAIN_BALANCE or "@" in ops:
            acc = terms[0]
            for op, node, t in zip(ops, spine, terms[1:]):
                acc = ast.BinOp(op, acc, t, self._sp(node.meta))
            return acc
        ops = [None] + ops   # ops[i] joins terms[i] to what comes before it

        def group(lo, hi, flip):
            if lo == hi:
                return terms[lo]
            mid = (lo + hi + 1) // 2
            op = _INVERSE[ops[mid]] if flip else ops[mid]
            left = group(lo, mid - 1, flip)
            positive = op in ("+", "*")
            right = group(mid, hi, flip if positive else not flip)
            a, b = terms[lo].span, terms[hi].span
            return ast.BinOp(op, left, right, ast.Span(self.file, a.line, a.col, b.end_line, b.end_col))

        return group(0, len(terms) - 1, False)

    @v_args(meta=True)
    def neg(self, meta, c):
        # fold `-3` into a literal so that `missing -1` and `normal(-1, 1)` read naturally
        if isinstance(c[0], ast.Num):
            return ast.Num(-c[0].value, c[0].is_int, self._sp(meta))
        return ast.UnaryOp("-", c[0], self._sp(meta))

    @v_args(meta=True)
    def pos(self, meta, c):
        return c[0]

    @v_args(meta=True)
    def index(self, meta, c):
        return ast.Index(c[0], tuple(c[1:]), self._sp(meta))

    def index_expr(self, c):
        return c[0]

    @v_args(meta=True)
    def slice(self, meta, c):
        start, stop, step = (list(c) + [None, None, None])[:3]
        return ast.Slice(start, stop, step, self._sp(meta))

    @v_args(meta=True)
    def attr(self, meta, c):
        obj, name = c
        return _Attr(obj, str(name), self._sp(meta))

    @v_args(meta=True)
    def call(self, meta, c):
        callee = c[0]
        args, kwargs = self._split_args([x for x in c[1:] if x is not None])
        span = self._sp(meta)
        if isinstance(callee, ast.Name):
            return ast.Call(callee.id, args, kwargs, False, span, callee.span)
        if isinstance(callee, _Attr) and callee.attr == "T" and isinstance(callee.obj, ast.Name):
            return ast.Call(callee.obj.id, args, kwargs, True, span, callee.span)
        raise _AstError("only a name can be called: write `f(x)`, `A(x)` or the adjoint `A.T(y)`",
                        getattr(callee, "span", span))

    def pos_arg(self, c):
        return ("pos", c[0])

    def kw_arg(self, c):
        return ("kw", (str(c[0]), c[1]), self._tok(c[0]))

    def _split_args(self, items):
        args, kwargs, seen = [], [], set()
        for it in items:
            if it[0] == "pos":
                if kwargs:
                    raise _AstError("a positional argument cannot follow a keyword argument",
                                    getattr(it[1], "span", ast.NO_SPAN))
                args.append(it[1])
            else:
                key, value = it[1]
                if key in seen:
                    raise _AstError(f"keyword argument `{key}` is given twice", it[2])
                seen.add(key)
                kwargs.append((key, value))
        return tuple(args), tuple(kwargs)


class _Attr:
    """`obj.attr`: only legal as the callee of `A.T(y)`; never left in the AST."""

    def __init__(self, obj, attr, span):
        self.obj, self.attr, self.span = obj, attr, span


def _stray_attribute(stmts) -> "Optional[_AstError]":
    """`x.T` outside a call (`let y = x.T`): the only attribute is an operator's adjoint."""
    for stmt, _ in ast.walk_statements(stmts):
        exprs = [getattr(stmt, a, None) for a in ("value", "dist", "type", "start", "stop")]
        exprs += list(getattr(getattr(stmt, "target", None), "indices", ()))
        for node in (n for e in exprs for n in ast.walk_expr(e)):
            if isinstance(node, _Attr):
                return _AstError(f"`.{node.attr}` is only the adjoint of an operator, applied as `A.T(y)`",
                                 node.span, "for the transpose of a matrix, write `transpose(x)`")
    return None


class _AstError(Exception):
    def __init__(self, message, span, *notes):
        super().__init__(message)
        self.message, self.span, self.notes = message, span, [n for n in notes if n]


MAX_INT = 2 ** 31 - 1
"""The largest integer literal (Stan's int range); larger numbers are written as reals."""

MAX_NESTING = 100
"""How deeply brackets, calls, operators and loops may nest (LANGUAGE.md decisions)."""

CHAIN_BALANCE = 32
"""A chain of `+`/`-` (or `*`/`/`) with more terms than this is grouped as a balanced tree,
so that a 20 000-term sum is not 20 000 levels deep."""


def _show_number(text: str) -> str:
    if len(text) <= 24:
        return f"`{text}`"
    return f"`{text[:12]}…{text[-4:]}` ({len(text.lstrip('-'))} characters)"


def _as_real(text: str) -> str:
    digits = text.lstrip("-").lstrip("0") or "0"
    sign = "-" if text.startswith("-") else ""
    if len(digits) <= 20:
        return f"{sign}{digits}.0"
    return f"{sign}{digits[0]}.{digits[1:3]}e{len(digits) - 1}"


def _short(span: ast.Span, width: int = 1) -> ast.Span:
    """The first `width` characters of a span (a caret under where a long construct starts)."""
    if span is ast.NO_SPAN:
        return span
    end = span.end_col if span.end_line == span.line else span.col + width
    return ast.Span(span.file, span.line, span.col, span.line, min(end, span.col + max(width, 1)))


# ------------------------------------------------------- walking the tree

_CHAINS = {"add": ("+", "additive"), "sub": ("-", "additive"),
           "mul": ("*", "multiplicative"), "div": ("/", "multiplicative"), "matmul": ("@", "multiplicative")}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _transform(build: "_Build", root):
    """Lark tree -> AST without recursion (Lark's Transformer recurses once per level, so a
    5 000-deep expression would exhaust Python's stack).  A left-associative chain of `+`/`-`
    or `*`/`/` is gathered in one step and built by `_Build.chain`."""
    values: list = []
    todo: list = [("visit", root)]
    while todo:
        kind, item = todo.pop()
        if kind == "visit":
            if not isinstance(item, Tree):
                values.append(item)   # a token or a None placeholder
                continue
            if item.data in _CHAINS:
                spine = [item]
                group = _CHAINS[item.data][1]
                left = item.children[0]
                while isinstance(left, Tree) and left.data in _CHAINS and _CHAINS[left.data][1] == group:
                    spine.append(left)
                    left = left.children[0]
                spine.reverse()   # innermost first
                terms = [left] + [n.children[1] for n in spine]
                todo.append(("chain", spine))
                todo.extend(("visit", t) for t in reversed(terms))
                continue
            todo.append(("build", item))
            todo.extend(("visit", c) for c in reversed(item.children))
        elif kind == "build":
            n = len(item.children)
            children = values[len(values) - n:] if n else []
            del values[len(values) - n:]
            values.append(build._call_userfunc(item, children))
        else:   # a chain: its spine nodes, innermost first
            n = len(item) + 1
            terms = values[len(values) - n:]
            del values[len(values) - n:]
            try:
                values.append(build.chain(item, terms))
            except _AstError as e:
                raise VisitError(item[-1].data, item[-1], e) from None
    (result,) = values
    return result


def _expr_depth_error(stmts, file: str) -> Optional[_AstError]:
    """The first place (in source order) where expressions and loops nest more than
    `MAX_NESTING` levels deep, as an error; None when the program is within the limit."""
    todo = [(s, 0) for s in reversed(stmts)]
    while todo:
        node, depth = todo.pop()
        if node is None:
            continue
        if isinstance(node, ast.For):
            if depth + 1 > MAX_NESTING:
                return _nesting_error(node.span)
            kids = [node.start, node.stop] + list(node.body)
            todo.extend((k, depth + 1) for k in reversed(kids))
            continue
        if isinstance(node, (ast.ModelDecl,)):
            continue
        if isinstance(node, (ast.ConstDecl, ast.DataDecl, ast.ParamDecl, ast.LetDecl, ast.OpDecl, ast.Sample,
                             ast.Infer, ast.Target)):
            parts = {ast.ConstDecl: lambda x: [x.type, x.value], ast.DataDecl: lambda x: [x.type, x.missing],
                     ast.ParamDecl: lambda x: [x.type], ast.LetDecl: lambda x: [x.target, x.value],
                     ast.OpDecl: lambda x: [x.value], ast.Sample: lambda x: [x.target, x.dist],
                     ast.Infer: lambda x: [x.method], ast.Target: lambda x: list(x.indices)}[type(node)](node)
            todo.extend((k, depth) for k in reversed(parts))
            continue
        depth += 1
        if depth > MAX_NESTING:
            return _nesting_error(node.func_span if isinstance(node, ast.Call) and node.func_span.line
                                  else _short(node.span))
        todo.extend((k, depth) for k in reversed(ast._children(node)))
    return None


def _nesting_error(span: ast.Span) -> _AstError:
    return _AstError(f"the expression is nested too deeply (more than {MAX_NESTING} levels)", span,
                     f"brackets, calls, operators and loops may nest at most {MAX_NESTING} levels deep; "
                     f"name inner parts with `let` to flatten it")
