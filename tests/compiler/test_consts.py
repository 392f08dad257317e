"""Const values: the checker's exact folding (dsl, no JAX) and the binding's evaluator agree.

The checker folds consts to check sizes and shapes before any data exists, with Python and
NumPy arithmetic (the front end may not import JAX); binding evaluates every const with the
lowering's evaluator.  Wherever the checker folds a value, the two must give the same one.
"""

import numpy as np
import pytest

from augury.compiler.bind import evaluate_consts
from augury.compiler.structure import collect
from augury.dsl.check import Checker, collect_symbols
from augury.dsl.parser import parse
from augury.dsl.types import UNEVALUATED

EXPRESSIONS = ["3", "2 * 4 + 1", "10 / 4", "2 ** 10", "-3", "7 - 2 - 1", "exp(1.0)", "log(10.0)",
               "sqrt(2.0)", "sum([1, 2, 3])", "mean([1.0, 2.0])", "max(2, 5)", "min(2, 5)", "zeros(3)",
               "ones(2)", "eye(2)", "[1, 2] * 3", "abs(-2.5)", "square(3)", "K * 2 + 1"]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_the_checker_and_the_binding_compute_the_same_const(expr):
    src = f"const K = 4\nconst c = {expr}\n"
    program = parse(src)
    ck = Checker(program, None)
    collect_symbols(ck)
    folded = ck.const_value("c")
    bound = evaluate_consts(collect(program))["c"]
    assert folded is not UNEVALUATED, f"the checker no longer folds `{expr}`: drop it from this list"
    np.testing.assert_allclose(np.asarray(bound, np.float64), np.asarray(folded, np.float64), rtol=1e-6)
    assert np.shape(bound) == np.shape(folded)
