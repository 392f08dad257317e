"""The shape of a forward operator's output (LANGUAGE.md §6), for the checker.

Images have height and width as their last two axes; operators act on those
and keep the axes before them.  `None` means the shape is not known statically.
"""

from __future__ import annotations

from typing import Callable, Optional

from . import ast

Shape = Optional[tuple]


def operator_shape(value, adjoint: bool, x: tuple, *, int_of: Callable, shape_of: Callable,
                   definition: Callable, depth: int = 0) -> Shape:
    """Shape of `A(x)` (or `A.T(x)` with `adjoint`) for the operator expression `value`
    applied to an argument of shape `x`; `int_of` and `shape_of` evaluate constant
    integers and expression shapes, `definition` maps an operator's name to its expression."""
    if depth > 8 or not isinstance(value, ast.Call):
        return None
    f = value.func
    if f in ("identity", "mask", "blur"):
        return x
    if f == "downsample" and not adjoint and len(x) >= 2:
        k = int_of(value.args[0]) if value.args else None
        if k and k > 0:
            return tuple(x[:-2]) + tuple(d // k if isinstance(d, int) and d % k == 0 else None for d in x[-2:])
        return None
    if f == "fft_mask" and len(x) >= 2:
        # real and imaginary parts of the measurements on an axis of 2 before height and width
        if adjoint:
            return tuple(x[:-3]) + tuple(x[-2:]) if len(x) >= 3 and x[-3] in (2, None) else None
        return tuple(x[:-2]) + (2,) + tuple(x[-2:])
    if f == "matrix" and value.args and len(x) == 1:
        m = shape_of(value.args[0])
        if m is not None and len(m) == 2:
            return (m[1],) if adjoint else (m[0],)
    if f == "compose" and len(value.args) == 2 and not adjoint:
        rec = dict(int_of=int_of, shape_of=shape_of, definition=definition, depth=depth + 1)
        inner = operator_shape(definition(value.args[1]), False, x, **rec)
        return None if inner is None else operator_shape(definition(value.args[0]), False, inner, **rec)
    return None
