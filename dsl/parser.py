"""Parsing model text into the AST (`dsl.ast`), with a span on every node.

Syntax errors become `AugurySyntaxError` with file:line:col, the line and a
caret, and the expected tokens in words a user knows.  Model files are read
and decoded here too; the tree is turned into the AST by build_ast.py.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path
from typing import Optional, Union

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast, syntax_hints
from .build_ast import _AstError, _Build, _expr_depth_error, _stray_attribute, _transform
from augury.errors import AuguryError, AugurySyntaxError

_KEYWORDS = frozenset(syntax_hints.KEYWORDS)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "augury.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True)


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
    deep = _expr_depth_error(stmts, file) or _stray_attribute(stmts)
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
