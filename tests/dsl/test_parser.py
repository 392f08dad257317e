"""Parsing: the LANGUAGE.md §10 examples round-trip, spans are right, syntax errors are formatted."""

from __future__ import annotations

import pytest

from augury.dsl import ast
from augury.errors import AugurySyntaxError
from augury.dsl.parser import parse
from augury.dsl.types import unparse
from models import LANGUAGE_EXAMPLES, VALID


@pytest.mark.parametrize("name", list(VALID))
def test_examples_parse(name):
    prog = parse(VALID[name], f"{name}.aug")
    assert prog.statements
    assert prog.file == f"{name}.aug"
    assert prog.source == VALID[name]


@pytest.mark.parametrize("name", list(LANGUAGE_EXAMPLES))
def test_layout_does_not_matter(name):
    """Spans take no part in equality: the same model laid out differently parses to an equal tree."""
    src = LANGUAGE_EXAMPLES[name]
    reflowed = "\n\n".join("   " + line.replace(", ", " ,  ") for line in src.splitlines())
    assert parse(src) == parse(reflowed)


def test_round_trip_through_unparse():
    """Every expression prints back to text that parses to the same tree."""
    for name, src in VALID.items():
        prog = parse(src)
        for stmt, _ in ast.walk_statements(prog.statements):
            exprs = []
            if isinstance(stmt, (ast.LetDecl, ast.ConstDecl, ast.OpDecl)):
                exprs.append(stmt.value)
            if isinstance(stmt, ast.Sample):
                exprs.append(stmt.dist)
            for e in exprs:
                again = parse(f"let __x = {unparse(e)}").statements[0].value
                assert again == e, (name, unparse(e))


def test_statement_kinds_of_gcd():
    prog = parse(LANGUAGE_EXAMPLES["gcd"])
    kinds = [type(s).__name__ for s in prog.statements]
    assert kinds == ["ModelDecl", "ConstDecl", "DataDecl", "DataDecl", "ParamDecl", "ParamDecl", "ParamDecl",
                     "Sample", "Sample", "For", "For", "Infer"]
    assert prog.model_name == "gcd"
    z = prog.statements[3]
    assert z.has_missing and z.missing == ast.Num(-1, True)
    assert z.type.base == "category" and z.type.args == (ast.Name("Kmax"),) and z.type.dims == (ast.Name("N"),)
    infer = prog.statements[-1]
    assert infer.targets == () and infer.method.func == "split_merge"


def test_spans():
    src = "data y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"
    prog = parse(src, "m.aug")
    y = prog.statements[0]
    assert (y.name_span.line, y.name_span.col, y.name_span.end_col) == (1, 6, 7)
    assert y.span.file == "m.aug" and str(y.span) == "m.aug:1:1"
    dist = prog.statements[3].dist
    assert (dist.span.line, dist.span.col, dist.span.end_col) == (4, 5, 18)
    assert (dist.func_span.col, dist.func_span.end_col) == (5, 11)
    mu = dist.args[0]
    assert isinstance(mu, ast.Name) and (mu.span.line, mu.span.col, mu.span.end_col) == (4, 12, 14)


def test_spans_in_loops():
    prog = parse(LANGUAGE_EXAMPLES["ar1"], "ar1.aug")
    loop = [s for s in prog.statements if isinstance(s, ast.For)][0]
    assert (loop.var, loop.var_span.line, loop.var_span.col) == ("t", 7, 5)
    inner = loop.body[0]
    assert isinstance(inner, ast.Sample) and inner.target.name == "x"
    assert (inner.target.span.line, inner.target.span.col) == (7, 24)
    assert isinstance(loop.start, ast.Num) and loop.stop == ast.Name("T")


def test_operators_and_adjoint():
    prog = parse("op A = blur(gaussian_kernel(size = 7, std = 1.5))\ny ~ normal(A.T(x), 1)\n")
    call = prog.statements[1].dist.args[0]
    assert call.func == "A" and call.adjoint and call.args == (ast.Name("x"),)
    k = prog.statements[0].value.args[0]
    assert k.kwarg("size") == ast.Num(7, True) and k.kwarg("std") == ast.Num(1.5, False)


def test_precedence():
    e = parse("let z = -a ** 2 + b * c @ d").statements[0].value
    assert unparse(e) == "-a ** 2 + b * c @ d"
    assert isinstance(e, ast.BinOp) and e.op == "+"
    assert isinstance(e.left, ast.UnaryOp) and e.left.operand.op == "**"


@pytest.mark.parametrize("src, where, message", [
    ("param mu : real\nmu = normal(0, 1)\n", "m.aug:2:4", "unexpected `=`"),
    ("param x real\n", "m.aug:1:9", "unexpected `real`"),
    ("x ~ normal(0, 1\n", "m.aug:1:11", "`(` is never closed"),
    ("x ~ normal(0, 1) $\n", "m.aug:1:18", "unexpected character `$`"),
    ("x ~ 3\n", "m.aug:1:5", "the right side of `~` must be a distribution"),
])
def test_syntax_errors(src, where, message):
    with pytest.raises(AugurySyntaxError) as info:
        parse(src, "m.aug")
    text = str(info.value)
    first, line, caret = text.splitlines()[:3]
    assert first.startswith(f"{where}: error: {message}")
    col = int(where.split(":")[2])
    assert line == "    " + src.splitlines()[int(where.split(":")[1]) - 1]
    assert caret.startswith("    " + " " * (col - 1) + "^")


def test_syntax_error_hint_for_equals():
    with pytest.raises(AugurySyntaxError) as info:
        parse("param mu : real\nmu = normal(0, 1)\n", "m.aug")
    assert "a distribution is attached with `~`, not `=`" in str(info.value)
    assert info.value.span.line == 2
