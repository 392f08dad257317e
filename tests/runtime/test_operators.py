"""Forward operators: each linear operator's adjoint satisfies <A x, y> = <x, A^T y>."""

import numpy as np
import pytest


from augury.runtime import operators as ops

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 8, 8)).astype(np.float32)


def _adjoint_gap(A, x):
    ax = np.asarray(A(x))
    y = RNG.normal(size=ax.shape).astype(np.float32)
    lhs = float(np.sum(ax * y))
    rhs = float(np.sum(x * np.asarray(A.adjoint(y))))
    return lhs, rhs


@pytest.mark.parametrize("name, A", [
    ("identity", ops.identity()),
    ("mask", ops.mask(ops.random_mask(0.5, 1))),
    ("box_mask", ops.mask(ops.box_mask(2, 2, 3, 4))),
    ("blur", ops.blur(ops.gaussian_kernel(5, 1.2))),
    ("downsample", ops.downsample(2)),
    ("grayscale", ops.grayscale()),
    ("fft_mask", ops.fft_mask(ops.random_mask(0.4, 3))),
    ("compose", ops.compose(ops.downsample(2), ops.blur(ops.uniform_kernel(3)))),
])
def test_adjoint_is_the_transpose(name, A):
    lhs, rhs = _adjoint_gap(A, X)
    # float32 sums of 192 terms of size ~1: relative error well under 1e-4
    assert lhs == pytest.approx(rhs, rel=1e-4, abs=1e-4)


def test_matrix_operator_and_its_adjoint():
    M = RNG.normal(size=(5, 7)).astype(np.float32)
    x = RNG.normal(size=7).astype(np.float32)
    A = ops.matrix(M)
    np.testing.assert_allclose(np.asarray(A(x)), M @ x, rtol=1e-5)
    lhs, rhs = _adjoint_gap(A, x)
    assert lhs == pytest.approx(rhs, rel=1e-4)


def test_fft_mask_gives_real_and_imaginary_parts_before_height_and_width():
    m = (RNG.random((8, 8)) < 0.5).astype(np.float32)
    y = np.asarray(ops.fft_mask(m)(X))
    assert y.shape == (3, 2, 8, 8)
    k = m * np.fft.fft2(X, norm="ortho")
    np.testing.assert_allclose(y[:, 0], k.real, atol=1e-5)
    np.testing.assert_allclose(y[:, 1], k.imag, atol=1e-5)
    # with every frequency kept the unitary DFT preserves the norm, and the adjoint inverts it
    full = ops.fft_mask(np.ones((8, 8), np.float32))
    assert float(np.sum(np.asarray(full(X)) ** 2)) == pytest.approx(float(np.sum(X ** 2)), rel=1e-5)
    np.testing.assert_allclose(np.asarray(full.adjoint(full(X))), X, atol=1e-5)
