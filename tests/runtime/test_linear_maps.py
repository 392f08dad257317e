"""`jax_linear_maps`: an operator vmapped over a leading particle axis, with its batched SVD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from augury.runtime import operators as ops
from augury.runtime.linear_maps import jax_linear_maps
from test_operator_svd import CASES, _rel   # the whole operator registry (tests/runtime is on sys.path)

P = 3


@pytest.mark.slow
@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_batched_maps_match_the_operator(name, make, shape):
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        A = make()
        L = jax_linear_maps(A, shape)
        x = jnp.asarray(rng.normal(size=(P,) + shape))
        ax = L.apply(x)
        assert L.in_shape == shape and ax.shape == (P,) + L.out_shape
        y = jnp.asarray(rng.normal(size=ax.shape))
        aty = L.adjoint(y)
        assert aty.shape == x.shape
        S = A.svd(shape)
        B = L.require_svd()
        assert B.D == S.D and B.R == S.R and np.array_equal(B.singular_values, S.singular_values)
        for i in (0, P - 1):
            assert _rel(ax[i], A(x[i])) < 1e-12
            assert _rel(aty[i], jnp.reshape(A.adjoint(y[i]), shape)) < 1e-12
            assert _rel(B.Vt(x)[i], S.Vt(x[i])) < 1e-12
            assert _rel(B.Ut(y)[i], S.Ut(y[i])) < 1e-12
        assert _rel(B.apply(x), ax) < 1e-10
        assert _rel(B.V(B.Vt(x)), x) < 1e-10
        c = jnp.asarray(rng.normal(size=(P, B.R)))
        assert _rel(B.Ut(B.U(c)), c) < 1e-10


def test_matrix_adjoint_has_the_input_shape():
    M = np.random.default_rng(0).normal(size=(4, 10))
    L = jax_linear_maps(ops.matrix(M), (2, 5))
    assert L.out_shape == (4,) and L.adjoint(jnp.ones((P, 4))).shape == (P, 2, 5)


def test_nonlinear_and_missing_svd():
    L = jax_linear_maps(ops.python(lambda x: x ** 2), (4,))
    assert L.adjoint is None and L.svd is None and L.out_shape == (4,)
    with pytest.raises(ops.NoSVDError, match="has no known SVD"):
        L.require_svd()
    big = jax_linear_maps(ops.compose(ops.identity(), ops.identity()), (65, 64))
    with pytest.raises(ops.NoSVDError, match="4096"):
        big.require_svd()
    assert jax_linear_maps(ops.blur(ops.gaussian_kernel(3, 1.0)), (6, 6), with_svd=False).svd is None


def test_parts_do_not_change_equality_or_hashing():
    A = ops.blur(ops.uniform_kernel(3))
    assert A.parts[0].shape == (3, 3) and hash(ops.identity()) is not None
    assert hash(ops.matrix(np.eye(2))) is not None and "parts" not in repr(ops.identity())
    assert ops.compose(A, ops.identity()).parts[0] is A
