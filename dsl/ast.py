"""The abstract syntax tree of an Augury model file.

Every node is a frozen dataclass that carries the `Span` of the text it came
from, so that every later stage can report errors at file:line:col.  Spans do
not take part in equality, so two trees parsed from differently laid out text
compare equal when they mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from augury.errors import NO_SPAN, Span  # noqa: F401  (spans live in the leaf module)




def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Num:
    """A numeric literal; `is_int` is true for `3`, false for `3.0`, `1e-3`, `inf`, `nan`."""

    value: float
    is_int: bool
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Slice:
    """`start:stop:step` inside an index; each part may be None."""

    start: Optional["Expr"]
    stop: Optional["Expr"]
    step: Optional["Expr"]
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    """`obj[i, j:k, ...]`."""

    obj: "Expr"
    indices: tuple["Expr | Slice", ...]
    span: Span = _span()


@dataclass(frozen=True)
class ArrayLit:
    """`[a, b, c]`: stacks its items along a new leading axis."""

    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class BinOp:
    """Arithmetic `+ - * / ** @` and comparisons `== != < <= > >=`."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class UnaryOp:
    op: str  # "-" or "+"
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """`func(args, key = value)`; also operator application `A(x)` and, with
    `adjoint=True`, the adjoint `A.T(y)`.  `func` is a name looked up in the
    signature tables (distributions, functions, operators, methods) or a name
    declared by `op`."""

    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[tuple[str, "Expr"], ...]
    adjoint: bool = False
    span: Span = _span()
    func_span: Span = _span()

    def kwarg(self, key: str) -> Optional["Expr"]:
        for k, v in self.kwargs:
            if k == key:
                return v
        return None


Expr = Union[Num, Bool, Str, Name, Index, ArrayLit, BinOp, UnaryOp, Call]


# ---------------------------------------------------------------------- types


@dataclass(frozen=True)
class TypeExpr:
    """`base(args, key = value)[dims]`, e.g. `real(lower = 0)[N, D]`,
    `simplex(K)[M]`, `category(K)`.  `dims` is the batch shape; the event
    shape follows from `base` and `args` (simplex(K) has event shape (K,))."""

    base: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    dims: tuple[Expr, ...]
    span: Span = _span()

    def kwarg(self, key: str) -> Optional[Expr]:
        for k, v in self.kwargs:
            if k == key:
                return v
        return None


# ----------------------------------------------------------------- statements


@dataclass(frozen=True)
class Target:
    """The left side of `~` or of an element-wise `let`: `name` or `name[i, ...]`."""

    name: str
    indices: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ModelDecl:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class ConstDecl:
    name: str
    type: Optional[TypeExpr]
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class DataDecl:
    """`data NAME : TYPE [missing VALUE]`; `missing` is None when the data is
    fully observed, and `has_missing` says whether the keyword was written
    (`missing` alone means the default marker, nan for reals)."""

    name: str
    type: TypeExpr
    has_missing: bool
    missing: Optional[Expr]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class ParamDecl:
    name: str
    type: TypeExpr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class LetDecl:
    target: Target
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class OpDecl:
    name: str
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Sample:
    """`target ~ dist`."""

    target: Target
    dist: Call
    span: Span = _span()


@dataclass(frozen=True)
class For:
    """`for var in range(start, stop) { body }`; `start` is None for `range(stop)`."""

    var: str
    start: Optional[Expr]
    stop: Expr
    body: tuple["Stmt", ...]
    span: Span = _span()
    var_span: Span = _span()


@dataclass(frozen=True)
class Infer:
    """`infer [targets] by method(args)`."""

    targets: tuple[str, ...]
    method: Call
    span: Span = _span()


Stmt = Union[ModelDecl, ConstDecl, DataDecl, ParamDecl, LetDecl, OpDecl, Sample, For, Infer]
Decl = Union[ConstDecl, DataDecl, ParamDecl]


@dataclass(frozen=True)
class Program:
    """A parsed model file: its statements in source order and the text itself."""

    statements: tuple[Stmt, ...]
    file: str = field(default="<string>", compare=False)
    source: str = field(default="", compare=False, repr=False)

    @property
    def model_name(self) -> Optional[str]:
        for s in self.statements:
            if isinstance(s, ModelDecl):
                return s.name
        return None


def literal_value(e):
    """The Python value of a literal (`3` → int, `3.0` → float, `true`, `"s"`)."""
    if isinstance(e, Num):
        return int(e.value) if e.is_int else float(e.value)
    if isinstance(e, Bool):
        return bool(e.value)
    return e.value  # Str


LITERALS = (Num, Bool, Str)


def walk_statements(stmts: tuple[Stmt, ...], loops: tuple[For, ...] = ()):
    """Yield `(stmt, enclosing_loops)` for every statement, depth first."""
    stack = [(iter(stmts), loops)]
    while stack:
        it, enclosing = stack[-1]
        s = next(it, None)
        if s is None:
            stack.pop()
            continue
        yield s, enclosing
        if isinstance(s, For):
            stack.append((iter(s.body), enclosing + (s,)))


def _children(e) -> tuple:
    """The direct sub-expressions of a node, in source order (None parts left out)."""
    if isinstance(e, Index):
        return (e.obj,) + tuple(e.indices)
    if isinstance(e, Slice):
        return tuple(p for p in (e.start, e.stop, e.step) if p is not None)
    if isinstance(e, ArrayLit):
        return tuple(e.items)
    if isinstance(e, BinOp):
        return (e.left, e.right)
    if isinstance(e, UnaryOp):
        return (e.operand,)
    if isinstance(e, Call):
        return tuple(e.args) + tuple(v for _, v in e.kwargs)
    if isinstance(e, TypeExpr):
        return tuple(e.args) + tuple(v for _, v in e.kwargs) + tuple(e.dims)
    return ()


def walk_expr(e):
    """Yield every sub-expression of `e` (including `e`), depth first, in source order.
    Iterative, so that no tree is too deep for it."""
    if e is None:
        return
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        kids = _children(node)
        if kids:
            stack.extend(reversed(kids))


def free_names(e) -> set[str]:
    """Names read by an expression (function names of calls excluded: see `called_names`).
    The one walker for "what does this expression read", used by every stage."""
    return {x.id for x in walk_expr(e) if isinstance(x, Name)}


def called_names(e) -> set[str]:
    """Names called in an expression (`f` of `f(x)`: functions, distributions, operators)."""
    return {x.func for x in walk_expr(e) if isinstance(x, Call)}
