"""The types pass of `check` (pass 2): type names and their sizes, constant bounds,
`missing` markers, const values and run-time const overrides.  Sizes must be integers
known before sampling, bounds must be ordered, and an override must fit the const it
replaces; a malformed const is made quiet so that later passes say nothing more about it."""

from __future__ import annotations

import numpy as np

from . import ast
from .check import KIND_ARTICLE, Checker, Symbol, _fmt_number, constant, numeric, suggest
from .signatures import TYPES
from .types import UNEVALUATED, NotConstant, as_int, const_eval


def check_types(ck: Checker):
    for name in list(ck.overrides):
        _check_override(ck, name)
    for sym in list(ck.symbols.values()):   # first, so that a malformed const is quiet where sizes read it
        if sym.kind == "const":
            _check_const(ck, sym)
    for sym in list(ck.symbols.values()):
        if sym.kind not in ("const", "data", "param"):
            continue
        if sym.type is not None:
            check_type(ck, sym)
        if sym.kind == "data":
            _check_missing(ck, sym)


def check_type(ck: Checker, sym: Symbol):
    ty = sym.type
    sig = TYPES.get(ty.base)
    base_span = ast.Span(ty.span.file, ty.span.line, ty.span.col, ty.span.line, ty.span.col + len(ty.base))
    for d in ty.dims:
        _check_size(ck, d, sym)
    if sig is None:
        ck.error(f"unknown type `{ty.base}`", base_span,
                 suggest(ty.base, TYPES) or f"the types are {', '.join(TYPES)}")
        return
    if sig.n_args == 0 and ty.args:
        ck.error(f"`{ty.base}` takes no size", ty.args[0].span,
                 f"an array of {ty.base} is written `{ty.base}[{ck.text(ty.args[0])}]`"
                 + ("; bounds are written `real(lower = 0, upper = 1)`" if ty.base in ("real", "int") else ""))
    elif sig.n_args == 1 and not ty.args:
        ck.error(f"`{ty.base}` needs a size", base_span, f"write `{ty.base}(K)`, with the number of "
                 + ("categories" if ty.base == "category" else "dimensions") + " as K")
    elif sig.n_args == 1 and len(ty.args) > 1:
        ck.error(f"`{ty.base}` takes one size, not {len(ty.args)}", ty.args[1].span,
                 f"an array of {ty.base} is written `{ty.base}({ck.text(ty.args[0])})[M]`")
    elif sig.n_args == 1:
        _check_size(ck, ty.args[0], sym)
    for key, value in ty.kwargs:
        if key not in sig.kwargs:
            if sig.kwargs:
                ck.error(f"unknown bound `{key}` for `{ty.base}`", ck.kw_span(key, value),
                         suggest(key, sig.kwargs) or f"`{ty.base}` takes `lower =` and `upper =`")
            else:
                ck.error(f"`{ty.base}` takes no bounds", ck.kw_span(key, value),
                         f"write `real({key} = {ck.text(value)})` for a bounded real")
    _check_bounds(ck, sym)


def _check_bounds(ck: Checker, sym: Symbol):
    """Constant bounds of `real(lower = A, upper = B)`: numbers, and A < B (A <= B for int)."""
    ty = sym.type
    if ty.base not in ("real", "int"):
        return
    vals, raws = {}, {}
    for key in ("lower", "upper"):
        e = ty.kwarg(key)
        raw = constant(ck, e)
        arr = numeric(raw)
        if arr is None:
            continue
        if np.isnan(arr).any():
            ck.error(f"the {key} bound of `{sym.name}` is nan", e.span, "a bound is a number, or `inf`")
            return
        vals[key], raws[key] = arr, raw
    if len(vals) < 2:
        return
    lo, hi = vals["lower"], vals["upper"]
    try:
        bad = lo >= hi if ty.base == "real" else lo > hi
        bad = np.broadcast_to(bad, np.broadcast_shapes(lo.shape, hi.shape))
    except ValueError:
        return
    if bad.any():
        from .check_calls import _element
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        lv, hv = _element(raws["lower"], first), _element(raws["upper"], first)
        where = f" (at index {list(first)})" if first else ""
        rel = "less than" if ty.base == "real" else "at most"
        e = ty.kwarg("upper")
        ck.error(f"the lower bound of `{sym.name}` must be {rel} its upper bound, got lower = {_fmt_number(lv)} "
                 f"and upper = {_fmt_number(hv)}{where}", e.span,
                 f"`{sym.name}` is declared {ck.type_text(ty)}; swap the bounds if they are the wrong way round")


def _check_size(ck: Checker, e, owner: Symbol):
    """A size must be an integer known when data is bound."""
    for n in ast.walk_expr(e):
        if not isinstance(n, ast.Name):
            continue
        sym = ck.symbols.get(n.id)
        if sym is None or sym.kind == "size" or sym.quiet:
            continue
        bad = None
        if sym.kind in ("param", "let", "op"):
            bad = f"`{n.id}` is {KIND_ARTICLE[sym.kind]}"
        elif sym.kind == "data" and sym.type is not None and (sym.type.base != "int" or sym.type.dims):
            bad = f"`{n.id}` is declared {ck.type_text(sym.type)}"
        if bad:
            ck.error(f"the size `{ck.text(e)}` is not an integer known before sampling", n.span,
                     f"{bad}; sizes are integer consts, scalar `int` data, or size names")
            return
    consts = [n.id for n in ast.walk_expr(e) if isinstance(n, ast.Name) and n.id in ck.symbols
              and ck.symbols[n.id].kind == "const"]
    if any(ck.symbols[c].quiet for c in consts):
        return
    v = constant(ck, e)
    if v is UNEVALUATED:
        return
    i = as_int(v)
    if isinstance(e, ast.Num) and not e.is_int:
        i = None   # `real[3.0]`: a real literal is not a size
    if i is not None and 0 <= i <= MAX_SIZE:
        return
    shown = _fmt_number(v)
    if i is not None and i > MAX_SIZE:
        message = f"a size must be at most {MAX_SIZE}, got {shown}"
    else:
        message = f"a size must be a non-negative integer, got {shown}"
    notes = []
    overridden = [c for c in dict.fromkeys(consts) if c in ck.overrides]
    if not isinstance(e, ast.LITERALS) and ck.text(e) != shown and overridden != [ck.text(e)]:
        notes.append(f"`{ck.text(e)}` is {shown}")
    for c in overridden:
        notes.append(f"`{c}` is set to {_fmt_number(ck.const_value(c))} by a run-time override of the const "
                     f"declared at {ck.where(ck.symbols[c].span)}")
    ck.error(message, e.span, *notes)


MAX_SIZE = 2 ** 31 - 1
"""The largest size (Stan's int range); the data binder refuses sizes that do not fit in memory."""


def _fmt_value(v) -> str:
    if np.ndim(v) == 0:
        return f"{v!r}" if not isinstance(v, (np.generic,)) else f"{v.item()!r}"
    return f"an array of shape {tuple(np.shape(v))}"


def _check_missing(ck: Checker, sym: Symbol):
    d: ast.DataDecl = sym.stmt
    if not d.has_missing or d.type.base not in TYPES:
        return
    tsig = TYPES[d.type.base]
    full = f"data {d.name} : {ck.type_text(d.type)} missing"
    if d.missing is None:
        if tsig.discrete:
            ck.error(f"`{d.name}` needs an explicit missing marker", ck.word_span(d.span, "missing"),
                     f"`missing` alone means nan, which {d.type.base} values cannot hold; write the marker, "
                     f"e.g. `{full} -1`")
        return
    m = d.missing
    if tsig.discrete and isinstance(m, ast.Num) and (not m.is_int):
        what = "nan" if np.isnan(m.value) else ck.text(m)
        ck.error(f"the missing marker `{what}` cannot be stored in {d.type.base} data `{d.name}`", m.span,
                 f"use an integer that never occurs in the data, e.g. `{full} -1`")
    elif isinstance(m, ast.Bool) and d.type.base != "bool":
        ck.error(f"the missing marker of `{d.name}` is a bool, but `{d.name}` is declared "
                 f"{ck.type_text(d.type)}", m.span,
                 f"use a number, e.g. `{full} {'-1' if tsig.discrete else 'nan'}`")


def _check_const(ck: Checker, sym: Symbol):
    c: ast.ConstDecl = sym.stmt
    for n in ast.walk_expr(c.value):
        if isinstance(n, ast.Name) and n.id in ck.symbols:
            other = ck.symbols[n.id]
            if other.kind != "const":
                ck.error(f"const `{c.name}` is not computable before sampling", n.span,
                         f"it reads `{n.id}`, which is {KIND_ARTICLE[other.kind]}; a const is computed from "
                         f"literals and other consts only: use `let {c.name} = ...` instead")
                return
    if ck.symbols[c.name].type is not None and c.name not in ck.overrides:
        v = ck.const_value(c.name)
        if c.type.base == "int" and v is not UNEVALUATED and not isinstance(v, str) and \
                not np.all(np.equal(np.mod(np.asarray(v, dtype=float), 1), 0)):
            ck.error(f"const `{c.name}` is declared int, but its value is not an integer", c.value.span,
                     f"its value is {_fmt_value(v)}; declare it `real`, or give an integer")
            sym.quiet = True


def _check_override(ck: Checker, name: str):
    sym = ck.symbols.get(name)
    consts = [s.name for s in ck.symbols.values() if s.kind == "const"]
    if sym is None or sym.kind != "const":
        what = f" (it is {KIND_ARTICLE[sym.kind]})" if sym is not None else ""
        ck.error(f"cannot override `{name}`: the model has no const `{name}`{what}", ast.NO_SPAN,
                 suggest(name, consts) or
                 (f"the consts are {', '.join(f'`{c}`' for c in consts)}" if consts else
                  "the model declares no const"))
        return
    v = ck.overrides[name]
    try:
        arr = np.asarray(v)
        ok = arr.dtype.kind in "biuf"
    except Exception:  # noqa: BLE001 - any value numpy cannot read
        ok = False
    if not ok:
        ck.error(f"the override of const `{name}` must be a number or an array of numbers, not "
                 f"{type(v).__name__}", ast.NO_SPAN)
        _drop_override(ck, sym)
        return
    try:
        orig = const_eval(sym.stmt.value, ck._const_lookup)
    except NotConstant:
        orig = UNEVALUATED
    if orig is not UNEVALUATED and not isinstance(orig, str) and np.ndim(orig) != arr.ndim:
        ck.error(f"the override of const `{name}` has shape {tuple(arr.shape)}, but `{name}` is "
                 f"{_fmt_value(orig)} in the model", ast.NO_SPAN, f"`{name}` is declared at {ck.where(sym.span)}")
        _drop_override(ck, sym)
    elif (sym.type is not None and sym.type.base == "int" or _used_as_size(ck, name)) and \
            not _integral(arr):
        how = "is declared int" if sym.type is not None and sym.type.base == "int" else "is used as a size or an integer"
        ck.error(f"const `{name}` {how}, but its override {v!r} is not an integer",
                 ast.NO_SPAN, f"`{name}` is declared at {ck.where(sym.span)}")
        _drop_override(ck, sym)


def _integral(arr) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.all(np.mod(arr.astype(float), 1) == 0))


def _drop_override(ck: Checker, sym: Symbol):
    ck.overrides.pop(sym.name, None)
    ck._const_cache.pop(sym.name, None)
    sym.quiet = True


def _used_as_size(ck: Checker, name: str) -> bool:
    for sym in ck.symbols.values():
        if sym.type is not None:
            for e in list(sym.type.dims) + list(sym.type.args):
                if name in ast.free_names(e):
                    return True
    for s, _ in ast.walk_statements(ck.program.statements):
        if isinstance(s, ast.For) and name in ast.free_names(s.stop) | ast.free_names(s.start):
            return True
    return False
