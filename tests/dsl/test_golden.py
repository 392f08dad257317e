"""Golden error messages: each malformed model in golden/ must fail with
exactly the text in its `.expected` file (regenerate with golden/regen.py,
then read the diff)."""

from __future__ import annotations

import pytest

from augury.errors import AuguryError, AuguryCheckError, AugurySyntaxError
from golden_cases import cases, run_case

CASES = cases()


def test_there_are_enough_cases():
    assert len(CASES) >= 45
    assert sum("syntax" in c.stem for c in CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[c.stem for c in CASES])
def test_golden(path):
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").rstrip("\n")
    assert run_case(path) == expected


@pytest.mark.parametrize("path", [c for c in CASES if "syntax" in c.stem], ids=lambda c: c.stem)
def test_syntax_cases_are_syntax_errors(path):
    from augury.dsl.parser import parse
    with pytest.raises(AugurySyntaxError):
        parse(path.read_text(encoding="utf-8"), path.name)


def test_check_errors_are_check_errors():
    from augury.dsl.check import check
    from augury.dsl.parser import parse
    for path in CASES:
        if "syntax" in path.stem:
            continue
        src = path.read_text(encoding="utf-8")
        try:
            from golden_cases import consts_of
            check(parse(src, path.name), consts_of(src))
        except AuguryError as err:
            assert isinstance(err, AuguryCheckError), path.name
