"""The built-in functions of the language (LANGUAGE.md §4) on jax.numpy.

Each takes positional arrays (and a few keywords such as `axis`) and is
traced under `jit`/`vmap`; element-wise loops call them per element, so a
reduction such as `sum(x[n])` reduces one element's value.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp as _logsumexp


def _axis(kw):
    a = kw.get("axis")
    return None if a is None else int(a)


def _dims(args) -> tuple[int, ...]:
    dims = []
    for a in args:
        try:
            dims.append(int(a))
        except TypeError:  # a shape given as a tuple or array
            dims.extend(int(x) for x in jnp.ravel(jnp.asarray(a)).tolist())
    return tuple(dims)


def _min(x, y=None, axis=None):
    return jnp.min(x, axis=axis) if y is None else jnp.minimum(x, y)


def _max(x, y=None, axis=None):
    return jnp.max(x, axis=axis) if y is None else jnp.maximum(x, y)


def _diag(x):
    x = jnp.asarray(x)
    return jnp.diagonal(x, axis1=-2, axis2=-1) if x.ndim >= 2 else jnp.diag(x)


def _transpose(x):
    x = jnp.asarray(x)
    return x if x.ndim < 2 else jnp.swapaxes(x, -1, -2)


def _logdet(x):
    return jnp.linalg.slogdet(x)[1]


def _norm(x, axis=None):
    return jnp.sqrt(jnp.sum(jnp.square(x), axis=axis))


def _normalize(x):
    return x / jnp.sqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True))


def _dot(a, b):
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.ndim == 1 and b.ndim == 1:
        return jnp.sum(a * b)
    return jnp.matmul(a, b)


def exp_quad_cov(x, alpha, rho):
    """Squared-exponential covariance `alpha² exp(-|x_i - x_j|² / (2 rho²))`, as Stan's gp_exp_quad_cov."""
    x = jnp.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    d2 = jnp.sum(jnp.square(x[:, None, :] - x[None, :, :]), axis=-1)
    return jnp.square(alpha) * jnp.exp(-0.5 * d2 / jnp.square(rho))


def _softmax(x, axis=None):
    return jax.nn.softmax(x, axis=-1 if axis is None else axis)


def _log_softmax(x, axis=None):
    return jax.nn.log_softmax(x, axis=-1 if axis is None else axis)


def _reshape(x, *dims):
    return jnp.reshape(x, _dims(dims))


def _arrays(xs, name: str) -> list:
    """The arrays of `stack(arrays)` / `concat(arrays)`: a list or tuple of arrays, or one
    array whose first axis runs over them (as NumPy reads it)."""
    if isinstance(xs, (list, tuple)):
        if not xs:
            raise ValueError(f"`{name}` needs at least one array")
        return [jnp.asarray(x) for x in xs]
    xs = jnp.asarray(xs)
    if xs.ndim == 0:
        raise ValueError(f"`{name}` takes a list of arrays, not a scalar")
    return [xs[i] for i in range(xs.shape[0])]


def _concat(xs, axis=None):
    """`concat([a, b, ...], axis = 0)`: `numpy.concatenate`; the arrays agree except along `axis`."""
    arrays = _arrays(xs, "concat")
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("`concat` joins arrays along an existing axis; a scalar `s` is written `[s]`")
    return jnp.concatenate(arrays, axis=0 if axis is None else int(axis))


def _stack(xs, axis=None):
    """`stack([a, b, ...], axis = 0)`: `numpy.stack`; the arrays have one shape."""
    return jnp.stack(_arrays(xs, "stack"), axis=0 if axis is None else int(axis))


def _full(*args):
    *dims, value = args
    return jnp.full(_dims(dims), value)


def _arange(*args):
    return jnp.arange(*[int(a) for a in args])


def _linspace(a, b, n):
    return jnp.linspace(a, b, int(n))


def _eye(d):
    return jnp.eye(int(d))


FUNCTIONS: dict[str, Callable] = {
    "exp": jnp.exp, "log": jnp.log, "log1p": jnp.log1p, "expm1": jnp.expm1, "sqrt": jnp.sqrt,
    "abs": jnp.abs, "sin": jnp.sin, "cos": jnp.cos, "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid, "logit": jax.scipy.special.logit, "square": jnp.square,
    "softmax": _softmax, "log_softmax": _log_softmax,
    "sum": lambda x, axis=None: jnp.sum(x, axis=axis),
    "mean": lambda x, axis=None: jnp.mean(x, axis=axis),
    "prod": lambda x, axis=None: jnp.prod(x, axis=axis),
    "logsumexp": lambda x, axis=None: _logsumexp(x, axis=axis),
    "min": _min, "max": _max,
    "dot": _dot, "matmul": jnp.matmul, "transpose": _transpose,
    "reshape": _reshape, "concat": _concat, "stack": _stack,
    "ones": lambda *d: jnp.ones(_dims(d)), "zeros": lambda *d: jnp.zeros(_dims(d)), "full": _full,
    "eye": _eye, "arange": _arange, "linspace": _linspace,
    "norm": _norm, "normalize": _normalize, "clip": jnp.clip, "where": jnp.where,
    "diag": _diag, "cholesky": jnp.linalg.cholesky, "solve": jnp.linalg.solve,
    "logdet": _logdet, "inv": jnp.linalg.inv, "exp_quad_cov": exp_quad_cov,
}


def call_function(name: str, args: list, kwargs: dict):
    """Apply built-in `name`; `axis` is the only keyword most functions take."""
    f = FUNCTIONS[name]
    if "axis" in kwargs:
        kwargs = dict(kwargs, axis=_axis(kwargs))
    return f(*args, **kwargs)
