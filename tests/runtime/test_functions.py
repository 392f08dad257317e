"""The built-in functions on jax.numpy: `stack` and `concat` take a list, as NumPy does."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from augury.runtime.functions import call_function


A, B, C = np.arange(3.0), np.arange(3.0, 6.0), np.arange(4.0)


@pytest.mark.parametrize("arrays, kwargs", [([A, B], {}), ([A, B], {"axis": 1}), ([A, B], {"axis": -1}),
                                            ((A, B, A), {"axis": 0}), ([np.ones((2, 3))] * 2, {"axis": 2})])
def test_stack_is_numpy_stack(arrays, kwargs):
    got = call_function("stack", [arrays], kwargs)
    np.testing.assert_array_equal(np.asarray(got), np.stack(arrays, **kwargs))


def test_stack_of_two_vectors_has_two_rows():
    assert call_function("stack", [[jnp.ones(5), jnp.zeros(5)]], {}).shape == (2, 5)


def test_stack_and_concat_of_one_array_iterate_over_its_first_axis():
    x = np.arange(6.0).reshape(2, 3)   # what an evaluated list literal `[a, b]` is
    np.testing.assert_array_equal(np.asarray(call_function("stack", [x], {})), np.stack(x))
    np.testing.assert_array_equal(np.asarray(call_function("stack", [x], {"axis": 1})), np.stack(x, axis=1))
    np.testing.assert_array_equal(np.asarray(call_function("concat", [x], {})), np.concatenate(x))


@pytest.mark.parametrize("arrays, kwargs", [([A, C], {}), ([A, B], {"axis": 0}),
                                            ([np.ones((2, 3)), np.zeros((2, 1))], {"axis": 1})])
def test_concat_is_numpy_concatenate(arrays, kwargs):
    got = call_function("concat", [arrays], kwargs)
    np.testing.assert_array_equal(np.asarray(got), np.concatenate(arrays, **kwargs))


def test_stack_and_concat_refuse_what_numpy_refuses():
    with pytest.raises(ValueError):
        call_function("stack", [[A, C]], {})
    with pytest.raises(ValueError, match="existing axis"):
        call_function("concat", [[A, 1.0]], {})
    with pytest.raises(ValueError, match="at least one array"):
        call_function("stack", [[]], {})
    with pytest.raises(TypeError):
        call_function("stack", [A, B], {})   # the variadic form is gone, as in NumPy
