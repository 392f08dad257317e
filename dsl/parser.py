"""Parsing model text into the AST (`dsl.ast`), with a span on every node.

Syntax errors become `AugurySyntaxError` with file:line:col, the line and a
caret, and the expected tokens in words a user knows.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from pathlib import Path
from typing import Optional, Union

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast, syntax_hints
from augury.errors import AuguryError, AugurySyntaxError

_KEYWORDS = frozenset(syntax_hints.KEYWORDS)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "augury.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True)


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


# ------------------------------------------------------------------ building

_CHAINS = {"add": ("+", "additive"), "sub": ("-", "additive"),
           "mul": ("*", "multiplicative"), "div": ("/", "multiplicative"), "matmul": ("@", "multiplicative")}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _transform(build: "_Build", root):
    """Lark tree -> AST without recursion (Lark's Transformer recurses once per level, so a
    5 000-deep expression would exhaust Python's stack).  A left-associative chain of `+`/`-`
    or `*`/`/` is gathered in one step and built by `_chain`."""
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


_TOKEN_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "SIGNED_NUMBER_LIT": "a number", "STRING": "a string",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "COMMA": "`,`", "COLON": "`:`", "SEMICOLON": "`;`", "EQUAL": "`=`", "TILDE": "`~`", "DOT": "`.`",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "AT": "`@`", "__ANON_0": "`**`",
    "$END": "end of file",
}


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME" and str(tok) in _KEYWORDS:
        return f"keyword `{tok}`"
    return f"`{tok}`"


_EXPRESSION_START = {"FALSE", "INF", "LPAR", "LSQB", "MINUS", "NAME", "NAN", "NUMBER", "PLUS", "STRING", "TRUE",
                     "SIGNED_NUMBER_LIT"}


def _expected_words(expected) -> list[str]:
    if {"NAME", "NUMBER"} <= set(expected) <= _EXPRESSION_START:
        return ["an expression"]
    words = set()
    for e in expected:
        if e.isupper() and e.startswith(("MODEL", "CONST", "DATA", "PARAM", "LET", "OP", "FOR", "IN", "RANGE", "INFER",
                                          "BY", "MISSING", "TRUE", "FALSE", "INF", "NAN")) and e not in _TOKEN_WORDS:
            words.add(f"`{e.lower()}`")
        else:
            words.add(_TOKEN_WORDS.get(e, e.lower() if not e.startswith("__") else e))
    return sorted(w for w in words if not w.startswith("__"))


def _syntax_hint(err: UnexpectedInput, source: str) -> list[str]:
    notes = []
    if isinstance(err, UnexpectedToken):
        exp = set(err.expected)
        if "TILDE" in exp and "EQUAL" not in exp and str(err.token) == "=":
            notes.append("a distribution is attached with `~`, not `=`; `=` is for `let`, `const` and `op`")
        elif str(err.token) == "=" and "EQUAL" not in exp:
            notes.append("use `let NAME = ...` for a deterministic quantity, or `NAME ~ dist(...)` for a distribution")
        elif str(err.token) == "~" and "TILDE" not in exp:
            notes.append("`~` starts a statement of its own: `NAME ~ dist(...)`")
    return notes


def _bracket_span(file: str, b: syntax_hints.Bracket) -> ast.Span:
    return ast.Span(file, b.line, b.col, b.line, b.col + 1)


def _structural_error(source: str, file: str, stop: int, at_end: bool) -> Optional[AugurySyntaxError]:
    """A clearer error than the parser's for a keyword used as a name or a bracket
    left open / closed wrongly, found by scanning the text up to the failure."""
    kw = syntax_hints.keyword_as_name(source, stop)
    if kw is not None:
        word, off = kw
        line = source.count("\n", 0, off) + 1
        col = off - (source.rfind("\n", 0, off) + 1) + 1
        return AugurySyntaxError(f"`{word}` is a keyword; it cannot be a name",
                                 ast.Span(file, line, col, line, col + len(word)),
                                 [f"choose another name, such as `{word}_`"], source=source)
    bad = syntax_hints.bracket_problem(source, None if at_end else stop + 1)
    if bad is None:
        return None
    closer = syntax_hints.OPENERS.get(bad.at.char, "")
    if bad.kind == "unclosed":
        return AugurySyntaxError(f"`{bad.at.char}` is never closed", _bracket_span(file, bad.at),
                                 [f"the file ends before its `{closer}`"], source=source)
    if bad.kind == "stray":
        return AugurySyntaxError(f"`{bad.at.char}` closes nothing", _bracket_span(file, bad.at),
                                 [f"there is no `{syntax_hints.CLOSERS[bad.at.char]}` open here; remove it"],
                                 source=source)
    want = syntax_hints.OPENERS[bad.other.char]
    return AugurySyntaxError(f"`{bad.at.char}` does not match the `{bad.other.char}` at "
                             f"{bad.other.line}:{bad.other.col}", _bracket_span(file, bad.at),
                             [f"close the `{bad.other.char}` with `{want}` first"], source=source)


def parse(source: str, file: str = "<string>") -> ast.Program:
    """Parse model text; raises `AugurySyntaxError` with a formatted diagnostic."""
    if isinstance(source, (bytes, bytearray)):
        source = decode_model_text(bytes(source), file)
    _check_text(source, file)
    try:
        tree = _lark().parse(source)
    except UnexpectedCharacters as e:
        better = _structural_error(source, file, e.pos_in_stream, at_end=False)
        if better is not None:
            raise better from None
        span = ast.Span(file, e.line, e.column, e.line, e.column + 1)
        ch = source[e.pos_in_stream] if 0 <= e.pos_in_stream < len(source) else "?"
        shown = f"`{ch}`" if ch.isprintable() else \
            f"U+{ord(ch):04X} ({unicodedata.name(ch, 'a control character').lower()})"
        raise AugurySyntaxError(f"unexpected character {shown}", span, source=source) from None
    except UnexpectedEOF as e:
        better = _structural_error(source, file, len(source), at_end=True)
        if better is not None:
            raise better from None
        lines = source.splitlines() or [""]
        span = ast.Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        exp = _expected_words(e.expected)
        raise AugurySyntaxError("unexpected end of file", span,
                                [f"expected {', '.join(exp)}"] if exp else [], source=source) from None
    except UnexpectedToken as e:
        tok = e.token
        at_end = tok.type == "$END"
        better = _structural_error(source, file, len(source) if at_end else tok.start_pos, at_end)
        if better is not None:
            raise better from None
        if at_end:
            lines = source.splitlines() or [""]
            span = ast.Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        else:
            span = ast.Span(file, tok.line, tok.column, tok.end_line or tok.line,
                            tok.end_column or tok.column + len(str(tok)))
        exp = _expected_words(e.expected)
        notes = _syntax_hint(e, source)
        if exp and len(exp) <= 8:
            notes = [f"expected {', '.join(exp)}"] + notes
        if not at_end:
            inner = syntax_hints.open_bracket_at(source, tok.start_pos)
            if inner is not None and inner.char in "([" and "COMMA" in e.expected and tok.line == inner.line:
                notes.append(f"a `,` may be missing before it (inside the `{inner.char}` at {inner.line}:{inner.col})")
            elif inner is not None and inner.char in "([" and tok.line > inner.line:
                notes.append(f"the `{inner.char}` at {inner.line}:{inner.col} is still open")
        raise AugurySyntaxError(f"unexpected {_describe_token(tok)}", span, notes, source=source) from None
    try:
        stmts = _transform(_Build(file), tree)
    except VisitError as e:
        inner = e.orig_exc
        if isinstance(inner, _AstError):
            raise AugurySyntaxError(inner.message, inner.span, inner.notes, source=source) from None
        raise
    deep = _expr_depth_error(stmts, file)
    if deep is not None:
        raise AugurySyntaxError(deep.message, deep.span, deep.notes, source=source)
    return ast.Program(stmts, file, source)


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _check_text(source: str, file: str):
    """Text no model can hold: a NUL character (a binary file read as text)."""
    nul = source.find("\x00")
    if nul >= 0:
        line, col = _position(source, nul)
        raise AugurySyntaxError("the text contains a NUL character", ast.Span(file, line, col, line, col + 1),
                                ["a model file is UTF-8 text; this looks like a binary file"],
                                source=source.replace("\x00", "\N{SYMBOL FOR NULL}"))


_BOM = b"\xef\xbb\xbf"


def decode_model_text(data: bytes, file: str = "<bytes>") -> str:
    """Model text from bytes: UTF-8 (a leading byte-order mark is dropped).  Bytes that are
    not UTF-8 raise `AugurySyntaxError` at the line and column of the first bad byte."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        pos = e.start
        line = data.count(b"\n", 0, pos) + 1
        start = data.rfind(b"\n", 0, pos) + 1
        col = len(data[start:pos].decode("utf-8")) + 1
        shown = data.decode("utf-8", errors="replace")
        binary = b"\x00" in data[:4096]
        notes = [f"the byte is 0x{data[pos]:02x}"
                 + ("; this looks like a binary file, not a model" if binary else
                    "; the file may be Latin-1 or another encoding: save it as UTF-8")]
        raise AugurySyntaxError("the file is not UTF-8 text", ast.Span(file, line, col, line, col + 1), notes,
                                source=shown) from None


def read_model_file(path: Union[str, Path]) -> str:
    """The text of a model file, read as bytes and decoded as UTF-8.  A file that cannot be
    read raises `AuguryError`; one that is not UTF-8 text raises `AugurySyntaxError` at the
    line and column of the first bad byte."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise AuguryError(f"no model file `{p}`") from None
    except IsADirectoryError:
        raise AuguryError(f"`{p}` is a directory, not a model file") from None
    except OSError as e:
        raise AuguryError(f"cannot read the model file `{p}`: {e.strerror or e}") from None
    return decode_model_text(data, str(p))


def parse_file(path: Union[str, Path]) -> ast.Program:
    p = Path(path)
    return parse(read_model_file(p), str(p))
