"""Inverse problems with a diffusion or analytic prior: the pattern the diffusion methods need.

`recognize(s)` reads the model as

    x ~ diffusion(...) | gaussian(...) | gmm(...)     # one param, on the whole array
    y ~ normal(A(x), sigma)                           # or normal(x, sigma); sigma reads no param
    y ~ poisson(A(x))                                 # counts (dps only)

and returns an `InverseForm`, or the reason it cannot (the method table shows it).
`build_inverse_problem` turns a bound model and its form into the samplers' `InverseProblem`:
the prior as a denoiser on the network's backend (JAX, or PyTorch for a PyTorch network), the
measurement with the operator in that backend, all in the network's coordinates.

Data ranges: when the network declares the range it was trained on (`data_range` in its
weights' metadata, e.g. [-1, 1]) and the parameter declares both bounds
(`real<lower=0, upper=1>[8, 8]`), x_net = a x + b maps one onto the other.  The measurement is
moved instead of the prior: a y = A x + σ n becomes a y + A b = A x_net + a σ n for a linear A.
Where either range is undeclared the model's coordinates are the network's; nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from augury.dsl import ast
from augury.dsl.signatures import DISTRIBUTIONS, OPERATORS
from augury.errors import AuguryCheckError, AuguryInferenceError

from .evaluate import EvalError, evaluate
from .structure import Structure

PRIORS = ("diffusion", "gaussian", "gmm")
DEFAULT_SDE = ("vp", (0.1, 20.0), ())
SPECTRAL = ("ddrm", "pigdm", "pc", "mcgdiff")  # the methods that work in the operator's SVD basis
USES_SVD = ("ensemble",)
NOISELESS = ("mcgdiff",)  # the methods that take noiseless data, `y ~ normal(A(x), 0)`  # the methods that use an SVD where the operator has one (its exact start)
BOXES = ("real", "positive", "unit")  # the parameter types whose support is a box the draws are projected onto


@dataclass(frozen=True)
class InverseForm:
    """x ~ PRIOR; y ~ normal(A(x), scale): the names and expressions, with their spans."""

    param: str
    prior: ast.Call
    data: str
    op: Optional[str]           # None: `normal(x, sigma)` (denoising)
    scale: Optional[ast.Expr]   # None for Poisson counts
    likelihood: ast.Sample

    @property
    def family(self) -> str:
        return self.likelihood.dist.func

    @property
    def op_name(self) -> str:
        return "identity" if self.op is None else self.op


def recognize(s: Structure) -> Union[InverseForm, str]:
    """The inverse-problem form of the model, or why it has none."""
    priors = [loc for loc in s.samples if loc.stmt.dist.func in PRIORS and loc.stmt.target.name in s.params]
    if not priors:
        return "no parameter has a diffusion or analytic prior (`diffusion(...)`, `gaussian(...)`, `gmm(...)`)"
    loc = priors[0]
    x = loc.stmt.target.name
    if loc.loops or loc.stmt.target.indices:
        return f"`{x}`'s `{loc.stmt.dist.func}` prior must be on the whole array (`{x} ~ ...`, outside any loop)"
    others = [n for n in s.params if n != x]
    if others:
        return (f"`{others[0]}` is a parameter besides `{x}`: the diffusion methods infer one array with a "
                "diffusion or analytic prior, given its measurement")
    if s.params[x].type.base not in BOXES:
        from augury.dsl.unparse import unparse
        return (f"`{x}` is declared `{unparse(s.params[x].type)}`: the diffusion methods draw real arrays, "
                "bounded at most by a box (`real(lower = a, upper = b)`, `positive`, `unit`)")
    data_samples = [lc for lc in s.samples if lc.stmt.target.name in s.data]
    if len(data_samples) != 1:
        return (f"the diffusion methods need one measurement `y ~ normal(A({x}), sigma)`; this model has "
                f"{len(data_samples)} likelihood statements")
    lik = data_samples[0]
    y = lik.stmt.target.name
    if lik.loops or lik.stmt.target.indices:
        return f"the measurement `{y}` must be observed as a whole (`{y} ~ normal(A({x}), sigma)`, outside any loop)"
    if s.data[y].has_missing:
        return f"`{y}` has missing entries: write the missing pixels as a `mask` operator instead"
    dist = lik.stmt.dist
    if dist.func not in ("normal", "poisson"):
        return (f"the likelihood of `{y}` is `{dist.func}(...)`: the diffusion methods here need "
                f"`{y} ~ normal(A({x}), sigma)` (or `poisson(A({x}))` for dps)")
    loc_e = dist.args[0] if dist.args else dist.kwarg("loc" if dist.func == "normal" else "rate")
    scale = (dist.args[1] if len(dist.args) > 1 else dist.kwarg("scale")) if dist.func == "normal" else None
    if loc_e is None or (scale is None and dist.func == "normal"):
        return f"the likelihood of `{y}` must give `normal` its location and scale"
    if isinstance(loc_e, ast.Name) and loc_e.id == x:
        op = None
    elif (isinstance(loc_e, ast.Call) and loc_e.func in s.ops and not loc_e.adjoint and len(loc_e.args) == 1
          and isinstance(loc_e.args[0], ast.Name) and loc_e.args[0].id == x):
        op = loc_e.func
    else:
        return f"the mean of `{y}` must be `{x}` or `A({x})` for an operator `A` declared by `op`"
    from .analysis import reads
    if scale is not None and (x in reads(scale) or any(n in s.lets for n in reads(scale))):
        return f"the noise scale of `{y}` must not depend on `{x}` (a const, data, or an expression of them)"
    return InverseForm(x, loc.stmt.dist, y, op, scale, lik.stmt)


def operator_kind(s: Structure, form: InverseForm) -> tuple[str, bool, bool]:
    """(constructor name, linear, has an SVD) of the form's operator, read from its declaration."""
    if form.op is None:
        return "identity", True, True
    return _declared_kind(s, s.ops[form.op].value)


def _declared_kind(s: Structure, value: ast.Expr, depth: int = 0) -> tuple[str, bool, bool]:
    """`operator_kind` of one operator expression.  `compose(A, B)` is linear when both parts
    are, and then has an SVD: that of its dense matrix (formed for inputs of up to 4096
    entries; `runtime.operators.compose`), whatever its parts' own forms."""
    while isinstance(value, ast.Name) and value.id in s.ops and depth < len(s.ops):  # `op B = A`
        value, depth = s.ops[value.id].value, depth + 1
    if isinstance(value, ast.Call) and value.func in OPERATORS:
        if value.func == "compose":
            parts = list(value.args) + [v for _, v in value.kwargs]
            linear = len(parts) == 2 and all(_declared_kind(s, p, depth + 1)[1] for p in parts)
            return "compose", linear, linear
        sig = OPERATORS[value.func]
        return value.func, sig.linear, sig.svd
    return "python", False, False


# --------------------------------------------------------------------------- building


def _err(s: Structure, msg: str, span, notes=()) -> AuguryCheckError:
    return AuguryCheckError(msg, span, list(notes), source=s.source)


def _value(bound, e, what: str):
    try:
        return evaluate(e, bound.env)
    except EvalError as ex:
        raise _err(bound.s, ex.message, ex.span, ex.notes) from None
    except (TypeError, ValueError) as ex:
        raise _err(bound.s, f"cannot compute {what}", getattr(e, "span", ast.NO_SPAN), [str(ex)]) from None


def _arg(call: ast.Call, name: str) -> Optional[ast.Expr]:
    params = DISTRIBUTIONS[call.func].params
    i = params.index(name)
    return call.args[i] if i < len(call.args) else call.kwarg(name)


def parse_sde(text: str):
    """`"vp(0.1, 20)"` / `"ve(sigma_min = 0.01, sigma_max = 50)"` (a network's metadata) as the
    evaluator's schedule tuple."""
    m = re.fullmatch(r"\s*(vp|ve|edm)\s*\((.*)\)\s*", text)
    if not m:
        raise ValueError(f"`{text}` is not a noise process (vp(...), ve(...) or edm(...))")
    args, kwargs = [], []
    for part in filter(None, (p.strip() for p in m.group(2).split(","))):
        if "=" in part:
            k, v = (q.strip() for q in part.split("=", 1))
            kwargs.append((k, float(v)))
        else:
            args.append(float(part))
    return m.group(1), tuple(args), tuple(sorted(kwargs))


def _metadata_sde(s: Structure, network, span):
    """The noise process a weights file's `sde` metadata declares, or an error naming the file
    and the key (at `net = ...`)."""
    from augury.runtime.schedules import make_schedule
    text = network.metadata["sde"]
    try:
        declared = parse_sde(text)
        make_schedule(declared)
    except (ValueError, TypeError) as ex:
        raise _err(s, f"weights file `{network.weights or network.description}`: metadata `sde` is {text!r}, "
                      f"which is not a valid noise process: {str(ex).splitlines()[0]}", span,
                   ["it must be vp(beta_min, beta_max), ve(sigma_min, sigma_max) or edm(sigma_min, sigma_max, rho), "
                    "e.g. \"vp(0.1, 20)\""]) from None
    return declared


def _same_sde(a, b) -> bool:
    from augury.runtime.schedules import make_schedule
    return make_schedule(a) == make_schedule(b)


def _declared_range(bound, x: str) -> Optional[tuple[float, float]]:
    t = bound.s.params[x].type
    lo, hi = t.kwarg("lower"), t.kwarg("upper")
    if lo is None or hi is None:
        return None
    return float(np.asarray(_value(bound, lo, "the lower bound"))), float(np.asarray(_value(bound, hi, "the upper bound")))


def _declared_bounds(bound, x: str, shape: tuple):
    """`x`'s declared support as `runtime.inverse.Bounds` (arrays of its shape), or None when it
    is unbounded: the diffusion methods project their draws onto it (docs/diffusion.md)."""
    from augury.dsl.unparse import unparse
    from augury.runtime.inverse import Bounds
    t = bound.s.params[x].type
    if t.base in ("positive", "unit"):
        return Bounds(np.zeros(shape), np.ones(shape) if t.base == "unit" else None, True, unparse(t))
    sides = []
    for side in ("lower", "upper"):
        e = t.kwarg(side)
        v = None if e is None else np.asarray(_value(bound, e, f"the {side} bound"), np.float64)
        try:
            sides.append(None if v is None else np.broadcast_to(v, shape))
        except ValueError:
            raise _err(bound.s, f"the {side} bound of `{x}` has shape {v.shape}, which does not fit its shape {shape}",
                       e.span) from None
    return None if all(v is None for v in sides) else Bounds(sides[0], sides[1], False, unparse(t))


def _count_data(bound, form: InverseForm, y: np.ndarray) -> None:
    """Poisson counts must be whole numbers ≥ 0: refuse others before sampling, naming the entry
    (DPS's weighted norm would otherwise run on them)."""
    from augury.errors import AuguryDataError
    bad = ~(np.isfinite(y) & (y >= 0) & (np.floor(y) == y)) if y.dtype.kind == "f" else y < 0
    if np.any(bad):
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        at = f"{form.data}[{', '.join(map(str, i))}]" if i else form.data
        raise AuguryDataError(f"`{form.data}` holds counts for `poisson(...)`, which must be whole numbers >= 0, "
                              f"but {int(np.sum(bad))} of its {y.size} entries {'is' if np.sum(bad) == 1 else 'are'} "
                              f"not (first: {at} = {y[i]:g})",
                              form.likelihood.span, source=bound.s.source)


def _base_dir(s: Structure) -> Path:
    f = Path(s.file) if s.file and not s.file.startswith("<") else None
    return f.parent if f is not None and f.exists() else Path.cwd()


@dataclass(frozen=True)
class _Prior:
    kind: str                  # "analytic" or "network"
    sde: Any
    network: Any = None        # runtime.networks.Network
    predicts: str = "eps"
    gmm: Any = None            # (weights, means, covs)


def _resolve_prior(bound, form: InverseForm, allow_python: bool) -> _Prior:
    s, call = bound.s, form.prior
    sde_e = _arg(call, "sde") if call.func != "gaussian" else None
    sde = _value(bound, sde_e, "the noise process") if sde_e is not None else None
    if sde is not None and not (isinstance(sde, tuple) and sde and sde[0] in ("vp", "ve", "edm")):
        raise _err(s, "`sde` must be `vp(...)`, `ve(...)` or `edm(...)`", sde_e.span)
    if call.func in ("gaussian", "gmm"):
        from augury.runtime.analytic import gaussian_cov, gmm_covs
        dist = _value(bound, call, f"`{call.func}`'s parameters")
        shape = tuple(bound.param_shapes[form.param])
        d = int(np.prod(shape))
        try:
            if call.func == "gaussian":
                mean = np.broadcast_to(np.asarray(dist.mean), shape).reshape(1, d)
                gmm = (np.ones(1), mean, np.asarray(gaussian_cov(dist.cov, shape)[1])[None])
            else:
                w = np.asarray(dist.weights)
                means = np.asarray(dist.means).reshape(w.shape[0], -1)
                gmm = (w, np.broadcast_to(means, (w.shape[0], d)), np.asarray(gmm_covs(dist.covs, shape, w.shape[0])[1]))
        except ValueError as ex:
            raise _err(s, str(ex), call.span) from None
        return _Prior("analytic", sde or DEFAULT_SDE, gmm=gmm)
    from augury.runtime.networks import resolve_network
    net_e = _arg(call, "net")
    net_value = _value(bound, net_e, "the network")
    try:
        network = resolve_network(net_value, base_dir=_base_dir(s), allow_python=allow_python)
    except (ValueError, OSError, ImportError, AttributeError, TypeError) as ex:
        raise _err(s, str(ex).splitlines()[0], net_e.span, str(ex).splitlines()[1:]) from None
    meta = network.metadata
    if "sde" in meta:
        declared = _metadata_sde(s, network, net_e.span)
        if sde is not None and not _same_sde(sde, declared):
            raise _err(s, f"the network was trained with `{meta['sde']}`, not the `sde` given here", sde_e.span,
                       ["drop `sde = ...` to use the network's own, or give the one it was trained with"])
        sde = sde or declared
    pred_e = _arg(call, "predicts")
    predicts = _value(bound, pred_e, "`predicts`") if pred_e is not None else None
    if predicts is not None and predicts not in ("eps", "x0", "score", "v"):
        raise _err(s, f"`predicts` must be \"eps\", \"x0\", \"score\" or \"v\", not {predicts!r}", pred_e.span)
    if "predicts" in meta:
        if predicts is not None and predicts != meta["predicts"]:
            raise _err(s, f"the network predicts \"{meta['predicts']}\", not \"{predicts}\"", pred_e.span)
        predicts = meta["predicts"]
    return _Prior("network", sde or DEFAULT_SDE, network=network, predicts=predicts or "eps")


def _check_applies(s: Structure, form: InverseForm, op, shape: tuple) -> None:
    """Refuse, at `A(x)` and naming `A`'s declaration, a linear operator that cannot take `x`'s
    shape (`downsample(3)` on 8 × 8, a `matrix` of another width), before any backend builds
    it.  A user's nonlinear operator is left to the method: it may take torch tensors only."""
    if not op.linear:
        return
    import jax
    import jax.numpy as jnp
    from augury.dsl.unparse import unparse
    try:
        jax.eval_shape(op, jax.ShapeDtypeStruct(shape, jnp.float32))
    except (TypeError, ValueError) as ex:
        decl = s.ops[form.op]
        span = form.likelihood.dist.args[0].span if form.likelihood.dist.args else form.likelihood.span
        raise _err(s, f"cannot apply `{form.op}` to `{form.param}` of shape {shape}: {str(ex).splitlines()[0]}", span,
                   [f"`{form.op}` is declared at {decl.span.line}:{decl.span.col}: `op {form.op} = {unparse(decl.value)}`"]) from None


def build_inverse_problem(bound, form: InverseForm, method: str, settings: dict, allow_python: bool):
    """The samplers' `InverseProblem` for a bound model (see the module docstring)."""
    from augury.runtime.inverse import InverseProblem, make_measurement
    from augury.runtime.schedules import make_schedule
    from augury.runtime.denoisers import analytic_prior
    from augury.runtime.networks import network_prior

    s = bound.s
    shape = tuple(bound.param_shapes[form.param])
    prior = _resolve_prior(bound, form, allow_python)
    try:
        schedule = make_schedule(prior.sde)
    except ValueError as ex:
        raise _err(s, f"bad noise process: {ex}", form.prior.span) from None
    y = np.asarray(bound.env.values[form.data])
    if form.family == "poisson":
        _count_data(bound, form, y)
        sigma = np.asarray(1.0)  # unused: Poisson counts carry their own noise
    else:
        sigma = np.asarray(_value(bound, form.scale, "the noise scale"), dtype=np.float64)
        noiseless = method in NOISELESS and sigma.ndim == 0 and sigma == 0
        if sigma.ndim != 0 or not np.isfinite(sigma) or (sigma <= 0 and not noiseless):
            raise _err(s, f"the noise scale of `{form.data}` must be one positive number, got "
                          f"{sigma if sigma.ndim == 0 else f'shape {sigma.shape}'}", form.scale.span,
                       ["the diffusion methods take y ~ normal(A(x), sigma) with one sigma > 0"])
    op = bound.env.operators[form.op] if form.op is not None else None
    if op is not None:
        _check_applies(s, form, op, shape)
    if prior.kind == "analytic":
        from augury.runtime.backends.jax import JaxBackend
        backend = JaxBackend(bound.dtype)
        try:
            den = analytic_prior(*prior.gmm, schedule, shape, backend)
        except ValueError as ex:
            raise _err(s, str(ex), form.prior.span) from None
        scale_shift = None
    else:
        net = prior.network
        backend = net.backend(bound.dtype)
        model_range = _declared_range(bound, form.param)
        net_range = net.data_range
        scale_shift = None
        if model_range is not None and net_range is not None and tuple(model_range) != tuple(net_range):
            from augury.runtime.predictions import data_map
            m = data_map(net_range, model_range)
            scale_shift = (float(m.scale), float(m.shift))
        net_e = _arg(form.prior, "net")
        at_net = lambda msg: _err(s, msg.splitlines()[0], net_e.span, msg.splitlines()[1:])
        try:
            den = network_prior(net, schedule, prior.predicts, shape, backend, on_error=at_net)
        except ValueError as ex:
            raise at_net(str(ex)) from None
    try:
        meas = make_measurement(op, shape, y, float(sigma), backend, scale_shift,
                                need_svd=_needs_svd(method, settings), want_svd=_wants_svd(method, settings),
                                family=form.family)
    except ValueError as ex:
        span = form.likelihood.dist.args[0].span if form.likelihood.dist.args else form.likelihood.span
        if method not in SPECTRAL and _needs_svd(method, settings):
            raise _err(s, f'{method} with twist_variance = "tweedie" cannot use this measurement: {ex}', span,
                       ['twist_variance = "prior" (the default) takes any differentiable operator']) from None
        raise _err(s, f"{method} cannot use this measurement: {ex}", span) from None
    bounds = _declared_bounds(bound, form.param, shape)
    if prior.kind == "analytic":
        return InverseProblem(form.param, shape, backend, den, meas, scale_shift, bounds)
    from augury.dsl.unparse import unparse
    net_e = _arg(form.prior, "net")
    return InverseProblem(form.param, shape, backend, den, meas, scale_shift, bounds,
                          f"the network `net = {unparse(net_e)}` ({prior.network.description})", (net_e.span, s.source),
                          prior.network.data_range)


def _needs_svd(method: str, settings: dict) -> bool:
    # tds's Tweedie twist variance is taken along the operator's singular directions
    return method in SPECTRAL or settings.get("twist_variance") == "tweedie"


def _wants_svd(method: str, settings: dict) -> bool:
    return settings.get("teleport", 0.0) > 0 or method in USES_SVD


def inverse_problem(bound, method: str, settings: dict, allow_python: bool):
    """`build_inverse_problem`, cached on the bound model (a rerun with another seed rebuilds nothing)."""
    key = ("inverse", _needs_svd(method, settings), _wants_svd(method, settings))
    if key not in bound.compiled_runs:
        form = recognize(bound.s)
        if isinstance(form, str):
            raise AuguryInferenceError(f"`{method}` does not apply to this model: {form}")
        bound.compiled_runs[key] = build_inverse_problem(bound, form, method, settings, allow_python)
    return bound.compiled_runs[key]
