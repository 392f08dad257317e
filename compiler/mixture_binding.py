"""Binding a recognized mixture (`compiler/mixture.py`): the hyperparameters of a bound model
evaluated and checked (shapes, positive definiteness, concentrations) into the samplers'
`MixtureProblem`, with errors at their place in the model file."""

from __future__ import annotations

import numpy as np

from augury.dsl import ast
from augury.dsl.unparse import unparse
from augury.errors import AuguryCheckError

from .mixture import MixtureForm, call_arg, niw_factor
from .structure import Structure


def _err(s: Structure, msg: str, span, notes=()) -> AuguryCheckError:
    return AuguryCheckError(msg, span, list(notes), source=s.source)


def _value(bound, e, what: str):
    from .evaluate import EvalError, evaluate
    try:
        return np.asarray(evaluate(e, bound.env), dtype=float)
    except EvalError as ex:
        raise _err(bound.s, ex.message, ex.span, ex.notes) from None
    except (TypeError, ValueError) as ex:
        raise _err(bound.s, f"cannot compute {what}", getattr(e, "span", ast.NO_SPAN), [str(ex)]) from None


def _broadcast(bound, e, shape: tuple, what: str) -> np.ndarray:
    v = _value(bound, e, what)
    try:
        return np.broadcast_to(v, shape).astype(float)
    except ValueError:
        raise _err(bound.s, f"{what} has shape {v.shape}, which does not fit {shape}", e.span) from None


def _fit(bound, v, shape: tuple, e, what: str) -> np.ndarray:
    """v broadcast to `shape`, or an error at `e`."""
    try:
        return np.broadcast_to(v, shape).astype(float)
    except ValueError:
        raise _err(bound.s, f"{what} has shape {np.shape(v)}, which does not fit {shape}", e.span) from None


def _shown(v) -> str:
    """A value for a message: one number as `%g`, an array in NumPy's print."""
    v = np.asarray(v, float)
    return f"{float(v.reshape(-1)[0]):g}" if v.size == 1 else np.array2string(v, precision=6)


def _check_spd(bound, M: np.ndarray, e, what: str) -> None:
    """M (…, D, D) must be symmetric positive definite (a covariance or a scale matrix), or an
    error at `e`: a non-positive-definite one has no density, and the samplers would take
    square roots of it."""
    M = np.asarray(M, float)
    ok = bool(np.all(np.isfinite(M))) and np.allclose(M, np.swapaxes(M, -1, -2), rtol=1e-10,
                                                      atol=1e-12 * max(1.0, float(np.abs(M).max(initial=0.0))))
    if ok:
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            ok = False
    if not ok:
        sym = 0.5 * (M + np.swapaxes(M, -1, -2))
        low = float(np.min(np.linalg.eigvalsh(sym))) if np.all(np.isfinite(sym)) else float("nan")
        raise _err(bound.s, f"{what} must be symmetric positive definite", e.span,
                   [f"`{unparse(e)}` has smallest eigenvalue {low:.6g}" + ("" if np.allclose(M, sym) else
                                                                          " and is not symmetric")])


def _same_for_all(bound, v: np.ndarray, inner: int, e, what: str) -> np.ndarray:
    """A hyperparameter given per component (leading axes) must be equal across components."""
    flat = v.reshape((-1,) + v.shape[v.ndim - inner:]) if v.ndim > inner else v[None]
    if not np.allclose(flat, flat[:1]):
        raise _err(bound.s, f"{what} differs between components; the mixture methods take one prior for all", e.span)
    return flat[0]


def _weights(bound, form: MixtureForm, C: int):
    from augury.runtime.mixtures.problem import WeightPrior
    if form.weight_prior is None:
        e = form.weights
        if isinstance(e, ast.Call):  # categorical(logits = ...)
            logits = _broadcast(bound, call_arg(e, "logits"), (C,), "the logits")
            w = np.exp(logits - logits.max())
            return WeightPrior("fixed", C, fixed=w / w.sum())
        w = _broadcast(bound, e, (C,), "the weights")
        if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise _err(bound.s, f"the weights `{unparse(e)}` must be non-negative and sum to 1", e.span)
        return WeightPrior("fixed", C, fixed=w)
    call = form.weight_prior
    if call.func == "dirichlet":
        a = _broadcast(bound, call_arg(call, "concentration"), (C,), "the Dirichlet concentration")
        if np.any(a <= 0):
            raise _err(bound.s, "the Dirichlet concentration must be positive", call.span)
        return WeightPrior("dirichlet", C, concentration=a)
    alpha_e = call_arg(call, "alpha")
    alpha = _value(bound, alpha_e, "the concentration `alpha`")
    if alpha.size != 1 or not np.isfinite(alpha).all() or float(alpha.reshape(-1)[0]) <= 0:
        raise _err(bound.s, f"the concentration `alpha` of `{call.func}` must be one positive number, got "
                            f"{_shown(alpha)}", (alpha_e or call).span)
    return WeightPrior("dp", C, alpha=float(alpha.reshape(-1)[0]))


def _gaussian_prior(bound, form: MixtureForm, K: int, D: int):
    from augury.runtime.mixtures.problem import GaussianPrior
    mean_loc = form.mean_priors[0]
    call = mean_loc.stmt.dist
    loc_e = call_arg(call, "loc")
    inner = 1 if len(bound.param_shapes[form.means]) > 1 else 0  # real[K] means: one feature
    m0 = _same_for_all(bound, _value(bound, loc_e, "the prior mean"), inner, loc_e, "the prior mean") \
        if loc_e is not None else np.zeros(D)
    m0 = _fit(bound, m0, (D,), loc_e if loc_e is not None else call, "the prior mean")
    kappa0 = S0 = nu0 = Psi0 = cov = None
    kind = form.conjugacy
    if call.func == "normal":
        sc = call_arg(call, "scale")
        s0 = _same_for_all(bound, _value(bound, sc, "the prior scale"), inner, sc, "the prior scale")
        s0 = _fit(bound, s0, (D,), sc, "the prior scale")
        if not np.all(np.isfinite(s0) & (s0 > 0)):
            raise _err(bound.s, f"the prior scale of `{form.means}` must be positive, got {_shown(s0)}",
                       sc.span)
        S0 = np.diag(s0 ** 2)
    else:
        cov_e = call_arg(call, "cov")
        if kind == "niw":
            how, c = niw_factor(cov_e, form.spread_param, mean_loc)
            cv = 1.0 if c is None else _value(bound, c, "the prior's covariance factor")
            if np.size(cv) != 1 or not np.isfinite(cv).all() or float(np.reshape(cv, -1)[0]) <= 0:
                raise _err(bound.s, f"the factor `{unparse(c)}` of the prior covariance `{unparse(cov_e)}` must be "
                                    f"one positive number (a positive-definite covariance), got "
                                    f"{_shown(cv)}", c.span)
            cv = float(np.reshape(cv, -1)[0])
            kappa0 = 1.0 / cv if how == "mul" else cv
        else:
            S0 = _same_for_all(bound, _value(bound, cov_e, "the prior covariance"), 2, cov_e, "the prior covariance")
            S0 = _fit(bound, S0, (D, D), cov_e, "the prior covariance")
            _check_spd(bound, S0, cov_e, f"the prior covariance of `{form.means}`")
    if form.spread_param is not None:
        call = form.spread_priors[0].stmt.dist
        nu0 = float(_same_for_all(bound, _value(bound, call_arg(call, "df"), "the degrees of freedom"), 0,
                                  call_arg(call, "df"), "the degrees of freedom"))
        if not nu0 > D - 1:  # the inverse-Wishart is proper only for df > D − 1
            raise _err(bound.s, f"the degrees of freedom of `inv_wishart` must exceed D − 1 = {D - 1}, got {nu0:g}",
                       call_arg(call, "df").span)
        se = call_arg(call, "scale")
        Psi0 = _fit(bound, _same_for_all(bound, _value(bound, se, "the inverse-Wishart scale"), 2, se,
                                         "the inverse-Wishart scale"), (D, D), se, "the inverse-Wishart scale")
        _check_spd(bound, Psi0, se, "the inverse-Wishart scale")
    else:
        v = _value(bound, form.spread, "the component covariance")
        if form.family == "normal":
            if inner == 0 and v.ndim == 1:  # one feature: a scale per component
                v = v[:, None]
            v = _fit(bound, v, v.shape[:-1] + (D,), form.spread, "the component scale") if v.ndim else np.full(D, float(v))
            if np.any(v <= 0):
                raise _err(bound.s, "the component scale must be positive", form.spread.span)
            v = np.einsum("...d,de->...de", v ** 2, np.eye(D))
        try:
            cov = np.broadcast_to(v, (K, D, D)).astype(float)
        except ValueError:
            raise _err(bound.s, f"the component covariance has shape {v.shape}, not ({D}, {D}) or ({K}, {D}, {D})",
                       form.spread.span) from None
        _check_spd(bound, cov, form.spread, "the component covariance")
    return GaussianPrior(kind, m0, kappa0=kappa0, nu0=nu0, Psi0=Psi0, S0=S0, cov=cov)


def _vmf_prior(bound, form: MixtureForm, D: int):
    from augury.runtime.mixtures.problem import VMFPrior
    m0, tau0 = np.eye(1, D)[0], 0.0
    if form.mean_priors and form.mean_priors[0].stmt.dist.func == "von_mises_fisher":
        call = form.mean_priors[0].stmt.dist
        m0 = _same_for_all(bound, _value(bound, call_arg(call, "mu"), "the prior mean direction"), 1, call_arg(call, "mu"),
                           "the prior mean direction")
        m0 = _fit(bound, m0, (D,), call_arg(call, "mu"), "the prior mean direction")
        tau0 = float(_same_for_all(bound, _value(bound, call_arg(call, "kappa"), "the prior concentration"), 0,
                                   call_arg(call, "kappa"), "the prior concentration"))
        if not (np.isfinite(tau0) and tau0 >= 0):
            raise _err(bound.s, f"the prior concentration of `{form.means}` must be non-negative, got {tau0:g}",
                       call_arg(call, "kappa").span)
        m0 = m0 / max(np.linalg.norm(m0), 1e-300)
    if form.spread_param is None:
        k = _value(bound, form.spread, "the concentration")
        k = float(_same_for_all(bound, k, 0, form.spread, "the concentration"))
        if k <= 0:
            raise _err(bound.s, "the concentration must be positive", form.spread.span)
        return VMFPrior(m0, tau0, kappa=k)
    call = form.spread_priors[0].stmt.dist
    a = float(_same_for_all(bound, _value(bound, call_arg(call, "concentration"), "the gamma shape"), 0,
                            call_arg(call, "concentration"), "the gamma shape"))
    b = float(_same_for_all(bound, _value(bound, call_arg(call, "rate"), "the gamma rate"), 0, call_arg(call, "rate"),
                            "the gamma rate"))
    for v, e, what in ((a, call_arg(call, "concentration"), "shape"), (b, call_arg(call, "rate"), "rate")):
        if not (np.isfinite(v) and v > 0):
            raise _err(bound.s, f"the gamma {what} of `{form.spread_param}` must be positive, got {v:g}", e.span)
    return VMFPrior(m0, tau0, kappa_shape=a, kappa_rate=b, kappa_shared=not form.spread_indexed)


def _check_assignment_size(bound, form: MixtureForm, N: int) -> None:
    """The assignment has one entry per point: `z : category(K)[70]` with 60 points is an error
    naming both, not an assignment cut to the points."""
    s, z = bound.s, form.assignment
    shape = tuple(bound.param_shapes[z]) if z in bound.param_shapes else np.shape(bound.env.values[z])
    if shape != (N,):
        decl = s.params[z] if z in s.params else s.data[z]
        raise _err(s, f"the assignment `{z}` has shape {shape}, but `{form.data}` has {N} points: it takes one "
                      f"entry per point", decl.span,
                   [f"declare it with the points' size, e.g. `{z} : category(K)[N]` with `{form.data} : real[N, D]`"])


def mixture_problem(bound, form: MixtureForm):
    """The samplers' `MixtureProblem` of a bound model (`BoundData`)."""
    import jax.numpy as jnp

    from augury.runtime.mixtures.problem import MixtureProblem
    s = bound.s
    X = np.asarray(bound.env.values[form.data], dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise _err(s, f"the mixture methods take `{form.data}` as points × features (real[N, D]), not an array of "
                      f"{X.ndim} dimensions", s.data[form.data].span)
    N, D = X.shape
    if N == 0:
        raise _err(s, f"`{form.data}` has no points: the mixture methods need at least one", s.data[form.data].span)
    if form.assignment is not None:
        _check_assignment_size(bound, form, N)
    mshape = tuple(bound.param_shapes[form.means])
    names = {"data": form.data, "means": form.means}
    if form.within is not None:
        C, M = mshape[0], mshape[1]
        K = C * M
        groups = np.repeat(np.arange(C), M)
        wprior = _weights(bound, form, C)
        call = form.within_priors[0].stmt.dist
        b = _broadcast(bound, call_arg(call, "concentration"), (C, M), "the within-class concentration").reshape(K)
        from dataclasses import replace
        wprior = replace(wprior, groups=groups, within=b)
        names["within"] = form.within
    else:
        K = mshape[0]
        wprior = _weights(bound, form, K)
    if isinstance(form.weights, ast.Name) and form.weights.id in s.params:
        names["weights"] = form.weights.id
    if form.spread_param is not None:
        names["covariances" if form.family == "mvnormal" else "concentration"] = form.spread_param
    if form.assignment is not None:
        names["assignment"] = form.assignment
    labels = -np.ones(N, np.int32)
    if form.labelled:
        z = np.asarray(bound.env.values[form.assignment])
        seen = np.asarray(bound.observed.get(form.assignment, np.ones(N, bool)))
        labels = np.where(seen, z, -1).astype(np.int32)
        C = wprior.size
        if np.any(labels >= C):
            raise _err(s, f"`{form.assignment}` has a label {int(labels.max())} but there are {C} components",
                       s.data[form.assignment].span)
    shapes = {n: tuple(bound.param_shapes[n]) for r, n in names.items() if n in bound.param_shapes}
    if form.family == "von_mises_fisher":
        norms = np.linalg.norm(X, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-6):
            i = int(np.argmax(np.abs(norms - 1)))
            raise _err(s, f"`{form.data}[{i}]` has norm {norms[i]:.6g}; von Mises–Fisher points are unit vectors",
                       s.data[form.data].span, ["normalize the rows (x / |x|)"])
        return MixtureProblem(jnp.asarray(X, bound.dtype), labels, K, "vmf", wprior, vmf=_vmf_prior(bound, form, D),
                              names=names, shapes=shapes, dtype=bound.dtype)
    return MixtureProblem(jnp.asarray(X, bound.dtype), labels, K, "gaussian", wprior,
                          gaussian=_gaussian_prior(bound, form, K, D), names=names, shapes=shapes, dtype=bound.dtype)
