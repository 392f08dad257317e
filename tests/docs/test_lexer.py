"""The Pygments lexer for `.aug` files (augury/lexer.py): every shipped model lexes with no Error
token, the words get the token types the docs site colours them by, and the words come from the
language's own tables (a name added there is highlighted with no edit to the lexer)."""

from __future__ import annotations

from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments")
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String  # noqa: E402

from augury.dsl.signatures import DISTRIBUTIONS, METHODS, TYPES  # noqa: E402
from augury.lexer import AuguryLexer, grammar_keywords  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/**/*.aug"))


def _tokens(text: str) -> list[tuple]:
    """(value, token type) of every token but whitespace."""
    return [(v, t) for t, v in AuguryLexer().get_tokens(text) if v.strip()]


def test_there_are_examples_to_lex():
    assert len(EXAMPLES) >= 20, EXAMPLES  # examples/*.aug and the posteriordb ports


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_model_lexes_without_error_tokens(path):
    text = path.read_text()
    tokens = list(AuguryLexer().get_tokens(text))
    bad = [v for t, v in tokens if t in Error]
    assert not bad, bad
    assert "".join(v for _, v in tokens) == text + ("" if text.endswith("\n") else "\n")  # nothing dropped


def test_key_tokens_get_their_types():
    text = ('model m  # a comment\nconst K : int = 3\ndata y : real[N] missing -1\nparam mu : simplex(K)\n'
            'let s = exp(mu) * 2.5e-3\nop A = mask(box_mask(top = 5))\nmu ~ dirichlet(ones(K))\n'
            'for n in range(N) { y[n] ~ normal(A(mu)[0], 1) }\ninfer mu by nuts(warmup = 10, dense_mass = true)\n')
    got = _tokens(text)
    want = [("model", Keyword.Declaration), ("m", Name.Variable), ("# a comment", Comment.Single),
            ("K", Name.Variable), ("int", Keyword.Type), ("3", Number.Integer), ("real", Keyword.Type),
            ("missing", Keyword), ("simplex", Keyword.Type), ("exp", Name.Function), ("2.5e-3", Number.Float),
            ("mask", Name.Function), ("box_mask", Name.Function), ("~", Operator), ("dirichlet", Name.Builtin),
            ("ones", Name.Function), ("for", Keyword), ("in", Keyword), ("range", Keyword),
            ("normal", Name.Builtin), ("infer", Keyword), ("by", Keyword), ("nuts", Name.Builtin.Pseudo),
            ("true", Keyword.Constant), ("*", Operator), ("=", Operator)]
    for value, kind in want:
        kinds = {t for v, t in got if v == value}
        assert kind in kinds, (value, kinds)


def test_a_table_name_used_as_a_variable_stays_a_name():
    # `prior` is a method, `unit` a type, `normal` a distribution: here they are variables
    got = _tokens("param prior : unit\nlet unit2 = prior + normal\n")
    assert ("prior", Name.Variable) in got and ("prior", Name) in got and ("normal", Name) in got
    assert ("unit", Keyword.Type) in got


def test_strings_and_attribute_calls():
    got = _tokens('op B = python("pkg.mod:fn")\nlet z = A.T(y)\nx ~ diffusion(net = "digits")\n')
    assert ('"pkg.mod:fn"', String.Double) in got and ('"digits"', String.Double) in got
    assert ("T", Name) in got and ("diffusion", Name.Builtin) in got


def test_words_come_from_the_language_tables():
    words = set(grammar_keywords())
    assert {"model", "param", "for", "infer", "by", "missing", "true", "nan"} <= words
    sample = "".join(f"param a{i} : {t}\n" for i, t in enumerate(TYPES))
    assert {v for v, t in _tokens(sample) if t is Keyword.Type} == set(TYPES)
    calls = "".join(f"x ~ {d}()\n" for d in DISTRIBUTIONS)
    assert {v for v, t in _tokens(calls) if t is Name.Builtin} == set(DISTRIBUTIONS)
    methods = "".join(f"infer by {m}()\n" for m in METHODS)
    assert {v for v, t in _tokens(methods) if t is Name.Builtin.Pseudo} == set(METHODS)


def test_garbage_gives_error_tokens():
    # a lexer that accepted everything would make the first test meaningless
    assert any(t in Error for t, _ in AuguryLexer().get_tokens("param x : real $ ?"))


def test_the_lexer_is_registered_with_pygments():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    assert isinstance(get_lexer_by_name("augury"), AuguryLexer)
    assert isinstance(get_lexer_by_name("aug"), AuguryLexer)
    assert isinstance(get_lexer_for_filename("model.aug"), AuguryLexer)


def test_the_core_does_not_import_the_lexer():
    import subprocess
    import sys
    code = ("import sys, augury; m = augury.compile('param x : real\\nx ~ normal(0, 1)'); "
            "import augury.cli; print('pygments' in sys.modules, 'augury.lexer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"], out
