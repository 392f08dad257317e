"""Dependency cycles (pass 7 of `check`): a value computed from itself, directly or
through other lets, params' bounds, consts or distributions.  Element-wise recurrences
(`s[t] ~ normal(s[t - 1], 1)`) are not cycles: they are compiled to a scan."""

from __future__ import annotations

from collections import defaultdict

from . import ast
from .check import Checker, Symbol


def _reads(e, target: str, elementwise: bool):
    """(name, node, indexed) for every name `e` reads, calls of declared names included."""
    parents = {}
    for n in ast.walk_expr(e):
        if isinstance(n, ast.Index) and isinstance(n.obj, ast.Name):
            parents[id(n.obj)] = True
    for n in ast.walk_expr(e):
        if isinstance(n, ast.Name):
            yield n.id, n, parents.get(id(n), False)
        elif isinstance(n, ast.Call):
            yield n.func, n, False


def _observed(sym: Symbol) -> bool:
    return (sym.kind == "data" and not sym.stmt.has_missing) or sym.kind == "let"


def check_cycles(ck: Checker):
    deps: dict[str, list] = defaultdict(list)   # v -> [(u, node, stmt)]: v reads u
    elementwise = {s.name for s in ck.symbols.values() if s.kind == "let" and s.elementwise}
    for s, loops in ast.walk_statements(ck.program.statements):
        if isinstance(s, ast.Sample) and s.target.indices:
            elementwise.add(s.target.name)
    for s, loops in ast.walk_statements(ck.program.statements):
        if isinstance(s, ast.LetDecl):
            v, exprs, elem = s.target.name, [s.value], bool(s.target.indices)
        elif isinstance(s, ast.Sample):
            v, elem = s.target.name, bool(s.target.indices)
            exprs = list(s.dist.args) + [x for _, x in s.dist.kwargs]
        elif isinstance(s, ast.ParamDecl):
            v, exprs, elem = s.name, [x for _, x in s.type.kwargs], False
        elif isinstance(s, ast.ConstDecl):
            v, exprs, elem = s.name, [s.value], False
        else:
            continue
        if ck.symbols.get(v) is None or ck.symbols[v].kind not in ("let", "param", "data", "const"):
            continue
        if isinstance(s, ast.Sample) and _observed(ck.symbols[v]):
            continue   # an observed value is given: its likelihood may read anything computed from it
        loop_vars = {f.var for f in loops}
        for e in exprs:
            for u, node, indexed in _reads(e, v, elem):
                if u in loop_vars or u not in ck.symbols or ck.symbols[u].kind not in ("let", "param", "data", "const"):
                    continue
                if elem and indexed and u in elementwise:
                    continue   # a recurrence (`s[t - 1]`), compiled to a scan
                deps[v].append((u, node, s))
    _find_cycles(ck, deps)


def _find_cycles(ck: Checker, deps: dict):
    order = sorted(deps, key=lambda v: (ck.symbols[v].span.line, ck.symbols[v].span.col))
    state: dict[str, int] = {}
    reported: set = set()
    path: list = []   # (node, edge used to leave it)

    def visit(v):
        state[v] = 1
        for u, node, stmt in deps.get(v, []):
            path.append((v, (u, node, stmt)))
            if state.get(u) == 1:
                start = next(i for i, (x, _) in enumerate(path) if x == u)
                _report_cycle(ck, path[start:], reported)
            elif state.get(u) is None:
                visit(u)
            path.pop()
        state[v] = 2

    for v in order:
        if state.get(v) is None:
            visit(v)


def _report_cycle(ck: Checker, cycle: list, reported: set):
    names = [v for v, _ in cycle]
    key = frozenset(names)
    if key in reported:
        return
    reported.add(key)
    # the statement that closes the cycle: the one that comes last in the file
    closing = max(cycle, key=lambda item: (item[1][2].span.line, item[1][2].span.col))
    v, (u, node, stmt) = closing
    i = names.index(v)
    ring = names[i:] + names[:i] + [v]
    span = node.func_span if isinstance(node, ast.Call) else node.span
    if len(ring) == 2:
        notes = []
        if isinstance(stmt, ast.Sample):
            msg = f"the distribution of `{v}` depends on `{v}` itself"
            notes.append(f"a chain is written element-wise inside a loop: `{v}[t] ~ normal({v}[t - 1], 1)`")
        else:
            msg = f"`{v}` depends on itself"
        if isinstance(stmt, ast.LetDecl):
            notes.append(f"a value cannot be computed from itself; a recurrence is written element-wise inside "
                         f"a loop: `let {v}[t] = f({v}[t - 1])`")
        ck.error(msg, span, *notes)
        return
    chain = f"`{ring[0]}` reads `{ring[1]}`" + "".join(f", which reads `{x}`" for x in ring[2:])
    ck.error(f"`{v}` depends on itself", span, chain)
