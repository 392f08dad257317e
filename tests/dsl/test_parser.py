"""Parsing: the LANGUAGE.md §10 examples round-trip, spans are right, syntax errors are formatted."""

from __future__ import annotations

import pytest

from augury.dsl import ast
from augury.errors import AugurySyntaxError
from augury.dsl.parser import parse
from augury.dsl.unparse import unparse
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


# ------------------------------------------------------------ deep and long input

from augury.dsl.build_ast import CHAIN_BALANCE, MAX_NESTING  # noqa: E402
from augury.dsl.parser import decode_model_text, parse_file, read_model_file  # noqa: E402
from augury.dsl.types import const_eval  # noqa: E402
from augury.errors import AuguryError  # noqa: E402


def _depth(e) -> int:
    best, todo = 0, [(e, 1)]
    while todo:
        node, d = todo.pop()
        best = max(best, d)
        todo.extend((k, d + 1) for k in ast._children(node))
    return best


def _nesting_error(src):
    with pytest.raises(AugurySyntaxError) as info:
        parse(src, "m.aug")
    err = info.value
    assert err.message == f"the expression is nested too deeply (more than {MAX_NESTING} levels)"
    assert "name inner parts with `let`" in err.diagnostics[0].notes[0]
    return err


@pytest.mark.parametrize("opener, closer, width", [("-", "", 1), ("[", "]", 1), ("exp(", ")", 4), ("f(", ")", 2)])
def test_deep_nesting_is_refused_where_the_limit_is_passed(opener, closer, width):
    head = "let a = "
    err = _nesting_error(head + opener * 3000 + "x" + closer * 3000 + "\n")
    # the first level past the limit: the (MAX_NESTING + 1)-th opener
    assert (err.span.line, err.span.col) == (1, len(head) + 1 + MAX_NESTING * width)
    # exactly at the limit is fine
    ok = parse(head + opener * (MAX_NESTING - 1) + "x" + closer * (MAX_NESTING - 1) + "\n")
    assert _depth(ok.statements[0].value) == MAX_NESTING


def test_deep_nesting_counts_loops():
    src = "data y : real[N]\n" + "for i in range(N) {\n" * (MAX_NESTING + 5) + "}\n" * (MAX_NESTING + 5)
    err = _nesting_error(src)
    # the 100th loop is 100 levels deep, so the bound `N` inside its `range(N)` is the 101st
    assert (err.span.line, err.span.col) == (MAX_NESTING + 1, 16)


def test_minus_signs_on_a_literal_fold():
    e = parse("let a = " + "-" * 5000 + "1\n").statements[0].value
    assert e == ast.Num(1, True)
    e = parse("let a = " + "-" * 5001 + "2.5\n").statements[0].value
    assert e == ast.Num(-2.5, False)


def test_a_long_flat_sum_parses_and_checks():
    from augury.dsl.check import check
    src = "param x : real\nx ~ normal(" + " + ".join(["1"] * 20000) + ", 1)\n"
    prog = parse(src, "m.aug")
    loc = prog.statements[1].dist.args[0]
    assert _depth(loc) <= 20
    assert const_eval(loc, lambda n: None) == 20000
    assert sum(1 for _ in ast.walk_expr(loc)) == 2 * 20000 - 1
    assert check(prog) == []
    assert unparse(loc).count("1") == 20000


@pytest.mark.parametrize("ops", ["+-", "-", "*/", "/", "+", "-+--+"])
def test_long_chains_are_regrouped_without_changing_their_value(ops):
    n = 3 * CHAIN_BALANCE + 7
    terms = [str(2 + (k * 7) % 5) for k in range(n)]
    text = terms[0] + "".join(f" {ops[k % len(ops)]} {t}" for k, t in enumerate(terms[1:]))
    e = parse(f"let a = {text}\n").statements[0].value
    assert _depth(e) < 12
    want = float(terms[0])  # left to right, as Python would read `text`: no eval of text
    for k, t in enumerate(terms[1:]):
        op = ops[k % len(ops)]
        want = want + int(t) if op == "+" else want - int(t) if op == "-" else want * int(t) if op == "*" \
            else want / int(t)
    assert const_eval(e, lambda n: None) == pytest.approx(want, rel=1e-9)


def test_short_chains_keep_their_left_grouping():
    e = parse("let a = x - y - z\n").statements[0].value
    assert e == ast.BinOp("-", ast.BinOp("-", ast.Name("x"), ast.Name("y")), ast.Name("z"))
    e = parse("let a = x / y * z @ w\n").statements[0].value
    assert unparse(e) == "x / y * z @ w" and e.op == "@"


def test_walk_expr_does_not_recurse():
    e = ast.Name("x")
    for _ in range(100_000):
        e = ast.UnaryOp("-", e)
    assert sum(1 for _ in ast.walk_expr(e)) == 100_001
    assert ast.free_names(e) == {"x"}


def test_walk_expr_order_is_source_order():
    e = parse("let a = f(x, y[i, 1:n], k = z) + w\n").statements[0].value
    names = [n.id for n in ast.walk_expr(e) if isinstance(n, ast.Name)]
    assert names == ["x", "y", "i", "n", "z", "w"]


# ------------------------------------------------------------------- literals

@pytest.mark.parametrize("text, message", [
    ("2147483648", "the integer `2147483648` is too large"),
    ("9" * 5000, "the integer `999999999999…9999` (5000 characters) is too large"),
    ("1e400", "the number `1e400` is too large for a real"),
    ("9" * 400 + ".0", "too large for a real"),
])
def test_numbers_that_do_not_fit_are_errors(text, message):
    with pytest.raises(AugurySyntaxError) as info:
        parse(f"param mu : real\nmu ~ normal({text}, 1)\n", "m.aug")
    err = info.value
    assert message in err.message
    assert (err.span.line, err.span.col) == (2, 13)


def test_numbers_that_fit():
    e = parse("let a = [2147483647, -2147483647, 1e-400, 1.5e308]\n").statements[0].value
    assert [x.value for x in e.items] == [2147483647, -2147483647, 0.0, 1.5e308]
    assert parse("data z : int[N] missing -2147483647\n").statements[0].missing == ast.Num(-2147483647, True)


# ---------------------------------------------------------------- bytes and files

def test_nul_character_is_a_syntax_error():
    with pytest.raises(AugurySyntaxError) as info:
        parse("param mu : real\nmu ~ normal(0, 1) # a\x00b\n", "m.aug")
    err = info.value
    assert err.message == "the text contains a NUL character"
    assert (err.span.line, err.span.col) == (2, 22)
    assert "binary" in str(err)


def test_control_characters_are_named():
    with pytest.raises(AugurySyntaxError) as info:
        parse("param mu : real\x07\n", "m.aug")
    assert info.value.message == "unexpected character U+0007 (a control character)"
    with pytest.raises(AugurySyntaxError) as info:
        parse("param mu :\u00a0real\n", "m.aug")
    assert info.value.message == "unexpected character U+00A0 (no-break space)"
    assert (info.value.span.line, info.value.span.col) == (1, 11)


def test_latin1_file_names_the_first_bad_byte(tmp_path):
    p = tmp_path / "caf.aug"
    p.write_bytes("param mu : real\nmu ~ normal(0, 1)  # café\n".encode("latin-1"))
    with pytest.raises(AugurySyntaxError) as info:
        read_model_file(p)
    err = info.value
    assert err.message == "the file is not UTF-8 text"
    assert (err.span.file, err.span.line, err.span.col) == (str(p), 2, 25)
    assert str(err).startswith(f"{p}:2:25: error: the file is not UTF-8 text")
    assert "0xe9" in str(err) and "save it as UTF-8" in str(err)
    with pytest.raises(AugurySyntaxError):
        parse_file(p)


def test_binary_file_is_a_syntax_error(tmp_path):
    p = tmp_path / "weights.aug"
    p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}\n\xff\xfe\x00")
    with pytest.raises(AugurySyntaxError) as info:
        read_model_file(p)
    assert (info.value.span.line, info.value.span.col) == (1, 1)
    assert "binary" in str(info.value)
    p.write_bytes(b"param mu : real\n\x00\x00\x00")   # UTF-8, but binary
    with pytest.raises(AugurySyntaxError) as info:
        parse_file(p)
    assert info.value.message == "the text contains a NUL character"


def test_read_model_file(tmp_path):
    p = tmp_path / "m.aug"
    p.write_bytes(b"\xef\xbb\xbfparam mu : real\nmu ~ normal(0, 1)  # \xc3\xa9\n")   # a BOM, then UTF-8
    assert read_model_file(p).startswith("param mu")
    assert parse_file(p).file == str(p)
    with pytest.raises(AuguryError, match="no model file"):
        read_model_file(tmp_path / "missing.aug")
    with pytest.raises(AuguryError, match="is a directory"):
        read_model_file(tmp_path)
    assert parse(b"param mu : real\nmu ~ normal(0, 1)\n").statements
    with pytest.raises(AugurySyntaxError):
        decode_model_text(b"a\n\xe9", "x.aug")
