"""Forward operators as maps batched over a leading particle axis, framework-agnostic.

A sampler holds P particles x of shape (P, *in_shape); it needs A x, A^T y and, for the
spectral methods (DDRM, ΠGDM, MCGdiff), the SVD A = U diag(s) V^T on the whole batch.
`BatchedLinearMaps` is that bundle for one input shape, whatever the array framework:
`jax_linear_maps` builds it from an `Operator` with `jax.vmap`; the PyTorch form is in
`augury.runtime.backends.torch_ops` (imported only when torch is used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from augury.runtime.operators import NoSVDError, Operator


@dataclass(frozen=True)
class BatchedSVD:
    """A x = U(s ⊙ Vt(x)[:, :R]) for a batch, with the conventions of `operators.SVD`.

    `singular_values` s: (R,), decreasing.  `Vt`: (P, *in_shape) -> (P, D) coefficients in a
    full orthonormal basis of the input space (the first R pair with s, the rest span the null
    space); `V`: (P, D) -> (P, *in_shape), its inverse.  `Ut`: (P, *out_shape) -> (P, R);
    `U`: (P, R) -> (P, *out_shape), with U^T U = I.
    """

    singular_values: Any
    D: int
    R: int
    Vt: Callable
    V: Callable
    Ut: Callable
    U: Callable

    def apply(self, x):
        """A x through the spectral form (for checks): U(s ⊙ Vt(x)[:, :R])."""
        return self.U(self.singular_values * self.Vt(x)[:, : self.R])


@dataclass(frozen=True)
class BatchedLinearMaps:
    """An operator on inputs of shape `in_shape`, batched over a leading particle axis.

    `apply`: (P, *in_shape) -> (P, *out_shape); `adjoint`: (P, *out_shape) -> (P, *in_shape),
    None for a nonlinear operator; `svd`: None when the operator has no (affordable) spectral
    form or it was not asked for, with the reason in `svd_error` (see `require_svd`).
    """

    in_shape: tuple
    out_shape: tuple
    apply: Callable
    adjoint: Optional[Callable]
    svd: Optional[BatchedSVD]
    svd_error: str = ""

    def require_svd(self) -> BatchedSVD:
        """The SVD, or `NoSVDError` saying why there is none."""
        if self.svd is None:
            raise NoSVDError(self.svd_error or "no SVD was built for this operator")
        return self.svd


def _out_shape(op: Operator, in_shape: tuple) -> tuple:
    return tuple(jax.eval_shape(op.apply, jax.ShapeDtypeStruct(in_shape, jnp.float32)).shape)


def _jax_svd(op: Operator, in_shape: tuple) -> BatchedSVD:
    S = op.svd(in_shape)
    return BatchedSVD(S.singular_values, S.D, S.R, *(jax.jit(jax.vmap(f)) for f in (S.Vt, S.V, S.Ut, S.U)))


def jax_linear_maps(op: Operator, in_shape, with_svd: bool = True) -> BatchedLinearMaps:
    """`op` on inputs of shape `in_shape`, vmapped over a leading particle axis and jitted
    (one compilation per map instead of one per primitive when called eagerly).

    The SVD is formed only when `with_svd` (a dense one costs O(D^3) once); when `op.svd`
    raises `NoSVDError`, `svd` is None and `svd_error` holds its message."""
    in_shape = tuple(int(d) for d in in_shape)
    adjoint = None
    if op.adjoint_fn is not None:
        # `matrix`'s adjoint returns a flat vector: give it back the input's shape
        adjoint = jax.jit(jax.vmap(lambda y: jnp.reshape(op.adjoint(y), in_shape)))
    svd, err = None, "the SVD was not asked for (with_svd=False)"
    if with_svd:
        try:
            svd, err = _jax_svd(op, in_shape), ""
        except NoSVDError as e:
            err = str(e)
    return BatchedLinearMaps(in_shape, _out_shape(op, in_shape), jax.jit(jax.vmap(op)), adjoint, svd, err)


def dense_factors(op: Operator, in_shape: tuple):
    """(V (D, D), U (M, R), s (R,)) as float64 NumPy arrays, from the operator's own SVD, so
    that x ↦ V^T x is exactly `op.svd(in_shape).Vt` (same basis, same coefficient order).
    Formed under float64; raises `NoSVDError` when there is no SVD."""
    with jax.enable_x64(True):
        S = op.svd(in_shape)
        V = jax.vmap(S.V)(jnp.eye(S.D))            # row i = V(e_i) = column i of V
        U = jax.vmap(S.U)(jnp.eye(S.R))
        return (np.asarray(V).reshape(S.D, S.D).T, np.asarray(U).reshape(S.R, -1).T,
                np.asarray(S.singular_values, dtype=np.float64))
