"""Forward operators (LANGUAGE.md §6): `A(x)`, and for linear ones the adjoint `A.T(y)`.

Images are arrays whose last two axes are height and width (channels, if
any, before them).  Operators act on the trailing axes and broadcast over the
rest.  Each operator knows how to apply itself and its adjoint, and linear ones
expose a spectral form `A.svd(shape)` (needed by DDRM, ΠGDM, MCGdiff and the
exact oracle); see `SVD`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Operator:
    """A named map x ↦ A(x); `adjoint` is None for a nonlinear operator.

    `parts` records what the constructor was built from (e.g. `(kernel,)` for `blur`, `(A, B)`
    for `compose`), so that other backends (runtime/backends/torch_ops.py) can rebuild it."""

    name: str
    apply: Callable
    adjoint_fn: Optional[Callable] = None
    linear: bool = True
    svd_fn: Optional[Callable] = None   # input shape -> SVD (may raise NoSVDError)
    # arrays are unhashable, and equality/hash/repr must stay what they were before `parts`
    parts: tuple = field(default=(), compare=False, repr=False)

    def svd(self, shape=None) -> "SVD":
        """The spectral form of this operator on inputs of shape `shape` (operators are
        shape-polymorphic, so the SVD depends on it; `matrix` can infer it).  Raises
        `NoSVDError` (a ValueError) naming the operator when none is known."""
        if self.svd_fn is None:
            raise NoSVDError(f"operator `{self.name}` has no known SVD"
                             + ("" if self.linear else " (it is not linear)"))
        return self.svd_fn(None if shape is None else tuple(int(d) for d in shape))

    def __call__(self, x):
        return self.apply(_array(x, self.name))

    def adjoint(self, y):
        y = _array(y, self.name)
        if self.adjoint_fn is None:
            raise ValueError(f"operator `{self.name}` is not linear, so it has no adjoint `.T`")
        return self.adjoint_fn(y)


class NoSVDError(ValueError):
    """Raised by `Operator.svd` when an operator has no (affordable) spectral form."""


_DENSE_MAX = 4096   # largest input size D for which a dense SVD is formed


class SVD:
    """A x = U(s ⊙ Vt(x)[:R]) for one input shape.

    - `singular_values` s: the R nonzero singular values, sorted in decreasing order
      (entries below `cutoff`·max(s) count as zero and are dropped: numpy.linalg.matrix_rank's
      rule, cutoff = max(m, n)·eps for the m × n matrix a numerical SVD decomposed, with eps
      that of the precision the operator's parameters are known to: float32's for float32
      parameters, whose rounding turns an exact zero into ~1e-8·max(s); by default
      max(D, M)·eps of float64, for the closed forms).
    - `Vt(x)`: x of shape `in_shape` -> (D,) coefficients in a FULL orthonormal basis of
      the input space (D = prod(in_shape)); the first R match s, the rest span the null
      space of A.  DDRM needs all D of them.  `V(c)`: (D,) -> `in_shape`, its inverse
      (V is orthogonal, so V = Vt^{-1} = Vt^T).
    - `Ut(y)`: y of shape `out_shape` -> (R,) coefficients of y on the left singular
      vectors of the nonzero singular values; `U(c)`: (R,) -> `out_shape`.  U^T U = I;
      U U^T is the projection onto the range of A.
    Everything is real (fft_mask uses a real orthonormal Fourier basis).  Inputs are
    unbatched: `jax.vmap` over the maps for a batch.  All maps are jax-traceable.

    Internally a form gives maps in a "natural" coefficient order (`vt_nat`, `v_nat` of
    length D with per-coordinate singular values `s_nat`, `ut_nat`, `u_nat` of length K,
    and `out_index[i]`: the output coordinate paired with input coordinate i, -1 if none);
    this class sorts them.
    """

    def __init__(self, in_shape, out_shape, s_nat, vt_nat, v_nat, ut_nat, u_nat, K, out_index,
                 cutoff: Optional[float] = None):
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        s_nat = np.asarray(s_nat, dtype=np.float64).reshape(-1)
        out_index = np.asarray(out_index).reshape(-1)
        D = s_nat.size
        M = int(np.prod(self.out_shape))
        cutoff = max(D, M) * _EPS64 if cutoff is None else float(cutoff)
        tol = cutoff * (float(s_nat.max()) if D else 0.0)
        nz = (s_nat > tol) & (out_index >= 0)
        idx = np.nonzero(nz)[0]
        idx = idx[np.argsort(-s_nat[idx], kind="stable")]
        perm = np.concatenate([idx, np.nonzero(~nz)[0]]).astype(np.int64)
        self.D, self.R, self.K = D, idx.size, int(K)
        self._perm, self._inv = jnp.asarray(perm), jnp.asarray(np.argsort(perm))
        self._out = jnp.asarray(out_index[idx].astype(np.int64))
        self.singular_values = jnp.asarray(s_nat[idx])
        self._vt, self._v, self._ut, self._u = vt_nat, v_nat, ut_nat, u_nat

    def Vt(self, x):
        return jnp.reshape(self._vt(jnp.reshape(x, self.in_shape)), (-1,))[self._perm]

    def V(self, c):
        return jnp.reshape(self._v(jnp.reshape(c, (self.D,))[self._inv]), self.in_shape)

    def Ut(self, y):
        return jnp.reshape(self._ut(jnp.reshape(y, self.out_shape)), (-1,))[self._out]

    def U(self, c):
        c = jnp.reshape(c, (self.R,))
        return jnp.reshape(self._u(jnp.zeros((self.K,), c.dtype).at[self._out].set(c)), self.out_shape)

    def apply(self, x):
        """A x through the spectral form."""
        return self.U(self.singular_values * self.Vt(x)[: self.R])


def _need_shape(shape, name, ndim=2):
    if shape is None or len(shape) < ndim:
        raise NoSVDError(f"operator `{name}`: its SVD needs an input shape with at least {ndim} axes, got {shape}")
    return shape


_EPS64 = float(np.finfo(np.float64).eps)


def _eps(*arrays) -> float:
    """Machine epsilon of the least precise of `arrays` (float64's for non-float data, which is exact)."""
    kinds = [np.asarray(a).dtype for a in arrays]
    return max([float(np.finfo(d).eps) for d in kinds if d.kind in "fc"] + [_EPS64])


def _dense_svd(mat, in_shape, out_shape, lead=(), eps=None):
    """SVD of I_P ⊗ mat (P = prod(lead)) acting on the trailing core of the shapes, computed in
    float64; singular values below max(m, n)·eps·max(s) for the m × n `mat` are zero, with
    `eps` the precision of the operator's parameters (by default `mat`'s own dtype)."""
    eps = _eps(mat) if eps is None else eps
    mat = np.asarray(mat, dtype=np.float64)
    Mo, Di = mat.shape
    P = int(np.prod(lead))
    U, s, Vt = np.linalg.svd(mat, full_matrices=True)
    r = s.size
    s_pad = np.zeros(Di)
    s_pad[:r] = s
    oi = np.full(Di, -1)
    oi[:r] = np.arange(r)
    out_index = np.where(oi[None, :] >= 0, np.arange(P)[:, None] * Mo + oi[None, :], -1)
    U, Vt = jnp.asarray(U), jnp.asarray(Vt)
    return SVD(in_shape, out_shape, np.tile(s_pad, P),
               lambda x: jnp.reshape(x, (P, Di)) @ Vt.T,
               lambda c: jnp.reshape(c, (P, Di)) @ Vt,
               lambda y: jnp.reshape(y, (P, Mo)) @ U,
               lambda c: jnp.reshape(c, (P, Mo)) @ U.T,
               P * Mo, out_index, max(Mo, Di) * eps)


def _param_eps(op) -> float:
    """Machine epsilon of the least precise array an operator (or its parts) was built from."""
    return max([_param_eps(p) if isinstance(p, Operator) else _eps(np.zeros(0, p.dtype))
                for p in op.parts if isinstance(p, Operator) or hasattr(p, "dtype")] + [_EPS64])


def _matrix_of(op, core_shape):
    """The explicit matrix of a linear operator on inputs of shape `core_shape`, formed in
    float64 (exact for its float32 parameters; its SVD's rank cutoff is at `_param_eps(op)`)."""
    D = int(np.prod(core_shape))
    if D > _DENSE_MAX:
        raise NoSVDError(f"operator `{op.name}`: no structured SVD, and a dense one is only formed for "
                         f"inputs of size ≤ {_DENSE_MAX} (got {D})")
    with jax.enable_x64(True):
        basis = jnp.reshape(jnp.eye(D, dtype=jnp.float64), (D,) + tuple(core_shape))
        cols = jax.vmap(op)(basis)
        mat = np.asarray(jnp.reshape(cols, (D, -1)), dtype=np.float64).T
    return mat, tuple(cols.shape[1:])


def _array(x, name: str):
    """Operators take arrays, never strings or other objects (a model file cannot hand a
    Python function a command line)."""
    if isinstance(x, (str, bytes)) or not (hasattr(x, "shape") or isinstance(x, (int, float, list, tuple))):
        raise TypeError(f"operator `{name}` takes an array, not {type(x).__name__}")
    return x


def _as_mask(m, shape):
    return m(shape) if callable(m) else jnp.asarray(m)


class LazyMask:
    """A mask whose shape is only known when the operator is applied."""

    def __init__(self, make):
        self.make = make

    def __call__(self, shape):
        return jnp.asarray(self.make(tuple(shape)))


def random_mask(p: float = 0.5, seed: int = 0) -> LazyMask:
    """Keeps each pixel with probability `p` (fixed by `seed`, shared across channels)."""
    def make(shape):
        hw = shape[-2:] if len(shape) >= 2 else shape
        m = (np.random.default_rng(int(seed)).random(hw) < float(p)).astype(np.float32)
        return np.broadcast_to(m, shape)
    return LazyMask(make)


def box_mask(top: int = 0, left: int = 0, height: int = 1, width: int = 1) -> LazyMask:
    """Hides the box [top, top+height) × [left, left+width) of the last two axes."""
    def make(shape):
        m = np.ones(shape, dtype=np.float32)
        m[..., int(top):int(top) + int(height), int(left):int(left) + int(width)] = 0.0
        return m
    return LazyMask(make)


def gaussian_kernel(size: int = 7, std: float = 1.0):
    r = (int(size) - 1) / 2.0
    g = np.exp(-0.5 * (np.arange(int(size)) - r) ** 2 / float(std) ** 2)
    k = np.outer(g, g)
    return jnp.asarray(k / k.sum(), dtype=jnp.float32)


def uniform_kernel(size: int = 3):
    return jnp.full((int(size), int(size)), 1.0 / int(size) ** 2, dtype=jnp.float32)


def _conv_same(x, k):
    """2-D 'same' convolution with zero padding over the last two axes."""
    lead = x.shape[:-2]
    x2 = jnp.reshape(x, (-1,) + x.shape[-2:])
    y = jax.vmap(lambda im: jax.scipy.signal.convolve2d(im, k, mode="same"))(x2)
    return jnp.reshape(y, lead + y.shape[-2:])


def _identity_svd(shape):
    if shape is None:
        raise NoSVDError("operator `identity`: its SVD needs an input shape")
    D = int(np.prod(shape))
    flat = lambda z: jnp.reshape(z, (-1,))
    shp = lambda c: jnp.reshape(c, shape)
    return SVD(shape, shape, np.ones(D), flat, shp, flat, shp, D, np.arange(D))


def identity() -> Operator:
    return Operator("identity", lambda x: x, lambda y: y, svd_fn=_identity_svd, parts=())


def _mask_svd(m, shape):
    if shape is None:
        raise NoSVDError("operator `mask`: its SVD needs an input shape")
    mv = np.broadcast_to(np.asarray(_as_mask(m, shape), dtype=np.float64), shape)
    D = mv.size
    sign = jnp.asarray(np.where(mv < 0, -1.0, 1.0))
    # V = a permutation (observed entries first), s = |m|, U = sign(m) on the observed entries
    return SVD(shape, shape, np.abs(mv).reshape(-1),
               lambda x: jnp.reshape(x, (-1,)), lambda c: jnp.reshape(c, shape),
               lambda y: jnp.reshape(sign * y, (-1,)), lambda c: sign * jnp.reshape(c, shape),
               D, np.arange(D))


def mask(m) -> Operator:
    return Operator("mask", lambda x: _as_mask(m, x.shape) * x, lambda y: _as_mask(m, y.shape) * y,
                    svd_fn=lambda shape: _mask_svd(m, shape), parts=(m,))


def blur(kernel) -> Operator:
    k = jnp.asarray(kernel)
    # the adjoint of a zero-padded 'same' convolution is the correlation: the flipped kernel
    kf = k[::-1, ::-1]
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError("blur kernels must have odd height and width")
    op = Operator("blur", lambda x: _conv_same(x, k), lambda y: _conv_same(y, kf))
    return Operator("blur", op.apply, op.adjoint_fn, svd_fn=lambda shape: _blur_svd(op, k, shape), parts=(k,))


def _shift_sum(taps, n):
    """n×n matrix of the 1-D zero-padded 'same' convolution with odd-length `taps`."""
    c = (len(taps) - 1) // 2
    return sum(t * np.eye(n, k=-(p - c)) for p, t in enumerate(taps))


def _blur_svd(op, k, shape):
    """Zero-padded 'same' convolution is NOT circular, so the FFT does not diagonalise it.
    A separable (exactly rank-1) kernel a b^T gives A = A_h ⊗ A_w, whose SVD is the
    Kronecker product of two small SVDs (O(D·(H+W)) per application); any other kernel
    gets a dense SVD of the explicit matrix for H·W ≤ 4096 (O((HW)^2) per application)."""
    shape = _need_shape(shape, "blur")
    lead, (H, W) = shape[:-2], shape[-2:]
    P = int(np.prod(lead))
    k64 = np.asarray(k, dtype=np.float64)
    i, j = np.unravel_index(np.argmax(np.abs(k64)), k64.shape)
    a, b = k64[:, j], k64[i, :] / k64[i, j]
    if np.max(np.abs(k64 - np.outer(a, b))) <= 1e-14 * np.max(np.abs(k64)):
        Uh, sh, Vh = (jnp.asarray(z) for z in np.linalg.svd(_shift_sum(a, H)))
        Uw, sw, Vw = (jnp.asarray(z) for z in np.linalg.svd(_shift_sum(b, W)))
        s_nat = np.broadcast_to(np.outer(np.asarray(sh), np.asarray(sw)), (P, H, W))
        r3 = lambda z: jnp.reshape(z, (P, H, W))
        return SVD(shape, shape, s_nat,
                   lambda x: jnp.einsum("ij,pjk,lk->pil", Vh, r3(x), Vw),
                   lambda c: jnp.einsum("ji,pjk,kl->pil", Vh, r3(c), Vw),
                   lambda y: jnp.einsum("ji,pjk,kl->pil", Uh, r3(y), Uw),
                   lambda c: jnp.einsum("ij,pjk,lk->pil", Uh, r3(c), Uw),
                   P * H * W, np.arange(P * H * W), max(H, W) * _eps(k))
    mat, _ = _matrix_of(op, (H, W))
    return _dense_svd(mat, shape, shape, lead, _param_eps(op))


def _positive_int(value, what: str) -> int:
    """`value` as a positive integer, or a ValueError saying what was expected."""
    v = np.asarray(value)
    if v.ndim != 0 or v.dtype.kind not in "iuf" or (v.dtype.kind == "f" and not float(v).is_integer()) or v < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(v)


def downsample(factor: int) -> Operator:
    f = _positive_int(factor, "the downsampling factor")

    def apply(x):
        if jnp.ndim(x) < 2 or x.shape[-2] % f or x.shape[-1] % f:
            raise ValueError(f"`downsample({f})` needs an image whose last two axes are multiples of {f} "
                             f"(e.g. {(2 * f, 2 * f)}), got shape {tuple(jnp.shape(x))}")
        h, w = x.shape[-2:]
        return jnp.reshape(x, x.shape[:-2] + (h // f, f, w // f, f)).mean(axis=(-3, -1))

    def adjoint(y):
        return jnp.repeat(jnp.repeat(y, f, axis=-2), f, axis=-1) / (f * f)

    return Operator("downsample", apply, adjoint, svd_fn=lambda shape: _downsample_svd(f, shape), parts=(f,))


def _downsample_svd(f, shape):
    """Block structure: per f×f block, V is a Householder reflection whose first column is
    the normalised ones vector (s = 1/f); U is the identity on the output pixels."""
    shape = _need_shape(shape, "downsample")
    lead, (H, W) = shape[:-2], shape[-2:]
    if H % f or W % f:
        raise NoSVDError(f"operator `downsample`: factor {f} does not divide the image size {(H, W)}")
    P, h, w, F = int(np.prod(lead)), H // f, W // f, f * f
    v = np.zeros(F)
    v[0] = 1.0
    v -= np.full(F, 1.0 / f)
    B = np.eye(F) if f == 1 else np.eye(F) - 2.0 * np.outer(v, v) / (v @ v)
    B = jnp.asarray(B)
    s_nat = np.zeros((P * h * w, F))
    s_nat[:, 0] = 1.0 / f
    out_index = np.full((P * h * w, F), -1)
    out_index[:, 0] = np.arange(P * h * w)

    def vt(x):
        xb = jnp.transpose(jnp.reshape(x, (P, h, f, w, f)), (0, 1, 3, 2, 4))
        return jnp.reshape(xb, (P, h, w, F)) @ B

    def vv(c):
        xb = jnp.reshape(jnp.reshape(c, (P, h, w, F)) @ B.T, (P, h, w, f, f))
        return jnp.transpose(xb, (0, 1, 3, 2, 4))

    out_shape = lead + (h, w)
    return SVD(shape, out_shape, s_nat, vt, vv, lambda y: y, lambda c: c, P * h * w, out_index)


def matrix(M) -> Operator:
    M = jnp.asarray(M)
    if M.ndim != 2:
        raise ValueError(f"`matrix` needs a 2-D array (rows × columns), got shape {tuple(M.shape)}")

    def apply(x):
        if int(np.prod(jnp.shape(x))) != M.shape[1]:
            raise ValueError(f"`matrix` of shape {tuple(M.shape)} takes inputs of {M.shape[1]} entries, got shape "
                             f"{tuple(jnp.shape(x))} ({int(np.prod(jnp.shape(x)))} entries)")
        return M @ jnp.ravel(x)

    def adjoint(y):
        if tuple(jnp.shape(y)) != (M.shape[0],):
            raise ValueError(f"`matrix` of shape {tuple(M.shape)}: its adjoint takes vectors of shape "
                             f"{(M.shape[0],)}, got shape {tuple(jnp.shape(y))}")
        return M.T @ y

    def svd_fn(shape):
        shape = (M.shape[1],) if shape is None else shape
        if int(np.prod(shape)) != M.shape[1]:
            raise NoSVDError(f"operator `matrix`: input shape {shape} does not have {M.shape[1]} entries")
        return _dense_svd(np.asarray(M), shape, (M.shape[0],))   # the cutoff at M's own precision

    return Operator("matrix", apply, adjoint, svd_fn=svd_fn, parts=(M,))


_GRAY = (0.299, 0.587, 0.114)


def grayscale() -> Operator:
    w = jnp.asarray(_GRAY, dtype=jnp.float32)[:, None, None]
    return Operator("grayscale", lambda x: jnp.sum(w * x, axis=-3, keepdims=True), lambda y: w * y,
                    svd_fn=lambda shape: _grayscale_svd(w, shape), parts=(w[:, 0, 0],))


def _grayscale_svd(w, shape):
    """Per pixel, the dense SVD of the 1×3 row w^T (s = |w|); I ⊗ that over pixels."""
    shape = _need_shape(shape, "grayscale", 3)
    if shape[-3] != 3:
        raise NoSVDError(f"operator `grayscale`: needs 3 channels on axis -3, got shape {shape}")
    lead, (H, W) = shape[:-3], shape[-2:]
    P = int(np.prod(lead))
    wv = np.asarray(w, dtype=np.float64).reshape(1, 3)
    U, s, Vt = np.linalg.svd(wv, full_matrices=True)    # U (1,1), s (1,), Vt (3,3)
    Vt, u0 = jnp.asarray(Vt), float(U[0, 0])
    s_nat = np.zeros((P, 3, H, W))
    s_nat[:, 0] = s[0]
    out_index = np.full((P, 3, H, W), -1)
    out_index[:, 0] = np.arange(P * H * W).reshape(P, H, W)
    r = lambda z, c: jnp.reshape(z, (P, c, H, W))
    return SVD(shape, lead + (1, H, W), s_nat,
               lambda x: jnp.einsum("ij,pjhw->pihw", Vt, r(x, 3)),
               lambda c: jnp.einsum("ji,pjhw->pihw", Vt, r(c, 3)),
               lambda y: u0 * y, lambda c: u0 * c, P * H * W, out_index)


def fft_mask(m) -> Operator:
    """Subsampled 2-D Fourier measurements, `m ⊙ F x` with the unitary DFT over height and
    width, as real numbers: real and imaginary parts on a new axis of size 2 just before
    height and width, so x of shape (..., H, W) gives y of shape (..., 2, H, W)."""
    def apply(x):
        k = _as_mask(m, x.shape[-2:]) * jnp.fft.fft2(x, norm="ortho")
        return jnp.stack([jnp.real(k), jnp.imag(k)], axis=-3)

    def adjoint(y):
        # the real inner product of the stacked parts is Re<·,·>, so the adjoint is Re(F^H m ⊙ ·)
        k = jax.lax.complex(y[..., 0, :, :], y[..., 1, :, :])
        return jnp.real(jnp.fft.ifft2(_as_mask(m, k.shape[-2:]) * k, norm="ortho"))

    return Operator("fft_mask", apply, adjoint, svd_fn=lambda shape: _fft_mask_svd(m, shape), parts=(m,))


def _fft_mask_svd(m, shape):
    """A real orthonormal Fourier basis.  With X = F x (unitary DFT) and -k the negated
    frequency (mod H, W): a self-conjugate k (k = -k) contributes the coefficient Re X[k]
    (s = |m_k|); each pair {k, -k} contributes √2 Re X[k] at the smaller flat index and
    √2 Im X[-k] at the larger one, both with s = sqrt((m_k² + m_{-k}²)/2) (so 1 or 1/√2
    for a 0/1 mask).  O(D log D) per application."""
    shape = _need_shape(shape, "fft_mask")
    lead, (H, W) = shape[:-2], shape[-2:]
    P = int(np.prod(lead))
    mv = np.broadcast_to(np.real(np.asarray(_as_mask(m, (H, W)), dtype=np.complex128)), shape).reshape(P, H, W)
    ii, jj = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    ni, nj = (-ii) % H, (-jj) % W
    idx, nidx = ii * W + jj, ni * W + nj
    selfc, rep = idx == nidx, idx < nidx
    neg = lambda z: z[..., ni, nj]
    mn = neg(mv)
    sig = np.where(selfc, np.abs(mv), np.sqrt((mv ** 2 + mn ** 2) / 2))
    inv = np.where(sig > 0, 1.0 / np.where(sig > 0, sig, 1.0), 0.0)
    r2 = np.sqrt(2.0)
    m_j, mn_j, inv_j = jnp.asarray(mv), jnp.asarray(mn), jnp.asarray(inv)
    selfj, repj = jnp.asarray(selfc), jnp.asarray(rep)

    def vt(x):
        X = jnp.fft.fft2(jnp.reshape(x, (P, H, W)), norm="ortho")
        return jnp.where(selfj, jnp.real(X), r2 * jnp.where(repj, jnp.real(X), jnp.imag(X)))

    def vv(c):
        c = jnp.reshape(c, (P, H, W))
        cn = neg(c)
        Z = jnp.where(selfj, c + 0j, jnp.where(repj, c - 1j * cn, cn + 1j * c) / r2)
        return jnp.real(jnp.fft.ifft2(Z, norm="ortho"))

    def ut(y):
        y = jnp.reshape(y, (P, 2, H, W))
        R, I = y[:, 0], y[:, 1]
        pair = jnp.where(repj, m_j * R + mn_j * neg(R), m_j * I - mn_j * neg(I)) / r2
        return inv_j * jnp.where(selfj, m_j * R, pair)

    def uu(c):
        c = jnp.reshape(c, (P, H, W))
        cn = neg(c)
        re = m_j * inv_j * jnp.where(selfj, c, jnp.where(repj, c, cn) / r2)
        im = m_j * inv_j * jnp.where(selfj, 0.0, jnp.where(repj, -cn, c) / r2)
        return jnp.stack([re, im], axis=1)

    return SVD(shape, lead + (2, H, W), sig, vt, vv, ut, uu, P * H * W, np.arange(P * H * W))


def compose(A: Operator, B: Operator) -> Operator:
    adj = (lambda y: B.adjoint(A.adjoint(y))) if A.linear and B.linear else None
    op = Operator(f"compose({A.name}, {B.name})", lambda x: A(B(x)), adj, A.linear and B.linear, parts=(A, B))
    if not op.linear:
        return op

    def svd_fn(shape):
        """Dense SVD of the product when the input size D ≤ 4096."""
        if shape is None:
            raise NoSVDError(f"operator `{op.name}`: its SVD needs an input shape")
        mat, out_shape = _matrix_of(op, shape)
        return _dense_svd(mat, shape, out_shape, eps=_param_eps(op))

    return Operator(op.name, op.apply, op.adjoint_fn, True, svd_fn, parts=(A, B))


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_IMPORT_PATH = re.compile(rf"{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*")


def import_path(path: str):
    """Resolve `"pkg.module:attr"`, the only way a model file reaches Python code."""
    if not isinstance(path, str) or not _IMPORT_PATH.fullmatch(path):  # names only: no code, no relative or empty parts
        raise ValueError(f"`{path}` is not of the form \"package.module:attribute\" (dotted Python names, "
                         "nothing else)")
    mod, attr = path.split(":", 1)
    # never from the current folder: a stray `os.py` there must not be what a model imports
    here = {"", ".", os.getcwd()}
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in here]
    try:
        obj = importlib.import_module(mod)
    finally:
        sys.path[:] = saved
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class OperatorError(ValueError):
    """The user's Python operator raised; the message names it and what it raised."""


def python(path) -> Operator:
    """The user's function (or a bound one) as a nonlinear operator.  An exception it raises
    becomes an `OperatorError` naming it and the exception (the compiler places it at the
    model line that applies it), not a traceback from inside the sampler."""
    fn = import_path(path) if isinstance(path, str) else path
    if isinstance(fn, Operator):
        return fn
    what = f'`python("{path}")`' if isinstance(path, str) else f"the bound function `{getattr(fn, '__name__', fn)}`"

    def apply(x):
        try:
            return fn(x)
        except Exception as ex:  # the user's code: any failure is reported as theirs
            msg = str(ex).splitlines()[0] if str(ex) else ""
            raise OperatorError(f"{what} raised {type(ex).__name__}" + (f": {msg}" if msg else "")) from None

    return Operator(str(path), apply, None, False, parts=())


OPERATOR_CONSTRUCTORS: dict[str, Callable] = {
    "identity": identity, "mask": mask, "blur": blur, "downsample": downsample, "matrix": matrix,
    "fft_mask": fft_mask, "grayscale": grayscale, "compose": compose, "python": python,
}

OPERATOR_HELPERS: dict[str, Callable] = {
    "gaussian_kernel": gaussian_kernel, "uniform_kernel": uniform_kernel,
    "random_mask": random_mask, "box_mask": box_mask,
}

