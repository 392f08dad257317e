"""Loading data files and checking them against the model's `data` declarations.

Everything here runs before any sampling: a data set that does not match the declarations
is refused with an :class:`AuguryDataError` naming the variable, the declared and given
shape and type, and any NaN or infinity found where none is allowed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from augury.errors import NO_SPAN, Span
from augury.errors import AuguryDataError, did_you_mean

__all__ = ["DataSpec", "load_data", "validate_data", "REAL_BASES", "INT_BASES"]

REAL_BASES = frozenset({"real", "positive", "unit", "simplex", "ordered", "positive_ordered", "spd",
                        "cholesky_corr", "sphere"})
INT_BASES = frozenset({"int", "category"})
BASES = REAL_BASES | INT_BASES | {"bool"}
_TOL = 1e-4
_INT32 = np.iinfo(np.int32)


@dataclass(frozen=True)
class DataSpec:
    """One `data` declaration, as the runtime needs it."""

    name: str
    base: str               # real int bool positive unit category simplex ordered positive_ordered spd cholesky_corr sphere
    batch_dims: tuple       # each an int or a str (a size name to bind or check)
    event_dims: tuple       # () scalars, (K,) simplex(K), (D, D) spd(D), ...
    lower: float | None = None
    upper: float | None = None
    n_categories: int | str | None = None
    missing: object = None  # the missing marker (nan allowed) when declared `missing`, else None
    has_missing: bool = False
    span: Span = NO_SPAN
    optional: bool = False

    @property
    def dims(self) -> tuple:
        return tuple(self.batch_dims) + tuple(self.event_dims)

    @property
    def marker(self) -> Any:
        """The missing marker (nan when `missing` is declared without a value), or None."""
        if not self.has_missing:
            return None
        return float("nan") if self.missing is None else self.missing

    def type_str(self, sizes: Optional[Mapping[str, int]] = None) -> str:
        """The declared type, e.g. `simplex(K)[N]`; with `sizes`, bound size names are replaced."""
        def d(x):
            return str(sizes[x]) if sizes is not None and isinstance(x, str) and x in sizes else str(x)

        args: list[str] = []
        if self.base == "category" and self.n_categories is not None:
            args = [d(self.n_categories)]
        elif self.base in ("simplex", "ordered", "positive_ordered", "sphere") and self.event_dims:
            args = [d(self.event_dims[-1])]
        elif self.base in ("spd", "cholesky_corr") and self.event_dims:
            args = [d(self.event_dims[-1])]
        elif self.base in ("real", "int"):
            if self.lower is not None:
                args.append(f"lower={_num(self.lower)}")
            if self.upper is not None:
                args.append(f"upper={_num(self.upper)}")
        s = self.base + (f"({', '.join(args)})" if args else "")
        if self.batch_dims:
            s += "[" + ", ".join(d(x) for x in self.batch_dims) + "]"
        return s


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# ------------------------------------------------------------------ loading

_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.+)$")


def _to_array(value: Any, what: str, file: str = "") -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        return value  # its mask marks missing entries (see `validate_data`)
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        where = f" in `{file}`" if file else ""
        raise AuguryDataError(f"data entry `{what}`{where} is not a regular array",
                              notes=[f"nested lists must be rectangular ({e})"]) from None


def load_data(sources: list[str] | None = None, mapping: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Combine data from files and a dict.

    Sources: `path.npz`, `path.json` (an object of name -> number or nested list, as
    posteriordb stores it; `null` reads as NaN in real data), and `NAME=path.npy` (one array
    under NAME). Later sources override earlier ones; `mapping` overrides all files.
    A missing or unreadable file or an unknown suffix raises AuguryDataError naming the file.
    """
    out: dict[str, np.ndarray] = {}
    for src in sources or []:
        m = _NAMED.match(src)
        name, file = (m.group(1), m.group(2)) if m and not Path(src).exists() else (None, src)
        path = Path(file)
        suffix = path.suffix.lower()
        if name is not None and suffix != ".npy":
            raise AuguryDataError(f"cannot read data `{src}`: `NAME=path` takes a `.npy` file",
                                  notes=["give `.npz` and `.json` files without a name"])
        if suffix not in (".npz", ".json", ".npy"):
            raise AuguryDataError(f"cannot read data file `{file}`: unknown file type `{path.suffix}`",
                                  notes=["data files are `.npz`, `.json`, or `NAME=path.npy`"])
        if suffix == ".npy" and name is None:
            raise AuguryDataError(f"cannot read data file `{file}`: a `.npy` file holds one array and needs a name",
                                  notes=[f"write it as `NAME={file}`"])
        if not path.is_file():
            raise AuguryDataError(f"cannot read data file `{file}`: no such file")
        try:
            if suffix == ".npy":
                out[name] = np.load(path, allow_pickle=False)
            elif suffix == ".npz":
                with np.load(path, allow_pickle=False) as f:
                    out.update({k: f[k] for k in f.files})
            else:
                with open(path, encoding="utf-8") as f:
                    obj = json.load(f)
                if not isinstance(obj, dict):
                    raise AuguryDataError(f"cannot read data file `{file}`: expected a JSON object of name -> value",
                                          notes=[f"found a JSON {type(obj).__name__}"])
                out.update({k: _to_array(v, k, file) for k, v in obj.items()})
        except AuguryDataError:
            raise
        except Exception as e:
            raise AuguryDataError(f"cannot read data file `{file}`: {type(e).__name__}: {e}") from None
    for k, v in (mapping or {}).items():
        out[k] = _to_array(v, k)
    return out


# ---------------------------------------------------------------- validation


def _idx(name: str, index: tuple) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in index)}]" if index else name


def _first(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


class _Checker:
    """State of one validate_data call: bound sizes and where each came from."""

    def __init__(self, sizes: Optional[Mapping[str, int]], source: str):
        self.sizes: dict[str, int] = {k: int(v) for k, v in (sizes or {}).items()}
        self.origin: dict[str, str] = {k: "given" for k in self.sizes}
        self.source = source

    def error(self, spec: Optional[DataSpec], message: str, notes: Iterable[str] = ()) -> AuguryDataError:
        span = spec.span if spec is not None else NO_SPAN
        return AuguryDataError(message, span=span, notes=list(notes), source=self.source)

    def bind(self, size: str, value: int, origin: str, spec: Optional[DataSpec], notes: Iterable[str] = ()) -> None:
        """Bind `size` to `value`, or check it agrees with the earlier binding."""
        if size not in self.sizes:
            self.sizes[size], self.origin[size] = int(value), origin
        elif self.sizes[size] != value:
            first = self.origin[size]
            first = f" from {first}" if first != "given" else " (given)"
            raise self.error(spec, f"size `{size}` is {self.sizes[size]}{first} but {value} from {origin}", notes)

    def _shape_error(self, spec: DataSpec, arr: np.ndarray, notes: Iterable[str] = ()) -> AuguryDataError:
        declared, resolved = spec.type_str(), spec.type_str(self.sizes)
        shown = declared if resolved == declared else f"{declared} = {resolved}"
        return self.error(spec, f"`{spec.name}` is declared {shown} but the data has shape {tuple(arr.shape)}", notes)

    def check_shape(self, spec: DataSpec, arr: np.ndarray) -> None:
        """Check the rank and every fixed dim; bind or check the size names."""
        dims = spec.dims
        if arr.ndim != len(dims):
            raise self._shape_error(spec, arr, [f"expected {_plural(len(dims), 'dimension')}, found {arr.ndim}"])
        for axis, (d, n) in enumerate(zip(dims, arr.shape)):
            if isinstance(d, str):
                origin = f"`{spec.name}` (axis {axis})"
                if d in self.sizes and self.sizes[d] != n and not self.origin[d].startswith("`"):
                    # bound by a const, a data entry or an int data: the shape is at fault
                    src = "given" if self.origin[d] == "given" else f"from {self.origin[d]}"
                    raise self._shape_error(spec, arr, [f"size `{d}` is {self.sizes[d]} ({src})"])
                note = f"`{spec.name}` is declared {spec.type_str()} = {spec.type_str(self.sizes)} " \
                       f"but the data has shape {tuple(arr.shape)}" if d in self.sizes else ""
                self.bind(d, n, origin, spec, [note] if note else [])
            elif int(d) != n:
                raise self._shape_error(spec, arr)


def _unmask(ck: _Checker, spec: DataSpec, raw: np.ma.MaskedArray) -> np.ndarray:
    """A masked array's masked entries become the missing marker when `spec` is declared
    `missing`; otherwise they are refused (np.asarray would silently keep the hidden values)."""
    mask = np.ma.getmaskarray(raw)
    data = np.asarray(raw.data)
    if not mask.any():
        return data
    if not spec.has_missing:
        n = int(mask.sum())
        raise ck.error(spec, f"`{spec.name}` is a masked array with {_plural(n, 'masked entry', 'masked entries')} "
                             f"(first at {_idx(spec.name, _first(mask))}), but `{spec.name}` is not declared "
                             "`missing`",
                       [f"declare `data {spec.name} : {spec.type_str()} missing` to infer the masked entries, "
                        "or fill them before binding"])
    marker = spec.marker
    if isinstance(marker, float) and math.isnan(marker) and data.dtype.kind in "biu":
        data = data.astype(np.float64)  # NaN marks missing reals; an int array cannot hold it
    try:
        out = np.array(data, copy=True)
        out[mask] = marker
    except (TypeError, ValueError, OverflowError):
        raise ck.error(spec, f"`{spec.name}` is a masked array, but its dtype {data.dtype} cannot hold the "
                             f"missing marker {marker!r}") from None
    return out


def _numeric(ck: _Checker, spec: DataSpec, raw: Any) -> np.ndarray:
    if isinstance(raw, np.ma.MaskedArray):
        raw = _unmask(ck, spec, raw)
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as e:
        raise ck.error(spec, f"`{spec.name}` is declared {spec.type_str()} but the data is not a regular array",
                       [f"nested lists must be rectangular ({e})"]) from None
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)  # None (JSON null) becomes NaN
        except (TypeError, ValueError):
            pass
    kind = {"U": "text", "S": "bytes", "O": "objects", "c": "complex numbers", "M": "dates"}.get(arr.dtype.kind,
                                                                                               str(arr.dtype))
    raise ck.error(spec, f"`{spec.name}` is declared {spec.type_str()} but the data is not numeric (found {kind})")


def _missing_mask(spec: DataSpec, arr: np.ndarray) -> np.ndarray:
    marker = spec.marker
    if marker is None:
        return np.zeros(arr.shape, dtype=bool)
    if isinstance(marker, float) and math.isnan(marker):
        return np.isnan(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape, dtype=bool)
    return arr == marker


def _check_finite(ck: _Checker, spec: DataSpec, arr: np.ndarray, missing: np.ndarray) -> None:
    if arr.dtype.kind != "f":
        return
    nan = np.isnan(arr) & ~missing
    if nan.any():
        notes = ["NaN is allowed only in data declared with `missing` (e.g. `data y : real[N] missing nan`)"]
        if spec.has_missing:
            notes = [f"`{spec.name}` marks missing entries with {spec.marker!r}, not NaN"]
        raise ck.error(spec, f"`{spec.name}` has {_plural(int(nan.sum()), 'NaN value')} "
                             f"(first at {_idx(spec.name, _first(nan))})", notes)
    inf = np.isinf(arr) & ~missing
    if inf.any():
        raise ck.error(spec, f"`{spec.name}` has {_plural(int(inf.sum()), 'infinite value')} "
                             f"(first at {_idx(spec.name, _first(inf))})", ["infinity is not allowed in data"])


def _outside(ck: _Checker, spec: DataSpec, arr: np.ndarray, bad: np.ndarray, what: str, per_row: bool = False):
    if not bad.any():
        return
    first = _first(bad)
    count = _plural(int(bad.sum()), "row") if per_row else _plural(int(bad.sum()), "entry", "entries")
    shown = "" if per_row else f" = {arr[first].item()!r}"
    raise ck.error(spec, f"`{spec.name}` must be {what} but has {count} "
                         f"outside (first: {_idx(spec.name, first)}{shown})",
                   [f"`{spec.name}` is declared {spec.type_str()}"])


def _check_support(ck: _Checker, spec: DataSpec, arr: np.ndarray, missing: np.ndarray) -> None:
    ok = ~missing
    base = spec.base
    x = arr.astype(np.float64) if arr.dtype.kind != "f" else arr
    with np.errstate(invalid="ignore"):
        if base == "positive":
            _outside(ck, spec, arr, ok & ~(x > 0), "positive (> 0)")
        elif base == "unit":
            _outside(ck, spec, arr, ok & ~((x > 0) & (x < 1)), "in (0, 1)")
        elif base == "bool":
            _outside(ck, spec, arr, ok & ~((x == 0) | (x == 1)), "0 or 1 (bool)")
        elif base == "category":
            k = spec.n_categories
            if isinstance(k, str):
                if k not in ck.sizes:
                    raise ck.error(spec, f"the number of categories `{k}` of `{spec.name}` is not known",
                                   [f"give `{k}` as a data entry or a const"])
                k = ck.sizes[k]
            if k is not None:
                _outside(ck, spec, arr, ok & ~((x >= 0) & (x < k)), f"a category in 0 … {int(k) - 1}")
        elif base in ("real", "int") and (spec.lower is not None or spec.upper is not None):
            inside = np.ones(arr.shape, dtype=bool)
            if spec.lower is not None:
                inside &= x >= spec.lower
            if spec.upper is not None:
                inside &= x <= spec.upper
            lo = "-inf" if spec.lower is None else _num(spec.lower)
            hi = "inf" if spec.upper is None else _num(spec.upper)
            _outside(ck, spec, arr, ok & ~inside, f"in [{lo}, {hi}]")
        if base in ("simplex", "ordered", "positive_ordered", "sphere", "spd", "cholesky_corr") and arr.size:
            _check_event(ck, spec, arr, x, ok)


def _check_event(ck: _Checker, spec: DataSpec, arr: np.ndarray, x: np.ndarray, ok: np.ndarray) -> None:
    """Checks on whole vectors / matrices; rows holding any missing entry are skipped."""
    base = spec.base
    if base in ("spd", "cholesky_corr"):
        if x.ndim < 2:
            return
        row_ok = ok.all(axis=(-1, -2))
        mats = np.where(row_ok[..., None, None], x, np.eye(x.shape[-1]))
        if base == "spd":
            scale = np.maximum(1.0, np.abs(mats).max(axis=(-1, -2)))
            asym = np.abs(mats - np.swapaxes(mats, -1, -2)).max(axis=(-1, -2)) > _TOL * scale
            _outside(ck, spec, arr, row_ok & asym, "symmetric", per_row=True)
            eig = np.linalg.eigvalsh(mats).min(axis=-1) if mats.shape[-1] else np.ones(mats.shape[:-2])
            _outside(ck, spec, arr, row_ok & ~(eig > 0), "positive definite", per_row=True)
        else:
            upper = np.abs(np.triu(mats, 1)).max(axis=(-1, -2), initial=0.0) > _TOL
            diag = ~(np.diagonal(mats, axis1=-2, axis2=-1) > 0).all(axis=-1)
            norms = np.abs(np.linalg.norm(mats, axis=-1) - 1).max(axis=-1, initial=0.0) > _TOL
            _outside(ck, spec, arr, row_ok & (upper | diag | norms),
                     "a Cholesky factor of a correlation matrix (lower triangular, positive diagonal, unit rows)",
                     per_row=True)
        return
    if x.ndim < 1:
        return
    row_ok = ok.all(axis=-1)
    if base == "simplex":
        bad = ((x < -_TOL).any(axis=-1)) | (np.abs(x.sum(axis=-1) - 1) > _TOL)
        _outside(ck, spec, arr, row_ok & bad, "a simplex (non-negative, summing to 1)", per_row=True)
    elif base in ("ordered", "positive_ordered"):
        bad = (np.diff(x, axis=-1) <= 0).any(axis=-1)
        what = "strictly increasing"
        if base == "positive_ordered":
            bad |= (x[..., :1] <= 0).any(axis=-1)
            what = "positive and strictly increasing"
        _outside(ck, spec, arr, row_ok & bad, what, per_row=True)
    elif base == "sphere":
        bad = np.abs(np.linalg.norm(x, axis=-1) - 1) > _TOL
        _outside(ck, spec, arr, row_ok & bad, "a unit vector (norm 1)", per_row=True)


def _convert(ck: _Checker, spec: DataSpec, arr: np.ndarray, missing: np.ndarray, real_dtype) -> np.ndarray:
    if spec.base in REAL_BASES:
        return arr.astype(real_dtype)
    if arr.dtype.kind == "f":
        nan_marker = np.isnan(arr) & missing
        if nan_marker.any():
            raise ck.error(spec, f"`{spec.name}` is declared {spec.type_str()} with missing marker NaN, "
                                 "which integer data cannot hold",
                           ["declare a whole-number marker, e.g. `missing -1`"])
        frac = (arr != np.round(arr)) & ~missing
        if frac.any():
            first = _first(frac)
            raise ck.error(spec, f"`{spec.name}` is declared {spec.type_str()} but has "
                                 f"{_plural(int(frac.sum()), 'non-whole value')} "
                                 f"(first: {_idx(spec.name, first)} = {arr[first].item()!r})")
    if spec.base == "bool":
        return arr.astype(bool)
    if arr.size and arr.dtype.kind in "iuf" and (arr.max() > _INT32.max or arr.min() < _INT32.min):
        big = (arr > _INT32.max) | (arr < _INT32.min)
        raise ck.error(spec, f"`{spec.name}` has {_plural(int(big.sum()), 'value')} too large for 32-bit integers "
                             f"(first: {_idx(spec.name, _first(big))})")
    return arr.astype(np.int32)


# Reals are computed in the chosen precision.  float32 holds magnitudes up to about 3.4e38
# (larger values become inf: refused); squares of magnitudes above sqrt(3.4e38) ≈ 1.8e19
# overflow (a normal log density squares its standardized value, a variance squares a
# scale), so such data binds with a warning that suggests float64 (in float64 the same
# holds above sqrt(1.8e308) ≈ 1.3e154, where the warning suggests rescaling).
_F32_MAX = float(np.finfo(np.float32).max)
LARGE_FLOAT32 = math.sqrt(_F32_MAX)
LARGE_FLOAT64 = math.sqrt(float(np.finfo(np.float64).max))
_STRICT_SUPPORTS = frozenset({"positive", "unit", "real", "ordered", "positive_ordered"})
_PRECISION_HINT = 'bind with `precision="float64"` (Python) or run with `--precision float64` (CLI)'


def _check_precision(ck: _Checker, spec: DataSpec, arr: np.ndarray, conv: np.ndarray, missing: np.ndarray,
                     precision: str, warnings: list[str]) -> None:
    """Real data that passes the checks but that the conversion to `precision` changes:
    overflow to infinity (refused), values pushed out of the declared support by rounding
    (`unit` data 1 - 1e-9 becomes 1.0 in float32: refused), very large magnitudes (a warning)."""
    if spec.base not in REAL_BASES or not arr.size:
        return
    x = np.abs(arr.astype(np.float64))
    if precision != "float32":
        big = ~missing & (x > LARGE_FLOAT64)
        if big.any():
            first = _first(big)
            warnings.append(f"`{spec.name}` has {_plural(int(big.sum()), 'value')} above {LARGE_FLOAT64:.2g} in "
                            f"magnitude (first: {_idx(spec.name, first)} = {arr[first].item()!r}); even in float64 "
                            "their squares overflow to infinity: rescale the data")
        return
    over = ~missing & np.isinf(conv)
    if over.any():
        first = _first(over)
        raise ck.error(spec, f"`{spec.name}` has {_plural(int(over.sum()), 'value')} too large for float32 "
                             f"(first: {_idx(spec.name, first)} = {arr[first].item()!r}), which would become "
                             "infinite", [f"float32 holds magnitudes up to about {_F32_MAX:.3g}; {_PRECISION_HINT}"])
    try:
        # the checks with a tolerance (simplex, sphere, spd, cholesky_corr: 1e-4) do not move with
        # float32 rounding (~6e-8 relative); these strict ones do (0.9999999999 becomes 1.0)
        if spec.base in _STRICT_SUPPORTS and (spec.base != "real" or spec.lower is not None or
                                             spec.upper is not None):
            _check_support(ck, spec, conv, missing)
    except AuguryDataError as e:
        d = e.diagnostics[0]
        raise ck.error(spec, f"{d.message} once rounded to float32",
                       list(d.notes) + [f"the data is inside before rounding; {_PRECISION_HINT}"]) from None
    big = ~missing & (x > LARGE_FLOAT32)
    if big.any():
        first = _first(big)
        warnings.append(f"`{spec.name}` has {_plural(int(big.sum()), 'value')} above {LARGE_FLOAT32:.2g} in "
                        f"magnitude (first: {_idx(spec.name, first)} = {arr[first].item()!r}); in float32 their "
                        f"squares overflow to infinity: {_PRECISION_HINT}, or rescale the data")


def _size_value(ck: _Checker, name: str, raw: Any) -> int:
    arr = np.asarray(raw)
    if arr.size == 1 and arr.dtype.kind in "biuf":
        v = arr.reshape(()).item()
        if float(v).is_integer() and v >= 0:
            return int(v)
    raise ck.error(None, f"data entry `{name}` names a size but is not a non-negative whole number",
                   [f"found {arr.reshape(-1)[:5].tolist() if arr.size else '[]'} with shape {tuple(arr.shape)}"])


def validate_data(specs: list[DataSpec], data: Mapping[str, object], sizes: dict[str, int] | None = None,
                  source: str = "", *, precision: str = "float32",
                  declared_sizes: Iterable[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, int], list[str]]:
    """Check `data` against the declarations and convert it; returns (arrays, sizes, warnings).

    `sizes` holds sizes known beforehand (consts); `declared_sizes` names sizes the model uses
    outside data shapes (a parameter's shape, say), which a data entry of that name may bind.
    Size names are bound from the first array that uses them (in spec order) and every other
    use must agree. A data entry named like a size is checked against it, and not returned.
    Reals become float32 (or float64 with `precision="float64"`), ints and categories int32,
    bools bool (bool data for a real or int declaration reads as 0/1, as comparisons do in the
    language). Missing entries keep their marker in place; a NumPy masked array's masked entries
    are missing entries (they become the marker) when the declaration says `missing`, and are
    refused otherwise. Values that float32 cannot hold (overflow, or rounding out of the declared
    support) are refused with a hint to use float64; magnitudes above `LARGE_FLOAT32` warn.
    """
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', not {precision!r}")
    real_dtype = np.float32 if precision == "float32" else np.float64
    ck = _Checker(sizes, source)
    by_name = {s.name: s for s in specs}
    for s in specs:
        if s.base not in BASES:
            raise ValueError(f"unknown base type {s.base!r} for data `{s.name}`")
    size_names = {d for s in specs for d in s.dims if isinstance(d, str)}
    size_names |= {s.n_categories for s in specs if isinstance(s.n_categories, str)}
    size_names |= set(declared_sizes or ()) | set(ck.sizes)

    # 1. presence
    for s in specs:
        if s.name not in data and not s.optional:
            extra = [str(k) for k in data if k not in by_name]
            same = [k for k in extra if k.lower() == s.name.lower()]
            hint = f"did you mean `{same[0]}`?" if same else did_you_mean(s.name, extra)
            notes = [f"data entries given: {', '.join(map(str, data)) or '(none)'}"] + ([hint] if hint else [])
            raise ck.error(s, f"no data for `{s.name}`, declared {s.type_str()}", notes)
    present = [s for s in specs if s.name in data]

    # 2. numeric arrays; scalar int data used as sizes (`data N : int` with `real[N]`) bind first
    arrays = {s.name: _numeric(ck, s, data[s.name]) for s in present}
    for s in present:
        if s.name in size_names and s.base == "int" and not s.dims:
            ck.bind(s.name, _size_value(ck, s.name, arrays[s.name]), f"data `{s.name}`", s)

    # 3. data entries named like sizes (posteriordb's `N`): bind or check, then drop
    warnings: list[str] = []
    for k, v in data.items():
        if k in by_name:
            continue
        if k in size_names:
            ck.bind(k, _size_value(ck, k, v), f"data entry `{k}`", None)
        else:
            warnings.append(f"data entry `{k}` is not declared in the model; ignored")

    # 4. shapes, binding the remaining sizes from the first array that uses each (spec order)
    for s in present:
        ck.check_shape(s, arrays[s.name])

    # 5. values
    out: dict[str, np.ndarray] = {}
    for s in present:
        arr = arrays[s.name]
        missing = _missing_mask(s, arr)
        _check_finite(ck, s, arr, missing)
        with np.errstate(over="ignore"):  # 1e300 cast to float32: refused by _check_precision
            conv = _convert(ck, s, arr, missing, real_dtype)
        _check_support(ck, s, arr, missing)
        _check_precision(ck, s, arr, conv, missing, precision, warnings)
        out[s.name] = conv
    return out, dict(ck.sizes), warnings
