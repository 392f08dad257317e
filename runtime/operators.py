"""Forward operators (LANGUAGE.md §6): `A(x)`, and for linear ones the adjoint `A.T(y)`.

Images are arrays whose last two axes are height and width (channels, if
any, before them).  Operators act on the trailing axes and broadcast over the
rest.  Spectral decompositions (needed by DDRM, ΠGDM, MCGdiff) come with the
diffusion samplers; here each operator knows how to apply itself and its
adjoint.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Operator:
    """A named map x ↦ A(x); `adjoint` is None for a nonlinear operator."""

    name: str
    apply: Callable
    adjoint_fn: Optional[Callable] = None
    linear: bool = True

    def __call__(self, x):
        return self.apply(_array(x, self.name))

    def adjoint(self, y):
        y = _array(y, self.name)
        if self.adjoint_fn is None:
            raise ValueError(f"operator `{self.name}` is not linear, so it has no adjoint `.T`")
        return self.adjoint_fn(y)


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


def identity() -> Operator:
    return Operator("identity", lambda x: x, lambda y: y)


def mask(m) -> Operator:
    return Operator("mask", lambda x: _as_mask(m, x.shape) * x, lambda y: _as_mask(m, y.shape) * y)


def blur(kernel) -> Operator:
    k = jnp.asarray(kernel)
    # the adjoint of a zero-padded 'same' convolution is the correlation: the flipped kernel
    kf = k[::-1, ::-1]
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError("blur kernels must have odd height and width")
    return Operator("blur", lambda x: _conv_same(x, k), lambda y: _conv_same(y, kf))


def downsample(factor: int) -> Operator:
    f = int(factor)

    def apply(x):
        h, w = x.shape[-2:]
        return jnp.reshape(x, x.shape[:-2] + (h // f, f, w // f, f)).mean(axis=(-3, -1))

    def adjoint(y):
        return jnp.repeat(jnp.repeat(y, f, axis=-2), f, axis=-1) / (f * f)

    return Operator("downsample", apply, adjoint)


def matrix(M) -> Operator:
    M = jnp.asarray(M)
    return Operator("matrix", lambda x: M @ jnp.ravel(x) if jnp.ndim(x) != 1 else M @ x, lambda y: M.T @ y)


_GRAY = (0.299, 0.587, 0.114)


def grayscale() -> Operator:
    w = jnp.asarray(_GRAY, dtype=jnp.float32)[:, None, None]
    return Operator("grayscale", lambda x: jnp.sum(w * x, axis=-3, keepdims=True), lambda y: w * y)


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

    return Operator("fft_mask", apply, adjoint)


def compose(A: Operator, B: Operator) -> Operator:
    adj = (lambda y: B.adjoint(A.adjoint(y))) if A.linear and B.linear else None
    return Operator(f"compose({A.name}, {B.name})", lambda x: A(B(x)), adj, A.linear and B.linear)


def import_path(path: str):
    """Resolve `"pkg.module:attr"`, the only way a model file reaches Python code."""
    if ":" not in path:
        raise ValueError(f"`{path}` is not of the form \"package.module:attribute\"")
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


def python(path) -> Operator:
    fn = import_path(path) if isinstance(path, str) else path
    if isinstance(fn, Operator):
        return fn
    return Operator(str(path), fn, None, False)


OPERATOR_CONSTRUCTORS: dict[str, Callable] = {
    "identity": identity, "mask": mask, "blur": blur, "downsample": downsample, "matrix": matrix,
    "fft_mask": fft_mask, "grayscale": grayscale, "compose": compose, "python": python,
}

OPERATOR_HELPERS: dict[str, Callable] = {
    "gaussian_kernel": gaussian_kernel, "uniform_kernel": uniform_kernel,
    "random_mask": random_mask, "box_mask": box_mask,
}

