"""Errors raised while a model is bound and lowered: check errors at a span of the model's source."""

from __future__ import annotations

import numpy as np

from augury.errors import AuguryCheckError

from .structure import Structure


def lowering_error(s: Structure, msg: str, span, notes=()) -> AuguryCheckError:
    return AuguryCheckError(msg, span, list(notes), source=s.source)


def concrete_int(v, what: str, span, s: Structure) -> int:
    """`v` as a Python int, or an error saying that `what` must be known when data is bound."""
    try:
        return int(np.asarray(v))
    except Exception:
        raise lowering_error(s, f"{what} must be known when data is bound", span) from None
