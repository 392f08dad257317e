"""Native PyTorch operators equal the JAX ones: apply, adjoint and the SVD in the same basis."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from augury.runtime import operators as ops  # noqa: E402
from augury.runtime.backends.torch_ops import torch_linear_maps  # noqa: E402
from augury.runtime.linear_maps import jax_linear_maps  # noqa: E402
from test_operator_svd import CASES  # noqa: E402  (tests/runtime is on sys.path)

P = 3
TOL = {torch.float64: 1e-10, torch.float32: 2e-5}


def _rel(a, b):
    a, b = (np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float64) for z in (a, b))
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _t(a, dtype):
    return torch.as_tensor(np.asarray(a), dtype=dtype)


@functools.lru_cache(maxsize=None)
def _jax_reference(name):
    """Float64 JAX results for case `name`, shared by both dtypes (JAX dispatch is the slow part)."""
    _, make, shape = next(c for c in CASES if c[0] == name)
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        A = make()   # built once, shared: `matrix` and friends keep the dtype they were built in
        J = jax_linear_maps(A, shape)
        x = rng.normal(size=(P,) + shape)
        y = rng.normal(size=(P,) + J.out_shape)
        ref = (J.apply(jnp.asarray(x)), J.adjoint(jnp.asarray(y)), J.svd.Vt(jnp.asarray(x)), J.svd.Ut(jnp.asarray(y)))
        return A, J, x, y, tuple(np.asarray(r) for r in ref)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_torch_matches_jax(name, make, shape, dtype):
    tol, rng = TOL[dtype], np.random.default_rng(3)
    A, J, x, y, (jax_ax, jax_aty, jax_vt, jax_ut) = _jax_reference(name)
    T = torch_linear_maps(A, shape, "cpu", dtype)
    xt, yt = _t(x, dtype), _t(y, dtype)
    ax, aty = T.apply(xt), T.adjoint(yt)
    assert T.out_shape == J.out_shape and ax.dtype == dtype and aty.shape == xt.shape
    assert _rel(ax, jax_ax) < tol and _rel(aty, jax_aty) < tol
    lhs, rhs = float((ax * yt).sum()), float((xt * aty).sum())           # <A x, y> = <x, A^T y>
    assert abs(lhs - rhs) <= 10 * tol * max(abs(lhs), 1.0)

    S = T.require_svd()
    R = S.R
    assert (S.D, R) == (J.svd.D, J.svd.R) and S.singular_values.dtype == dtype
    assert _rel(S.singular_values, J.svd.singular_values) < tol
    vx = S.Vt(xt)
    assert _rel(vx, jax_vt) < tol and _rel(S.Ut(yt), jax_ut) < tol    # the same basis and order
    assert _rel(S.U(S.singular_values * vx[:, :R]), ax) < 10 * tol
    assert _rel(S.V(vx), xt) < 10 * tol
    c, cr = _t(rng.normal(size=(P, S.D)), dtype), _t(rng.normal(size=(P, R)), dtype)
    assert _rel(S.Vt(S.V(c)), c) < 10 * tol
    assert _rel(S.Ut(S.U(cr)), cr) < 10 * tol
    assert _rel(torch.linalg.norm(S.U(cr).reshape(P, -1), dim=1), torch.linalg.norm(cr, dim=1)) < 10 * tol


@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_autograd_through_apply_and_svd(name, make, shape):
    """d/dx ½‖A x − y‖² = A^T (A x − y), and the SVD maps carry gradients too."""
    T = torch_linear_maps(make(), shape, "cpu", torch.float64)
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(P,) + shape), requires_grad=True)
    y = torch.tensor(rng.normal(size=(P,) + T.out_shape))
    r = T.apply(x) - y
    (0.5 * (r ** 2).sum()).backward()
    assert _rel(x.grad, T.adjoint(r.detach())) < 1e-10
    x.grad = None
    T.svd.V(T.svd.Vt(x)).sum().backward()   # V V^T = I
    assert _rel(x.grad, torch.ones_like(x)) < 1e-10


def test_large_structured_operators_are_native():
    """D = 2·64·64 > 4096: JAX could not form a dense matrix, so these SVDs are native."""
    shape, rng = (2, 64, 64), np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(P,) + shape))
    for A in (ops.mask(ops.random_mask(0.3, 2)), ops.fft_mask(ops.random_mask(0.3, 2)), ops.downsample(4),
              ops.blur(ops.uniform_kernel(5))):
        S = torch_linear_maps(A, shape, "cpu", torch.float64).svd
        assert S is not None and S.D == 2 * 64 * 64
        assert _rel(S.V(S.Vt(x)), x) < 1e-10
        with jax.enable_x64(True):
            ax = jax.vmap(A)(jnp.asarray(x.numpy()))
        assert _rel(S.U(S.singular_values * S.Vt(x)[:, :S.R]), ax) < 1e-10


def test_unknown_linear_operator_falls_back_to_its_dense_matrix():
    W = np.random.default_rng(6).normal(size=(5, 12))
    A = ops.Operator("custom", lambda x: jnp.reshape(x, x.shape[:-2] + (-1,)) @ W.T,
                     lambda y: jnp.reshape(y @ W, y.shape[:-1] + (3, 4)))
    T = torch_linear_maps(A, (3, 4), "cpu", torch.float64)
    x = torch.tensor(np.random.default_rng(7).normal(size=(P, 3, 4)))
    assert T.out_shape == (5,) and _rel(T.apply(x), x.reshape(P, -1) @ torch.tensor(W).T) < 1e-12
    assert T.svd is None   # JAX knows no SVD for it either
    with pytest.raises(ops.NoSVDError, match="has no known SVD"):
        T.require_svd()
    big = ops.Operator("custom", lambda x: 2 * x, lambda y: 2 * y)
    with pytest.raises(ValueError, match="operator `custom` has no PyTorch form for inputs of size D > 4096"):
        torch_linear_maps(big, (65, 64), "cpu", torch.float64)


def test_nonlinear_python_operator_is_the_users_torch_function():
    sq = ops.python(lambda x: torch.tanh(x) ** 2)
    T = torch_linear_maps(sq, (4, 4), "cpu", torch.float32)
    x = torch.randn(P, 4, 4)
    assert T.out_shape == (4, 4) and torch.equal(T.apply(x), torch.tanh(x) ** 2)
    assert T.adjoint is None and T.svd is None
    with pytest.raises(ops.NoSVDError, match="not linear"):
        T.require_svd()
    C = torch_linear_maps(ops.compose(ops.downsample(2), sq), (4, 4), "cpu", torch.float32)
    assert C.out_shape == (2, 2) and C.adjoint is None and C.svd is None
    assert torch.allclose(C.apply(x), (torch.tanh(x) ** 2).reshape(P, 2, 2, 2, 2).mean(dim=(2, 4)))
    with pytest.raises(ValueError, match="could not be called on a torch tensor"):
        torch_linear_maps(ops.python(lambda x: jnp.sin(x).block_until_ready()), (4,), "cpu", torch.float32)
