"""Native PyTorch forms of the forward operators (torch is optional: only this module imports it).

`torch_linear_maps(op, in_shape, device, dtype)` rebuilds an `Operator` from its `parts` as
torch functions batched over a leading particle axis, so that a sampler driving a
torch.nn.Module score network never copies between frameworks per step.  Everything is
differentiable with autograd (DPS backpropagates through A).

What is native, what is dense:

- apply / adjoint: native for identity, mask, blur (`conv2d`), downsample, matrix, grayscale,
  fft_mask (`torch.fft`) and compose of those.  A linear operator the module does not know
  (an `Operator` built by hand, `parts == ()`) falls back to its dense matrix, formed once
  from JAX for inputs of size D ≤ 4096 (ValueError beyond).  A nonlinear `python(...)`
  operator is the user's own function, called as it is on the (P, *in_shape) batch: it
  must take and return torch tensors.
- SVD: the same basis, order and singular values as the JAX `op.svd(in_shape)` (so torch
  `Vt(x)` equals JAX `Vt(x)` to float tolerance, no sign or rotation freedom left).  The
  structured forms are ported natively (identity, mask, downsample, grayscale, fft_mask,
  separable blur: O(D) or O(D log D) memory and time, any size), reusing the JAX SVD's
  sorting permutation.  Every other SVD (non-separable blur, matrix, compose, hand-built
  linear operators with an `svd_fn`) is JAX's dense one, D ≤ 4096, materialised once as
  V (D, D) and U (M, R) and applied as matmuls.  When JAX has no SVD, `svd` is None and
  `BatchedLinearMaps.require_svd()` raises JAX's `NoSVDError` message.  Pass
  `with_svd=False` when no SVD is needed (a dense one costs O(D^3) to form).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import numpy as np
import torch
import torch.nn.functional as F

from augury.runtime import operators as ops
from augury.runtime.linear_maps import BatchedLinearMaps, BatchedSVD, _out_shape, dense_factors
from augury.runtime.operators import NoSVDError, Operator


class _Ctx(NamedTuple):
    device: torch.device
    dtype: torch.dtype

    def t(self, a) -> torch.Tensor:
        """A constant on the target device and dtype (complex stays complex)."""
        a = np.array(a)   # a writable copy: torch warns on (and must not alias) read-only NumPy views
        dt = self.dtype if not np.iscomplexobj(a) else (torch.complex128 if self.dtype == torch.float64 else torch.complex64)
        return torch.as_tensor(a, dtype=dt, device=self.device)

    def idx(self, a) -> torch.Tensor:
        return torch.as_tensor(np.array(a, dtype=np.int64), device=self.device)


class _Fwd(NamedTuple):
    apply: Callable
    adjoint: Optional[Callable]
    out_shape: tuple


# ---------------------------------------------------------------- forward maps

def _resolve_mask(m, shape) -> np.ndarray:
    """The mask (array or `LazyMask`) for this shape, as NumPy."""
    return np.asarray(ops._as_mask(m, shape))


def _identity_fwd(op, shape, ctx) -> _Fwd:
    return _Fwd(lambda x: x, lambda y: y, shape)


def _mask_fwd(op, shape, ctx) -> _Fwd:
    mt = ctx.t(_resolve_mask(op.parts[0], shape))
    return _Fwd(lambda x: mt * x, lambda y: mt * y, _out_shape(op, shape))


def _blur_fwd(op, shape, ctx) -> _Fwd:
    """conv2d is a correlation: A (convolution with k) correlates with flip(k); A^T with k."""
    k = ctx.t(np.asarray(op.parts[0]))
    kh, kw = k.shape
    fwd_w, adj_w = k.flip(0, 1).reshape(1, 1, kh, kw), k.reshape(1, 1, kh, kw)

    def conv(x, w):
        y = F.conv2d(x.reshape((-1, 1) + tuple(x.shape[-2:])), w, padding=(kh // 2, kw // 2))
        return y.reshape(x.shape)

    return _Fwd(lambda x: conv(x, fwd_w), lambda y: conv(y, adj_w), _out_shape(op, shape))


def _downsample_fwd(op, shape, ctx) -> _Fwd:
    f = int(op.parts[0])
    out = _out_shape(op, shape)

    def apply(x):
        h, w = x.shape[-2:]
        return x.reshape(tuple(x.shape[:-2]) + (h // f, f, w // f, f)).mean(dim=(-3, -1))

    def adjoint(y):
        return y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1) / (f * f)

    return _Fwd(apply, adjoint, out)


def _matrix_fwd(op, shape, ctx) -> _Fwd:
    return _dense_fwd_from(ctx.t(np.asarray(op.parts[0])), shape, _out_shape(op, shape))


def _dense_fwd_from(M: torch.Tensor, shape, out) -> _Fwd:
    """x ↦ M vec(x) on a batch: (P, D) @ M^T, and y ↦ M^T vec(y)."""
    return _Fwd(lambda x: (x.reshape(x.shape[0], -1) @ M.T).reshape((x.shape[0],) + out),
                lambda y: (y.reshape(y.shape[0], -1) @ M).reshape((y.shape[0],) + shape), out)


def _grayscale_fwd(op, shape, ctx) -> _Fwd:
    w = ctx.t(np.asarray(op.parts[0])).reshape(3, 1, 1)
    return _Fwd(lambda x: (w * x).sum(dim=-3, keepdim=True), lambda y: w * y, _out_shape(op, shape))


def _fft_mask_fwd(op, shape, ctx) -> _Fwd:
    """y = (Re, Im) of m ⊙ F x on a new axis -3; A^T y = Re F^H (m ⊙ (y_re + i y_im))."""
    mt = ctx.t(_resolve_mask(op.parts[0], shape[-2:]))

    def apply(x):
        k = mt * torch.fft.fft2(x, norm="ortho")
        return torch.stack([k.real, k.imag], dim=-3)

    def adjoint(y):
        k = torch.complex(y[..., 0, :, :], y[..., 1, :, :])
        return torch.fft.ifft2(mt * k, norm="ortho").real

    return _Fwd(apply, adjoint, _out_shape(op, shape))


def _compose_fwd(op, shape, ctx) -> _Fwd:
    A, B = op.parts
    fb = _forward(B, shape, ctx)
    fa = _forward(A, fb.out_shape, ctx)
    adj = (lambda y: fb.adjoint(fa.adjoint(y))) if fa.adjoint and fb.adjoint else None
    return _Fwd(lambda x: fa.apply(fb.apply(x)), adj, fa.out_shape)


def _python_fwd(op, shape, ctx) -> _Fwd:
    """The user's own (nonlinear) function, trusted to take a torch batch (P, *in_shape)."""
    try:
        with torch.no_grad():
            probe = op.apply(torch.zeros((1,) + shape, dtype=ctx.dtype, device=ctx.device))
    except Exception as e:   # noqa: BLE001 - any failure means "not a torch function"
        raise ValueError(f"operator `{op.name}` is not linear and could not be called on a torch "
                         f"tensor of shape {(1,) + shape}: {type(e).__name__}: {e}") from e
    if not isinstance(probe, torch.Tensor):
        raise ValueError(f"operator `{op.name}` is not linear and returned {type(probe).__name__}, "
                         "not a torch tensor, on a torch input")
    return _Fwd(op.apply, None, tuple(probe.shape[1:]))


def _dense_fwd(op, shape, ctx) -> _Fwd:
    """A linear operator known only as a JAX function: its explicit matrix, D ≤ 4096."""
    D = int(np.prod(shape))
    try:
        mat, out = ops._matrix_of(op, shape)
    except NoSVDError:
        raise ValueError(f"operator `{op.name}` has no PyTorch form for inputs of size "
                         f"D > {ops._DENSE_MAX} (got {D})") from None
    return _Fwd(*_dense_fwd_from(ctx.t(mat), shape, tuple(out))[:2], tuple(out))


_FORWARD = {"identity": _identity_fwd, "mask": _mask_fwd, "blur": _blur_fwd, "downsample": _downsample_fwd,
            "matrix": _matrix_fwd, "grayscale": _grayscale_fwd, "fft_mask": _fft_mask_fwd}


def _kind(op: Operator) -> str:
    """Which constructor built `op` (its name and `parts`); "dense" for an unknown linear one."""
    if op.name.startswith("compose(") and len(op.parts) == 2:
        return "compose"
    if not op.linear:
        return "python"
    if op.name in _FORWARD and len(op.parts) == (0 if op.name == "identity" else 1):
        return op.name
    return "dense"


def _forward(op: Operator, shape: tuple, ctx: _Ctx) -> _Fwd:
    kind = _kind(op)
    build = {"compose": _compose_fwd, "python": _python_fwd, "dense": _dense_fwd}.get(kind) or _FORWARD[kind]
    return build(op, shape, ctx)


# ---------------------------------------------------------------- SVDs
# A native SVD gives maps in the JAX SVD's "natural" coefficient order (see operators.SVD),
# batched over the particle axis; `_sorted_svd` applies the JAX SVD's own sorting.

class _Nat(NamedTuple):
    vt: Callable   # (P, *in_shape) -> (P, ...) natural coefficients, D of them
    v: Callable    # (P, D) natural -> (P, ...) input
    ut: Callable   # (P, *out_shape) -> (P, ...) K natural output coefficients
    u: Callable    # (P, K) -> (P, ...) output


def _identity_nat(op, shape, ctx) -> _Nat:
    flat = lambda z: z.reshape(z.shape[0], -1)
    return _Nat(flat, lambda c: c, flat, lambda c: c)


def _mask_nat(op, shape, ctx) -> _Nat:
    """V = a permutation (done by the sorting), s = |m|, U = sign(m) on the observed entries."""
    mv = np.broadcast_to(np.asarray(_resolve_mask(op.parts[0], shape), dtype=np.float64), shape)
    sign = ctx.t(np.where(mv < 0, -1.0, 1.0).reshape(-1))
    flat = lambda z: z.reshape(z.shape[0], -1)
    return _Nat(flat, lambda c: c, lambda y: sign * flat(y), lambda c: sign * c)


def _downsample_nat(op, shape, ctx) -> _Nat:
    """Per f×f block, the Householder reflection B with first column ones/f (as in JAX)."""
    f = int(op.parts[0])
    L, (H, W) = int(np.prod(shape[:-2])), shape[-2:]
    h, w, FF = H // f, W // f, f * f
    v = np.zeros(FF)
    v[0] = 1.0
    v -= np.full(FF, 1.0 / f)
    Bm = ctx.t(np.eye(FF) if f == 1 else np.eye(FF) - 2.0 * np.outer(v, v) / (v @ v))

    def vt(x):
        xb = x.reshape(x.shape[0], L, h, f, w, f).permute(0, 1, 2, 4, 3, 5)
        return xb.reshape(x.shape[0], L, h, w, FF) @ Bm

    def vv(c):
        xb = (c.reshape(c.shape[0], L, h, w, FF) @ Bm.T).reshape(c.shape[0], L, h, w, f, f)
        return xb.permute(0, 1, 2, 4, 3, 5)

    return _Nat(vt, vv, lambda y: y, lambda c: c)


def _grayscale_nat(op, shape, ctx) -> _Nat:
    """Per pixel, the SVD of the row w^T: U = u0 (±1), V^T the 3×3 from LAPACK (as in JAX)."""
    L, (H, W) = int(np.prod(shape[:-3])), shape[-2:]
    U, _, Vt = np.linalg.svd(np.asarray(op.parts[0], dtype=np.float64).reshape(1, 3), full_matrices=True)
    Vt, u0 = ctx.t(Vt), float(U[0, 0])
    r = lambda z: z.reshape(z.shape[0], L, 3, H, W)
    return _Nat(lambda x: torch.einsum("ij,bpjhw->bpihw", Vt, r(x)),
                lambda c: torch.einsum("ji,bpjhw->bpihw", Vt, r(c)),
                lambda y: u0 * y, lambda c: u0 * c)


def _separable(k) -> Optional[tuple]:
    """(a, b) with k = a b^T exactly (the test `operators._blur_svd` uses), else None."""
    k64 = np.asarray(k, dtype=np.float64)
    i, j = np.unravel_index(np.argmax(np.abs(k64)), k64.shape)
    a, b = k64[:, j], k64[i, :] / k64[i, j]
    return (a, b) if np.max(np.abs(k64 - np.outer(a, b))) <= 1e-14 * np.max(np.abs(k64)) else None


def _blur_nat(op, shape, ctx) -> _Nat:
    """Separable kernel only: A = A_h ⊗ A_w, the SVD is the Kronecker product of the 1-D ones."""
    ab = _separable(op.parts[0])
    L, (H, W) = int(np.prod(shape[:-2])), shape[-2:]
    Uh, _, Vh = (ctx.t(z) for z in np.linalg.svd(ops._shift_sum(ab[0], H)))
    Uw, _, Vw = (ctx.t(z) for z in np.linalg.svd(ops._shift_sum(ab[1], W)))
    r = lambda z: z.reshape(z.shape[0], L, H, W)
    return _Nat(lambda x: torch.einsum("ij,bpjk,lk->bpil", Vh, r(x), Vw),
                lambda c: torch.einsum("ji,bpjk,kl->bpil", Vh, r(c), Vw),
                lambda y: torch.einsum("ji,bpjk,kl->bpil", Uh, r(y), Uw),
                lambda c: torch.einsum("ij,bpjk,lk->bpil", Uh, r(c), Uw))


def _fft_mask_nat(op, shape, ctx) -> _Nat:
    """The real orthonormal Fourier basis of `operators._fft_mask_svd`: with X = F x, a
    self-conjugate k gives Re X[k]; a pair {k, -k} gives √2 Re X[k] at the smaller flat index
    and √2 Im X[-k] at the larger one."""
    L, (H, W) = int(np.prod(shape[:-2])), shape[-2:]
    mv = np.broadcast_to(np.real(np.asarray(_resolve_mask(op.parts[0], (H, W)), dtype=np.complex128)),
                         shape).reshape(L, H, W)
    ii, jj = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    ni, nj = (-ii) % H, (-jj) % W
    idx, nidx = ii * W + jj, ni * W + nj
    selfc, rep = idx == nidx, idx < nidx
    mn = mv[..., ni, nj]
    sig = np.where(selfc, np.abs(mv), np.sqrt((mv ** 2 + mn ** 2) / 2))
    inv = np.where(sig > 0, 1.0 / np.where(sig > 0, sig, 1.0), 0.0)
    r2 = float(np.sqrt(2.0))
    m_t, mn_t, inv_t = ctx.t(mv), ctx.t(mn), ctx.t(inv)
    self_t, rep_t = torch.as_tensor(selfc, device=ctx.device), torch.as_tensor(rep, device=ctx.device)
    ni_t, nj_t = ctx.idx(ni), ctx.idx(nj)
    neg = lambda z: z[..., ni_t, nj_t]
    r = lambda z: z.reshape(z.shape[0], L, H, W)

    def vt(x):
        X = torch.fft.fft2(r(x), norm="ortho")
        return torch.where(self_t, X.real, r2 * torch.where(rep_t, X.real, X.imag))

    def vv(c):
        c = r(c)
        cn = neg(c)
        pair = torch.where(rep_t, torch.complex(c, -cn), torch.complex(cn, c)) / r2
        Z = torch.where(self_t, torch.complex(c, torch.zeros_like(c)), pair)
        return torch.fft.ifft2(Z, norm="ortho").real

    def ut(y):
        y = y.reshape(y.shape[0], L, 2, H, W)
        R, I = y[:, :, 0], y[:, :, 1]
        pair = torch.where(rep_t, m_t * R + mn_t * neg(R), m_t * I - mn_t * neg(I)) / r2
        return inv_t * torch.where(self_t, m_t * R, pair)

    def uu(c):
        c = r(c)
        cn = neg(c)
        re = m_t * inv_t * torch.where(self_t, c, torch.where(rep_t, c, cn) / r2)
        im = m_t * inv_t * torch.where(self_t, torch.zeros_like(c), torch.where(rep_t, -cn, c) / r2)
        return torch.stack([re, im], dim=2)

    return _Nat(vt, vv, ut, uu)


_NATIVE_SVD = {"identity": _identity_nat, "mask": _mask_nat, "downsample": _downsample_nat,
               "grayscale": _grayscale_nat, "blur": _blur_nat, "fft_mask": _fft_mask_nat}


def _sorted_svd(nat: _Nat, S: ops.SVD, ctx: _Ctx) -> BatchedSVD:
    """The natural maps put in the JAX SVD's order: Vt = vt[perm], V = v(c[inv]),
    Ut = ut[out], U = u(c scattered to `out`)."""
    perm, inv, out = ctx.idx(S._perm), ctx.idx(S._inv), ctx.idx(S._out)
    in_shape, out_shape, K = S.in_shape, S.out_shape, S.K

    def U(c):
        full = torch.zeros((c.shape[0], K), dtype=c.dtype, device=c.device).index_copy(1, out, c)
        return nat.u(full).reshape((c.shape[0],) + out_shape)

    return BatchedSVD(ctx.t(np.asarray(S.singular_values)), S.D, S.R,
                      lambda x: nat.vt(x).reshape(x.shape[0], -1)[:, perm],
                      lambda c: nat.v(c[:, inv]).reshape((c.shape[0],) + in_shape),
                      lambda y: nat.ut(y).reshape(y.shape[0], -1)[:, out], U)


def _dense_svd(op: Operator, shape: tuple, out_shape: tuple, ctx: _Ctx) -> BatchedSVD:
    """JAX's SVD materialised: Vt x = V^T vec(x), V c = V c, Ut y = U^T vec(y), U c = U c."""
    V, U, s = (ctx.t(z) for z in dense_factors(op, shape))
    return BatchedSVD(s, V.shape[0], U.shape[1],
                      lambda x: x.reshape(x.shape[0], -1) @ V,
                      lambda c: (c @ V.T).reshape((c.shape[0],) + shape),
                      lambda y: y.reshape(y.shape[0], -1) @ U,
                      lambda c: (c @ U.T).reshape((c.shape[0],) + out_shape))


def _svd(op: Operator, shape: tuple, out_shape: tuple, ctx: _Ctx) -> BatchedSVD:
    """Native when the structure is known, else dense; raises `NoSVDError` as JAX does."""
    kind = _kind(op)
    native = _NATIVE_SVD.get(kind)
    if native is not None and (kind != "blur" or _separable(op.parts[0]) is not None):
        S = op.svd(shape)   # structured, cheap: its sorting and singular values (or NoSVDError)
        return _sorted_svd(native(op, shape, ctx), S, ctx)
    return _dense_svd(op, shape, out_shape, ctx)


def torch_linear_maps(op: Operator, in_shape, device=None, dtype=None, with_svd: bool = True) -> BatchedLinearMaps:
    """`op` on a torch batch (P, *in_shape), with constants on `device` in `dtype` (default:
    CPU, torch's default dtype).  See the module docstring for what is native."""
    ctx = _Ctx(torch.device(device if device is not None else "cpu"), dtype or torch.get_default_dtype())
    shape = tuple(int(d) for d in in_shape)
    svd, err = None, "the SVD was not asked for (with_svd=False)"
    # JAX only sets things up here: in float64, so that a user's float64 mask or matrix is not rounded
    with jax.enable_x64(True):
        fwd = _forward(op, shape, ctx)
        if not op.linear:
            err = f"operator `{op.name}` has no known SVD (it is not linear)"
        elif with_svd:
            try:
                svd, err = _svd(op, shape, fwd.out_shape, ctx), ""
            except NoSVDError as e:
                err = str(e)
    return BatchedLinearMaps(shape, fwd.out_shape, fwd.apply, fwd.adjoint, svd, err)
