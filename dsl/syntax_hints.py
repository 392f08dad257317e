"""Diagnoses of syntax errors that the parser's expected-token sets do not say
well: brackets left open or closed twice, keywords used as names.

Both scan the source text itself (skipping comments and strings), so they
work whatever the parser's state was when it stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
# the language's keywords (LANGUAGE.md §1); the parser and the checker read them from here
KEYWORDS = ("model", "const", "data", "param", "let", "op", "for", "in", "range", "infer", "by", "missing",
            "true", "false", "inf", "nan")
# a declaration keyword followed by a keyword where a name must be
# (on one line: `model` alone on a line followed by `data y ...` is a missing name, not a keyword name)
_KEYWORD_AS_NAME = re.compile(r"\b(const|data|param|let|op|model)[ \t]+(%s)\b" % "|".join(KEYWORDS))
_FOR_KEYWORD = re.compile(r"\bfor[ \t]+(%s)[ \t]+in\b" % "|".join(KEYWORDS))


@dataclass(frozen=True)
class Bracket:
    char: str
    line: int
    col: int
    offset: int


@dataclass(frozen=True)
class BracketProblem:
    """`opener` never closed, or `closer` closing nothing / the wrong kind of bracket."""

    kind: str  # "unclosed", "stray" or "mismatch"
    at: Bracket
    other: Optional[Bracket] = None


def _code_chars(source: str):
    """(offset, line, col, char) of every character outside comments and strings (1-based)."""
    line, col, i, n = 1, 1, 0, len(source)
    in_str = False
    while i < n:
        ch = source[i]
        if in_str:
            if ch == "\\" and i + 1 < n:
                i, col = i + 2, col + 2
                continue
            if ch == '"' or ch == "\n":
                in_str = False
        elif ch == "#":
            while i < n and source[i] != "\n":
                i += 1
            continue
        elif ch == '"':
            in_str = True
        else:
            yield i, line, col, ch
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1


def bracket_problem(source: str, stop: Optional[int] = None) -> Optional[BracketProblem]:
    """The first bracket that is closed wrongly before offset `stop`, else the innermost
    bracket still open at `stop` (or at the end of the file)."""
    stack: list[Bracket] = []
    for off, line, col, ch in _code_chars(source):
        if stop is not None and off >= stop:
            break
        if ch in OPENERS:
            stack.append(Bracket(ch, line, col, off))
        elif ch in CLOSERS:
            here = Bracket(ch, line, col, off)
            if not stack:
                return BracketProblem("stray", here)
            top = stack.pop()
            if OPENERS[top.char] != ch:
                return BracketProblem("mismatch", here, top)
    if stack and stop is None:
        return BracketProblem("unclosed", stack[-1])
    return None


def open_bracket_at(source: str, offset: int) -> Optional[Bracket]:
    """The innermost bracket open just before `offset`."""
    stack: list[Bracket] = []
    for off, line, col, ch in _code_chars(source):
        if off >= offset:
            break
        if ch in OPENERS:
            stack.append(Bracket(ch, line, col, off))
        elif ch in CLOSERS and stack and OPENERS[stack[-1].char] == ch:
            stack.pop()
    return stack[-1] if stack else None


def keyword_as_name(source: str, stop: int) -> Optional[tuple[str, int]]:
    """(keyword, offset) of the first keyword written where a name is declared, before `stop`."""
    masked = "".join(ch if ch == "\n" else " " for ch in source)
    chars = list(masked)
    for off, _, _, ch in _code_chars(source):
        chars[off] = ch
    code = "".join(chars)
    hits = [(m.group(2), m.start(2)) for m in _KEYWORD_AS_NAME.finditer(code)]
    hits += [(m.group(1), m.start(1)) for m in _FOR_KEYWORD.finditer(code)]
    hits = [h for h in hits if h[1] <= stop]
    return min(hits, key=lambda h: h[1]) if hits else None
