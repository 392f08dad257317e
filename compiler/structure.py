"""The model's declarations and statements, gathered by name.

`collect(program)` sorts a checked program into consts, data, params, lets
(with the loops around each element-wise assignment), operators, `~`
statements and size names.  Every later stage reads this, not the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from augury.dsl import ast
from augury.dsl.signatures import TYPES


@dataclass(frozen=True)
class Located:
    """A statement with the loops around it, outermost first."""

    stmt: object
    loops: tuple[ast.For, ...] = ()

    @property
    def loop_vars(self) -> tuple[str, ...]:
        return tuple(lp.var for lp in self.loops)


@dataclass
class Structure:
    program: ast.Program
    consts: dict[str, ast.ConstDecl] = field(default_factory=dict)
    data: dict[str, ast.DataDecl] = field(default_factory=dict)
    params: dict[str, ast.ParamDecl] = field(default_factory=dict)
    lets: dict[str, list[Located]] = field(default_factory=dict)
    ops: dict[str, ast.OpDecl] = field(default_factory=dict)
    samples: list[Located] = field(default_factory=list)
    sizes: dict[str, ast.Span] = field(default_factory=dict)
    infer: Optional[ast.Infer] = None
    loops: list[Located] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.program.source

    @property
    def file(self) -> str:
        return self.program.file

    def kind(self, name: str) -> Optional[str]:
        for k, table in (("const", self.consts), ("data", self.data), ("param", self.params),
                         ("let", self.lets), ("op", self.ops), ("size", self.sizes)):
            if name in table:
                return k
        return None

    def samples_of(self, name: str) -> list[Located]:
        return [s for s in self.samples if s.stmt.target.name == name]

    def is_discrete(self, name: str) -> bool:
        decl = self.params.get(name) or self.data.get(name)
        return decl is not None and TYPES.get(decl.type.base) is not None and TYPES[decl.type.base].discrete

    def python_imports(self) -> list[tuple[str, str, ast.Span]]:
        """(kind, "module:attr", span) of every Python path the model names: `python(...)`
        operators and `torch(...)` / `jax(...)` networks.  They resolve only when the user
        allows it (`allow_python=True`, `--allow-python`)."""
        out = []
        for stmt, _ in ast.walk_statements(self.program.statements):
            for e in _stmt_exprs(stmt):
                for c in ast.walk_expr(e):
                    if isinstance(c, ast.Call) and c.func in ("python", "torch", "jax"):
                        path = c.args[0] if c.args else c.kwarg("path")
                        if isinstance(path, ast.Str):
                            out.append((c.func, path.value, c.span))
        return out

    def declared_type(self, name: str) -> Optional[ast.TypeExpr]:
        decl = self.params.get(name) or self.data.get(name) or self.consts.get(name)
        return getattr(decl, "type", None)


def _stmt_exprs(stmt) -> list:
    """The expressions a statement holds (values, distributions, types, targets' indices)."""
    out = []
    for attr in ("value", "dist", "type"):
        v = getattr(stmt, attr, None)
        if v is not None:
            out.append(v)
    target = getattr(stmt, "target", None)
    if target is not None:
        out.extend(target.indices)
    return out


def collect(program: ast.Program) -> Structure:
    """Sort the statements of `program` by what they declare."""
    s = Structure(program)
    declared: set[str] = set()
    for stmt, loops in ast.walk_statements(program.statements):
        if isinstance(stmt, ast.ConstDecl):
            s.consts[stmt.name] = stmt
        elif isinstance(stmt, ast.DataDecl):
            s.data[stmt.name] = stmt
        elif isinstance(stmt, ast.ParamDecl):
            s.params[stmt.name] = stmt
        elif isinstance(stmt, ast.LetDecl):
            s.lets.setdefault(stmt.target.name, []).append(Located(stmt, loops))
        elif isinstance(stmt, ast.OpDecl):
            s.ops[stmt.name] = stmt
        elif isinstance(stmt, ast.Sample):
            s.samples.append(Located(stmt, loops))
        elif isinstance(stmt, ast.Infer):
            s.infer = stmt
        elif isinstance(stmt, ast.For):
            s.loops.append(Located(stmt, loops))
        name = getattr(stmt, "name", None)
        if isinstance(stmt, (ast.ConstDecl, ast.DataDecl, ast.ParamDecl, ast.OpDecl)):
            declared.add(name)
    declared |= set(s.lets)
    for decl in list(s.data.values()) + list(s.params.values()) + [c for c in s.consts.values() if c.type]:
        for n in sorted(ast.free_names(decl.type)):
            if n not in declared and n not in s.sizes:
                span = next((x.span for x in ast.walk_expr(decl.type) if isinstance(x, ast.Name) and x.id == n),
                            decl.span)
                s.sizes[n] = span
    return s
