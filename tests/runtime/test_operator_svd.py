"""Every linear operator's spectral form: A x = U(s ⊙ (V^T x)[:R]), V orthogonal, U^T U = I."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from augury.runtime import operators as ops

M = np.random.default_rng(5).normal(size=(7, 10))

CASES = [
    ("identity", lambda: ops.identity(), (2, 6, 6)),
    ("mask/random_mask", lambda: ops.mask(ops.random_mask(0.5, 1)), (3, 6, 6)),
    ("mask/box_mask", lambda: ops.mask(ops.box_mask(1, 2, 3, 2)), (6, 6)),
    ("mask/array", lambda: ops.mask(np.random.default_rng(2).normal(size=(6, 6))), (2, 6, 6)),
    ("blur/uniform_kernel", lambda: ops.blur(ops.uniform_kernel(3)), (2, 8, 8)),   # separable form
    ("blur/gaussian_kernel", lambda: ops.blur(ops.gaussian_kernel(5, 1.2)), (2, 6, 6)),  # dense form
    ("downsample", lambda: ops.downsample(2), (3, 8, 8)),
    ("downsample/factor3", lambda: ops.downsample(3), (6, 6)),
    ("matrix", lambda: ops.matrix(M), (10,)),
    ("grayscale", lambda: ops.grayscale(), (3, 6, 6)),
    ("fft_mask/even", lambda: ops.fft_mask(ops.random_mask(0.4, 3)), (2, 6, 6)),
    ("fft_mask/odd", lambda: ops.fft_mask(ops.random_mask(0.6, 4)), (5, 7)),
    ("compose", lambda: ops.compose(ops.downsample(2), ops.blur(ops.uniform_kernel(3))), (8, 8)),
]


def test_every_constructor_and_helper_covered():
    names = {c[0].split("/")[0] for c in CASES} | {"python"}
    assert names == set(ops.OPERATOR_CONSTRUCTORS)
    helpers = {h for c in CASES for h in c[0].split("/")[1:]}
    assert set(ops.OPERATOR_HELPERS) <= helpers


def test_runtime_matches_signature_table():
    from augury.dsl.signatures import OPERATORS
    for name, sig in OPERATORS.items():
        if sig.svd:   # the table's `svd: True` operators all carry a spectral form
            assert ops.OPERATOR_CONSTRUCTORS[name] in (ops.identity, ops.mask, ops.blur, ops.downsample,
                                                       ops.matrix, ops.fft_mask, ops.grayscale)
    made = {"identity": ops.identity(), "mask": ops.mask(np.ones(3)), "blur": ops.blur(ops.uniform_kernel(3)),
            "downsample": ops.downsample(2), "matrix": ops.matrix(M), "fft_mask": ops.fft_mask(np.ones((2, 2))),
            "grayscale": ops.grayscale()}
    for name, A in made.items():
        assert OPERATORS[name].svd and A.svd_fn is not None


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.slow
@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_svd(name, make, shape):
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        A = make()
        x = jnp.asarray(rng.normal(size=shape))
        ax = A(x)
        y = jnp.asarray(rng.normal(size=ax.shape))
        # adjoint identity
        lhs, rhs = float(jnp.vdot(ax, y)), float(jnp.vdot(x, A.adjoint(y)))
        assert abs(lhs - rhs) <= 1e-10 * max(abs(lhs), 1.0)

        S = A.svd(shape)
        s = np.asarray(S.singular_values)
        D, R = int(np.prod(shape)), S.R
        assert s.shape == (R,) and np.all(s > 0) and np.all(np.diff(s) <= 0)
        vx = S.Vt(x)
        assert vx.shape == (D,) and S.Ut(y).shape == (R,) and S.U(S.Ut(y)).shape == ax.shape
        # reconstruction
        assert _rel(S.apply(x), ax) < 1e-10
        assert _rel(S.U(S.singular_values * vx[:R]), ax) < 1e-10
        # V orthogonal
        assert _rel(S.V(vx), x) < 1e-10
        assert abs(float(jnp.linalg.norm(vx)) - float(jnp.linalg.norm(x))) < 1e-10 * float(jnp.linalg.norm(x))
        c = jnp.asarray(rng.normal(size=D))
        assert _rel(S.Vt(S.V(c)), c) < 1e-10
        # U^T U = I on its range, and U U^T projects: A^T y = V[:, :R](s ⊙ U^T y)
        cr = jnp.asarray(rng.normal(size=R))
        assert _rel(S.Ut(S.U(cr)), cr) < 1e-10
        assert abs(float(jnp.linalg.norm(S.U(cr))) - float(jnp.linalg.norm(cr))) < 1e-10 * float(jnp.linalg.norm(cr))
        aty = S.V(jnp.zeros(D).at[:R].set(S.singular_values * S.Ut(y)))
        assert _rel(aty, A.adjoint(y)) < 1e-10
        # traceable
        assert _rel(jax.jit(S.Vt)(x), vx) < 1e-12


def test_fft_mask_singular_values():
    with jax.enable_x64(True):
        s = np.asarray(ops.fft_mask(ops.random_mask(0.4, 3)).svd((6, 6)).singular_values)
        assert np.all(np.isclose(s, 1.0) | np.isclose(s, 2 ** -0.5))


def test_downsample_singular_values():
    S = ops.downsample(2).svd((3, 8, 8))
    assert S.R == 3 * 16 and np.allclose(S.singular_values, 0.5)


def test_no_svd_is_a_clear_error():
    A = ops.python(lambda x: x ** 2)
    with pytest.raises(ops.NoSVDError, match="has no known SVD"):
        A.svd((4,))
    with pytest.raises(ops.NoSVDError, match="4096"):
        ops.compose(ops.identity(), ops.identity()).svd((65, 64))
    assert ops.python(ops.identity()).svd((3,)).R == 3
