"""A Pygments lexer for Augury model files (`.aug`): highlighting on the documentation site,
in Jupyter and anywhere else Pygments runs.

Registered as the Pygments plugin `augury` (aliases `augury`, `aug`; files `*.aug`) through the
entry point in pyproject.toml. Pygments is not a dependency of Augury: it is imported here only,
and nothing in the core imports this module.

The words come from the language's own tables, so that a name added there is highlighted too:
the keywords from the grammar (`dsl/augury.lark`), the types, distributions, functions,
operators and inference methods from `dsl/signatures.py`. A table name is highlighted only where
it is used as such (a type after `:`, a call before `(`, a method after `by`), so that a variable
that happens to be called `prior` or `unit` stays a plain name.
"""

from __future__ import annotations

import re
from importlib import resources

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from augury.dsl.signatures import DISTRIBUTIONS, FUNCTIONS, METHODS, OPERATORS, TYPES

__all__ = ["AuguryLexer", "grammar_keywords"]

# the language's literal constants (the grammar's `true`, `false`, `inf`, `nan`)
_CONSTANTS = ("true", "false", "inf", "nan")
# statements that declare a name (the rest of the grammar's words are control keywords)
_DECLARATIONS = ("model", "const", "data", "param", "let", "op")


def grammar_keywords() -> tuple[str, ...]:
    """Every quoted word of the grammar (`"model"`, `"for"`, ...): the reserved words."""
    text = resources.files("augury.dsl").joinpath("augury.lark").read_text(encoding="utf-8")
    return tuple(sorted(set(re.findall(r'"([a-z_]+)"', text))))


_KEYWORDS = tuple(w for w in grammar_keywords() if w not in _CONSTANTS + _DECLARATIONS)
_CALLABLES = tuple(sorted((set(FUNCTIONS) | set(OPERATORS)) - set(DISTRIBUTIONS)))
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class AuguryLexer(RegexLexer):
    """Augury model files: keywords, declared names, types, distributions, functions and
    operators, inference methods, numbers, strings, comments and operators."""

    name = "Augury"
    aliases = ["augury", "aug"]
    filenames = ["*.aug"]
    mimetypes = ["text/x-augury"]

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            # a declaration and the name it declares
            (r"\b(%s)\b(\s+)(%s)" % ("|".join(_DECLARATIONS), _NAME), bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (words(_DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            # `infer ... by METHOD(...)`
            (r"\b(by)(\s+)(%s)\b" % "|".join(sorted(METHODS, key=len, reverse=True)),
             bygroups(Keyword, Whitespace, Name.Builtin.Pseudo)),
            (words(_KEYWORDS, suffix=r"\b"), Keyword),
            (words(_CONSTANTS, suffix=r"\b"), Keyword.Constant),
            # a type after the `:` of a declaration
            (r"(:)(\s*)(%s)\b" % "|".join(sorted(TYPES, key=len, reverse=True)), bygroups(Punctuation, Whitespace, Keyword.Type)),
            # distributions, functions and operators where they are called
            (words(tuple(sorted(DISTRIBUTIONS)), prefix=r"\b", suffix=r"(?=\s*\()"), Name.Builtin),
            (words(_CALLABLES, prefix=r"\b", suffix=r"(?=\s*\()"), Name.Function),
            (r"(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (_NAME, Name),
            (r"\*\*|==|!=|<=|>=|[~=<>+\-*/@]", Operator),
            (r"[()\[\]{},;:.]", Punctuation),
        ],
    }
