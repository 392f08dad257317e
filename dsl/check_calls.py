"""Name resolution and call checking: every name read, every function,
operator and distribution call (pass 3 of `check`)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import ast
from .check import KIND_ARTICLE, Checker, Scope, suggest
from .signatures import DISTRIBUTIONS, FUNCTIONS, METHODS, OPERATORS

# Argument names used when printing a function's signature in a note.
FUNC_ARGS = {
    "softmax": ("x",), "log_softmax": ("x",), "sum": ("x",), "mean": ("x",), "prod": ("x",),
    "logsumexp": ("x",), "norm": ("x",), "min": ("x", "y"), "max": ("x", "y"), "dot": ("a", "b"),
    "matmul": ("a", "b"), "solve": ("A", "b"), "reshape": ("x", "d1", "..."), "concat": ("[a, b, ...]",),
    "stack": ("[a, b, ...]",), "ones": ("d1", "..."), "zeros": ("d1", "..."), "full": ("d1", "...", "value"),
    "arange": ("start", "stop", "step"), "linspace": ("start", "stop", "num"), "clip": ("x", "low", "high"),
    "where": ("cond", "a", "b"), "exp_quad_cov": ("x", "alpha", "rho"), "torch": ('"pkg.module:factory"',),
    "jax": ('"pkg.module:fn"',), "range": ("start", "stop"),
}
STRING_NOTE = ("strings only name things: import paths (`python(\"pkg.module:fn\")`, `torch(...)`, `jax(...)`), "
               "weight files (`weights = \"file\"`), networks (`net = \"digits\"`), `predicts = \"eps\"` and "
               "method settings")
SDES = ("vp", "ve", "edm")
PREDICTS = ("eps", "x0", "score", "v")


def func_signature(name: str) -> str:
    s = FUNCTIONS[name]
    if name in FUNC_ARGS:
        args = list(FUNC_ARGS[name])
        if s.max_args is not None and "..." not in args:
            args = [a if i < s.min_args else f"[{a}]" for i, a in enumerate(args[: s.max_args])]
    elif s.max_args == 0:
        args = []
    else:
        args = ["x"] if (s.max_args or 1) == 1 else [f"x{i + 1}" for i in range(s.max_args or 2)]
    args = [a for a in args if a] + [f"{k} = …" for k in s.kwargs]
    return f"{name}({', '.join(args)})"


def op_signature(name: str) -> str:
    return f"{name}({', '.join(OPERATORS[name].params)})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _or_list(items) -> str:
    items = [f"`{i}`" for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# ===================================================================== walk


def check_names(ck: Checker):
    ck.dist_args = {}          # id(Call) -> {param: expr} for distribution calls that are well formed
    ck.all_loops = [s for s, _ in ast.walk_statements(ck.program.statements) if isinstance(s, ast.For)]
    _stmts(ck, ck.program.statements, Scope())


def _stmts(ck: Checker, stmts, scope: Scope):
    for s in stmts:
        if isinstance(s, (ast.DataDecl, ast.ParamDecl, ast.ConstDecl)) and s.type is not None:
            _type(ck, s.type, scope)
        if isinstance(s, ast.ConstDecl):
            resolve(ck, s.value, scope)
        elif isinstance(s, ast.LetDecl):
            for i in s.target.indices:
                resolve(ck, i, scope)
            resolve(ck, s.value, scope)
        elif isinstance(s, ast.OpDecl):
            resolve(ck, s.value, scope, "op")
        elif isinstance(s, ast.Sample):
            for i in s.target.indices:
                resolve(ck, i, scope)
            sample_dist(ck, s.dist, scope)
        elif isinstance(s, ast.For):
            for b in (s.start, s.stop):
                if b is not None:
                    resolve(ck, b, scope)
                    _loop_bound(ck, b, s)
            _stmts(ck, s.body, scope.push(s))
        elif isinstance(s, ast.Infer):
            for k, v in s.method.kwargs:
                _setting(ck, s.method, k, v, scope)
            for a in s.method.args:
                resolve(ck, a, scope, "string")


def _type(ck: Checker, ty: ast.TypeExpr, scope: Scope):
    for e in list(ty.dims) + list(ty.args):
        resolve(ck, e, scope, "size")
    for _, v in ty.kwargs:
        resolve(ck, v, scope)


def _setting(ck: Checker, m: ast.Call, key: str, v, scope: Scope):
    """A method setting: a string only where the setting is one (`resample = "systematic"`)."""
    sig = METHODS.get(m.func)
    default = dict(sig.defaults).get(key) if sig is not None else None
    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    if isinstance(v, ast.Str) and numeric:
        ck.error(f"the setting `{key}` of `{m.func}` is a number, not a string", v.span,
                 f"for example `{key} = {default}`")
        return
    resolve(ck, v, scope, "string")


def _loop_bound(ck: Checker, b, loop: ast.For):
    for n in ast.walk_expr(b):
        if isinstance(n, ast.Name) and n.id in ck.symbols:
            sym = ck.symbols[n.id]
            if sym.kind in ("param", "let", "op"):
                ck.error(f"the bounds of a loop must be known when data is bound, but `{n.id}` is "
                         f"{KIND_ARTICLE[sym.kind]}", n.span,
                         "use an int data, a const or a size as the loop bound")
                return
            if sym.kind == "data" and sym.type is not None and (sym.type.dims or sym.type.base != "int"):
                hint = (f"use its length instead, e.g. a size name from its type "
                        f"`{ck.type_text(sym.type)}`" if sym.type.dims else "declare it `int`")
                ck.error(f"the loop bound `{n.id}` is not a scalar integer", n.span,
                         f"`{n.id}` is declared {ck.type_text(sym.type)}; {hint}")
                return


# ================================================================ resolution


def resolve(ck: Checker, e, scope: Scope, mode: str = "value"):
    """Check every name and call in `e`.  Modes: "value" (an ordinary
    expression), "op" (the value of an `op`, where operator constructors and
    names bound from Python are allowed), "bound" (a name bound from Python
    is allowed, e.g. `net = unet`)."""
    if isinstance(e, ast.Name):
        _name(ck, e, scope, mode)
    elif isinstance(e, ast.Str):
        if mode == "op":
            ck.error("an operator is not a string", e.span,
                     f"a user's own operator is written `python({ck.text(e)})`")
        elif mode not in ("string", "size"):
            ck.error("a string cannot be used as a number", e.span, STRING_NOTE)
    elif isinstance(e, ast.Call):
        _call(ck, e, scope, mode)
    elif isinstance(e, ast.Index):
        resolve(ck, e.obj, scope)
        for i in e.indices:
            resolve(ck, i, scope)
    elif isinstance(e, ast.Slice):
        for p in (e.start, e.stop, e.step):
            if p is not None:
                resolve(ck, p, scope)
    elif isinstance(e, ast.ArrayLit):
        for i in e.items:
            resolve(ck, i, scope)
    elif isinstance(e, ast.BinOp):
        resolve(ck, e.left, scope)
        resolve(ck, e.right, scope)
    elif isinstance(e, ast.UnaryOp):
        resolve(ck, e.operand, scope)


def _name(ck: Checker, n: ast.Name, scope: Scope, mode: str):
    if n.id in scope.vars:
        return
    sym = ck.symbols.get(n.id)
    if sym is not None:
        ck.used.add(n.id)
        ck.reads[n.id] = ck.reads.get(n.id, 0) + 1
        if sym.kind == "op" and mode != "op":
            ck.error(f"`{n.id}` is an operator, not an array", n.span,
                     f"apply it to an array: `{n.id}(x)`, or its adjoint: `{n.id}.T(y)`")
        return
    if mode in ("op", "bound") or n.id in ck.bound:
        return  # a name bound from Python at compile time (`bind = {...}`)
    notes = []
    loops = [f for f in ck.all_loops if f.var == n.id]
    if loops:
        notes.append(f"`{n.id}` is the variable of the loop at {ck.where(loops[0].span)}; "
                     f"it exists only inside that loop")
    else:
        dym = suggest(n.id, ck.names_for_suggestion(scope))
        if dym:
            notes.append(dym)
        elif n.id in FUNCTIONS:
            notes.append(f"`{n.id}` is a function: call it, `{func_signature(n.id)}`")
        elif n.id in DISTRIBUTIONS:
            notes.append(f"`{n.id}` is a distribution; it can only stand on the right of `~`")
        else:
            notes.append(f"declare it, e.g. `data {n.id} : real` or `param {n.id} : real`")
    ck.error(f"unknown name `{n.id}`", n.span, *notes)


def _args(ck: Checker, c: ast.Call, scope: Scope, mode: str = "value"):
    for a in c.args:
        resolve(ck, a, scope, mode)
    for _, v in c.kwargs:
        resolve(ck, v, scope, mode)


def _call(ck: Checker, c: ast.Call, scope: Scope, mode: str):
    f = c.func
    sym = ck.symbols.get(f)
    if sym is not None and sym.kind == "op":
        ck.used.add(f)
        if c.kwargs or len(c.args) != 1:
            app = f"{f}.T(y)" if c.adjoint else f"{f}(x)"
            ck.error(f"operator `{f}` is applied to one array: `{app}`", c.span,
                     f"it was given {_plural(len(c.args) + len(c.kwargs), 'argument')}")
        _args(ck, c, scope)
        return
    if sym is None and f in ck.bound:
        _args(ck, c, scope)  # a function or operator bound from Python: its signature is its own
        return
    if c.adjoint:
        note = (f"name the operator first: `op A = {f}(...)`, then write `A.T(y)`" if f in OPERATORS
                else "operators are declared with `op A = ...`")
        ck.error(f"`.T` (the adjoint) applies only to an operator declared with `op`, and `{f}` is not one",
                 c.func_span, note)
        _args(ck, c, scope)
        return
    if f in DISTRIBUTIONS:
        ck.error(f"`{f}` is a distribution; it can only stand on the right of `~`", c.func_span,
                 f"write `NAME ~ {f}(...)`")
        _args(ck, c, scope)
        return
    if f in FUNCTIONS:
        _function(ck, c)
        paths = f in ("torch", "jax")
        for i, a in enumerate(c.args):
            resolve(ck, a, scope, "string" if paths and i == 0 and isinstance(a, ast.Str) else "value")
        for k, v in c.kwargs:
            resolve(ck, v, scope, "string" if paths and k == "weights" and isinstance(v, ast.Str) else "value")
        return
    if f in OPERATORS:
        if mode != "op":
            ck.error(f"`{f}` makes an operator; it cannot be used as a value", c.func_span,
                     f"name it first, `op A = {op_signature(f)}`, then apply it: `A(x)`")
            _args(ck, c, scope)
            return
        _operator(ck, c, scope)
        return
    if f in METHODS:
        ck.error(f"`{f}` is an inference method, not a function", c.func_span,
                 f"choose it with `infer by {f}(...)`")
        _args(ck, c, scope)
        return
    if sym is not None:
        ck.used.add(f)
        ck.error(f"`{f}` is {KIND_ARTICLE[sym.kind]}, not a function", c.func_span,
                 f"index it with `{f}[i]`" if sym.kind in ("data", "param", "let", "const") else None)
        _args(ck, c, scope)
        return
    callables = set(FUNCTIONS) | set(DISTRIBUTIONS) | set(OPERATORS) | {
        s.name for s in ck.symbols.values() if s.kind == "op"}
    notes = [suggest(f, callables)]
    if mode == "op":
        notes.append("a user's own operator is written `python(\"pkg.module:fn\")` or bound from Python")
    ck.error(f"unknown function `{f}`", c.func_span, *notes)
    _args(ck, c, scope)


def _function(ck: Checker, c: ast.Call):
    s = FUNCTIONS[c.func]
    n = len(c.args)
    sig = f"`{func_signature(c.func)}`"
    if n < s.min_args:
        ck.error(f"`{c.func}` needs at least {_plural(s.min_args, 'argument')}, but "
                 f"{'none was' if n == 0 else _plural(n, 'was') if n == 1 else f'{n} were'} given"
                 if s.max_args != s.min_args else
                 f"`{c.func}` takes {_plural(s.min_args, 'argument')}, but "
                 f"{'none was' if n == 0 else f'{n} was' if n == 1 else f'{n} were'} given", c.span, sig)
    elif s.max_args is not None and n > s.max_args and c.func not in ("stack", "concat"):
        ck.error(f"`{c.func}` takes {'at most ' if s.max_args != s.min_args else ''}"
                 f"{_plural(s.max_args, 'argument')}, but {n} were given", c.args[s.max_args].span, sig)
    for k, v in c.kwargs:
        if k not in s.kwargs:
            ck.error(f"`{c.func}` has no argument `{k}`", ck.kw_span(k, v),
                     suggest(k, s.kwargs), f"its signature is {sig}")
    if c.func in ("torch", "jax") and c.args and not isinstance(c.args[0], ast.Str):
        ck.error(f"`{c.func}` takes the import path as a string", c.args[0].span,
                 f"write `{c.func}(\"pkg.module:{'factory' if c.func == 'torch' else 'fn'}\", weights = \"file\")`")
    if c.func in ("stack", "concat") and n > 1 and s.max_args == 1:
        items = ", ".join(ck.text(a) for a in c.args)
        ck.error(f"`{c.func}` takes one list of arrays, as in NumPy", c.args[1].span,
                 f"write `{c.func}([{items}])`")


def _operator(ck: Checker, c: ast.Call, scope: Scope):
    s = OPERATORS[c.func]
    given = len(c.args) + len(c.kwargs)
    sig = f"`{op_signature(c.func)}`"
    if len(c.args) > len(s.params):
        ck.error(f"operator `{c.func}` takes {_plural(len(s.params), 'argument')}, but {len(c.args)} were given",
                 c.args[len(s.params)].span, sig)
    for k, v in c.kwargs:
        if k not in s.params:
            ck.error(f"operator `{c.func}` has no argument `{k}`", ck.kw_span(k, v), suggest(k, s.params),
                     f"its signature is {sig}")
    if given < len(s.params) and len(c.args) <= len(s.params):
        names = [p for p in s.params[len(c.args):] if c.kwarg(p) is None]
        if names:
            ck.error(f"operator `{c.func}` needs {' and '.join(f'`{p}`' for p in names)}", c.span, sig)
    if c.func == "python" and c.args and not isinstance(c.args[0], ast.Str):
        ck.error("`python` takes the import path as a string", c.args[0].span,
                 "write `python(\"pkg.module:fn\")`")
    for i, a in enumerate(c.args):
        path = c.func == "python" and i == 0 and isinstance(a, ast.Str)
        resolve(ck, a, scope, "op" if c.func == "compose" else "string" if path else "value")
    for k, v in c.kwargs:
        path = c.func == "python" and k == "path" and isinstance(v, ast.Str)
        resolve(ck, v, scope, "op" if c.func == "compose" else "string" if path else "value")


# ============================================================ distributions


def sample_dist(ck: Checker, c: ast.Call, scope: Scope):
    """The right side of `~`."""
    f = c.func
    sym = ck.symbols.get(f)
    if f in DISTRIBUTIONS and not c.adjoint and not (sym is not None and sym.kind == "op"):
        dist_call(ck, c, scope)
        return
    if sym is not None and sym.kind == "op":
        ck.error(f"`{f}` is an operator, not a distribution", c.func_span,
                 f"apply it inside a distribution, e.g. `normal({ck.text(c)}, sigma)`")
    elif f in FUNCTIONS:
        ck.error(f"`{f}` is a function, not a distribution", c.func_span,
                 suggest(f, DISTRIBUTIONS) or "the right side of `~` must be a distribution, such as "
                 "`normal(0, 1)`")
    elif f in OPERATORS:
        ck.error(f"`{f}` is an operator, not a distribution", c.func_span,
                 "the right side of `~` must be a distribution, such as `normal(A(x), sigma)`")
    elif f in METHODS:
        ck.error(f"`{f}` is an inference method, not a distribution", c.func_span,
                 f"choose it with `infer by {f}(...)`")
    elif sym is not None:
        ck.used.add(f)
        ck.error(f"`{f}` is {KIND_ARTICLE[sym.kind]}, not a distribution", c.func_span,
                 "the right side of `~` must be a distribution, such as `normal(0, 1)`")
    else:
        ck.error(f"unknown distribution `{f}`", c.func_span,
                 suggest(f, DISTRIBUTIONS) or f"the distributions are {', '.join(DISTRIBUTIONS)}")
    _args(ck, c, scope)


def dist_call(ck: Checker, c: ast.Call, scope: Scope) -> Optional[dict]:
    """Check a distribution's arguments; records {param: expr} in ck.dist_args when well formed."""
    sig = DISTRIBUTIONS[c.func]
    desc = f"`{sig.describe()}`"
    ok = True
    given: dict = {}
    if len(c.args) > len(sig.params):
        ok = False
        extra = c.args[len(sig.params)]
        ck.error(f"too many arguments for `{c.func}`", extra.span,
                 f"`{c.func}` takes {_plural(len(sig.params), 'argument')}: {desc}" if sig.params else
                 f"`{c.func}` takes no arguments: `{c.func}()`")
    for p, a in zip(sig.params, c.args):
        given[p] = a
    unknown_kw = False
    for k, v in c.kwargs:
        if k not in sig.params:
            ok, unknown_kw = False, True
            ck.error(f"`{c.func}` has no parameter `{k}`", ck.kw_span(k, v), suggest(k, sig.params),
                     f"its parameters are {desc}" if sig.params else f"`{c.func}` takes no arguments")
        elif k in given:
            ok = False
            ck.error(f"parameter `{k}` of `{c.func}` is given twice, by position and by keyword",
                     ck.kw_span(k, v), f"its parameters are {desc}")
        else:
            given[k] = v
    missing = [p for p in sig.params[: sig.required] if p not in given]
    if missing and not unknown_kw:
        ok = False
        ck.error(f"missing argument{'s' if len(missing) > 1 else ''} "
                 f"{' and '.join(f'`{p}`' for p in missing)} of `{c.func}`", c.span,
                 f"its parameters are {desc}")
    if sig.one_of and ok:
        got = [p for p in sig.one_of if p in given]
        if not got:
            ok = False
            ck.error(f"`{c.func}` needs one of {_or_list(f'{p} =' for p in sig.one_of)}", c.span,
                     f"its parameters are {desc}")
        elif len(got) > 1:
            ok = False
            second = given[got[1]]
            ck.error(f"`{c.func}` takes only one of {' and '.join(f'`{p}`' for p in sig.one_of)}",
                     ck.kw_span(got[1], second),
                     f"`{got[0]}` is already given; remove one of them")
    for p, v in list(given.items()) + [(k, v) for k, v in c.kwargs if k not in sig.params]:
        if c.func == "mixture" and p == "component":
            ok = _component(ck, v, scope) and ok
        elif p == "net" and c.func == "diffusion":
            if isinstance(v, ast.Str):
                pass
            elif isinstance(v, ast.Call) and v.func in ("torch", "jax"):
                resolve(ck, v, scope)
            elif isinstance(v, ast.Name):
                resolve(ck, v, scope, "bound")
            else:
                ok = False
                ck.error("`net` must name a network", v.span,
                         "write `net = \"digits\"`, a name bound from Python, or "
                         "`torch(\"pkg.module:factory\", weights = \"file\")`")
        elif p == "sde":
            if isinstance(v, ast.Call) and v.func in SDES:
                resolve(ck, v, scope)
            else:
                ok = False
                ck.error("`sde` must be `vp(beta_min, beta_max)`, `ve(sigma_min, sigma_max)` or "
                         "`edm(sigma_min, sigma_max, rho)`", v.span)
                resolve(ck, v, scope)
        elif p == "predicts":
            if not (isinstance(v, ast.Str) and v.value in PREDICTS):
                ok = False
                shown = v.value if isinstance(v, ast.Str) else ck.text(v)
                choices = _or_list('"' + x + '"' for x in PREDICTS)
                ck.error(f"`predicts` must be one of {choices}", v.span,
                         suggest(shown, PREDICTS) if isinstance(v, ast.Str) else
                         "it is a string naming what the network predicts")
        elif isinstance(v, ast.Str):
            ok = False
            ck.error(f"`{p}` of `{c.func}` must be a number, not a string", v.span, STRING_NOTE)
        else:
            resolve(ck, v, scope)
    if ok:
        ck.dist_args[id(c)] = given
        _constant_arguments(ck, c, given)
        return given
    return None


# (distribution, parameter) -> what a constant value must be: "positive" (> 0 and finite),
# "nonnegative" (>= 0 and finite), "probability" (in [0, 1])
ARG_RULES = {
    **{(d, "scale"): "positive" for d in ("normal", "lognormal", "half_normal", "cauchy", "half_cauchy",
                                           "student_t", "laplace")},
    ("student_t", "df"): "positive", ("exponential", "rate"): "positive",
    ("gamma", "concentration"): "positive", ("gamma", "rate"): "positive",
    ("inv_gamma", "concentration"): "positive", ("inv_gamma", "rate"): "positive",
    ("beta", "a"): "positive", ("beta", "b"): "positive", ("dirichlet", "concentration"): "positive",
    ("von_mises_fisher", "kappa"): "nonnegative", ("lkj_cholesky", "eta"): "positive",
    ("poisson", "rate"): "nonnegative", ("binomial", "n"): "nonnegative", ("binomial", "probs"): "probability",
    ("bernoulli", "probs"): "probability", ("categorical", "probs"): "probability",
    ("negative_binomial", "mean"): "positive", ("negative_binomial", "concentration"): "positive",
    ("dirichlet_process", "alpha"): "positive", ("stick_breaking", "alpha"): "positive",
    ("wishart", "df"): "positive", ("inv_wishart", "df"): "positive",
}
_RULE_WORDS = {"positive": "positive", "nonnegative": "non-negative", "probability": "between 0 and 1"}


def _first_bad(raw, bad) -> tuple:
    """(value as written, index text) of the first element of a folded value where `bad` holds."""
    if np.ndim(bad) == 0:
        return _element(raw, ()), ""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return _element(raw, idx), f" (element {list(idx) if len(idx) > 1 else idx[0]})"


def _element(raw, idx: tuple):
    """Element `idx` of a folded value (broadcast from its trailing axes), as a Python number."""
    arr = np.asarray(raw)
    if arr.ndim == 0:
        return arr.item()
    return arr[idx[len(idx) - arr.ndim:]].item()


def _constant_arguments(ck: Checker, c: ast.Call, given: dict):
    """Arguments the checker can fold must be valid (a scale > 0, uniform's low < high):
    `normal(0, -1)` is an error here rather than a NaN at run time."""
    from .check import _fmt_number, constant, numeric
    values, raws = {}, {}
    for p, e in given.items():
        rule = ARG_RULES.get((c.func, p))
        if rule is None and not (c.func == "uniform" and p in ("low", "high")):
            continue
        raw = constant(ck, e)
        arr = numeric(raw)
        if arr is None:
            continue
        values[p], raws[p] = arr, raw
        if rule is None:
            bad = ~np.isfinite(arr)
            if bad.any():
                v, where = _first_bad(raw, bad)
                ck.error(f"`{p}` of `{c.func}` must be a finite number, got {_fmt_number(v)}{where}", e.span,
                         "`uniform(low, high)` is uniform between two finite numbers")
                values.pop(p)
            continue
        with np.errstate(invalid="ignore"):
            if rule == "positive":
                bad = ~(np.isfinite(arr) & (arr > 0))
            elif rule == "nonnegative":
                bad = ~(np.isfinite(arr) & (arr >= 0))
            else:
                bad = ~((arr >= 0) & (arr <= 1))
        if bad.any():
            v, where = _first_bad(raw, bad)
            what = "a finite positive number" if rule == "positive" and not np.isnan(v) and v > 0 else \
                _RULE_WORDS[rule]
            ck.error(f"`{p}` of `{c.func}` must be {what}, got {_fmt_number(v)}{where}", e.span,
                     f"its parameters are `{DISTRIBUTIONS[c.func].describe()}`")
    if "low" in values and "high" in values:
        lo, hi = values["low"], values["high"]
        try:
            bad = np.broadcast_to(lo >= hi, np.broadcast_shapes(lo.shape, hi.shape))
        except ValueError:
            return
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
            lv, hv = _element(raws["low"], idx), _element(raws["high"], idx)
            where = f" (element {list(idx) if len(idx) > 1 else idx[0]})" if idx else ""
            ck.error(f"`low` of `uniform` must be less than `high`, got low = {_fmt_number(lv)} and "
                     f"high = {_fmt_number(hv)}{where}", given["high"].span,
                     "`uniform(low, high)` puts mass on the interval from low to high")


def _component(ck: Checker, v, scope: Scope) -> bool:
    if isinstance(v, ast.Call) and v.func in DISTRIBUTIONS and not v.adjoint:
        if v.func in ("flat", "diffusion", "gaussian", "gmm", "dirichlet_process", "stick_breaking"):
            ck.error(f"`{v.func}` cannot be a mixture component", v.func_span,
                     "a component is an ordinary distribution, such as `normal(mu, sigma)`")
            return False
        return dist_call(ck, v, scope) is not None
    ck.error("the component of `mixture` must be a distribution", v.span,
             "write `mixture(weights, normal(mu, sigma))`: the component's parameters end in the component "
             "axis")
    resolve(ck, v, scope)
    return False
