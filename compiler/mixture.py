"""Mixture models in the plain generative style: the pattern the mixture methods need.

`recognize(s)` reads the model as

    w ~ dirichlet(a) | dirichlet_process(alpha) | stick_breaking(alpha)   # or w known
    for n in range(N) {
      z[n] ~ categorical(w)                        # z a param, or data `missing -1` (labels)
      X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])       # Sigma known, or Sigma ~ inv_wishart(...)
      X[n] ~ normal(mu[z[n]], s)                   # s known: a diagonal covariance
      X[n] ~ von_mises_fisher(mu[z[n]], kappa)     # X on sphere(D); kappa known or ~ gamma(...)
      X[n] ~ mixture(v[z[n]], von_mises_fisher(mu[z[n]], kappa))   # several components per class
    }
    X[n] ~ mixture(w, mvnormal(mu, Sigma))          # the assignment marginalized in the model

with priors mu[k] ~ mvnormal(m0, c * Sigma[k]) (normal–inverse-Wishart), mu ~ mvnormal(m0, S0)
or normal(m0, s0) (known or independent covariance), mu ~ von_mises_fisher(m0, tau0) or flat()
on the sphere, and returns a `MixtureForm`, or the reason it cannot (the method table shows
it).  `mixture_problem` (compiler/mixture_binding.py) evaluates the hyperparameters of a bound
model into the samplers' `MixtureProblem`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


from augury.dsl import ast
from augury.dsl.signatures import DISTRIBUTIONS
from augury.dsl.unparse import unparse

from .analysis import reads
from .structure import Located, Structure

WEIGHT_PRIORS = {"dirichlet": "Dirichlet", "dirichlet_process": "Dirichlet process",
                 "stick_breaking": "Dirichlet process (stick-breaking)"}
FAMILIES = ("mvnormal", "normal", "von_mises_fisher")


@dataclass(frozen=True)
class MixtureForm:
    """The recognized pieces, as names and expressions (with their spans)."""

    data: str                          # X
    assignment: Optional[str]          # z; None when the model writes `mixture(w, ...)`
    labelled: bool                     # z is data with missing entries
    weights: ast.Expr                  # the class weights' expression (`w`)
    weight_prior: Optional[ast.Call]   # w's prior, None when w is known
    family: str                        # "mvnormal" | "normal" | "von_mises_fisher"
    means: str                         # mu
    mean_priors: tuple[Located, ...]
    spread: ast.Expr                   # the covariance / scale / concentration as written
    spread_param: Optional[str]        # Sigma or kappa when it is a param
    spread_indexed: bool               # Sigma[z[n]] / kappa[z[n]] (per component)
    spread_priors: tuple[Located, ...]
    within: Optional[str] = None       # v of `mixture(v[z[n]], ...)` (prototypes)
    within_priors: tuple[Located, ...] = ()
    likelihood: Optional[ast.Sample] = None

    @property
    def weight_kind(self) -> str:
        if self.weight_prior is None:
            return "fixed"
        return "dirichlet" if self.weight_prior.func == "dirichlet" else "dp"

    @property
    def conjugacy(self) -> str:
        """The component prior's kind: "niw", "known_cov", "independent", "vmf_known", "vmf_gamma"."""
        if self.family == "von_mises_fisher":
            return "vmf_gamma" if self.spread_param else "vmf_known"
        if self.spread_param is None:
            return "known_cov"
        return "niw" if any(self.spread_param in reads(loc.stmt.dist) for loc in self.mean_priors) else "independent"


def call_arg(call: ast.Call, name: str) -> Optional[ast.Expr]:
    params = DISTRIBUTIONS[call.func].params if call.func in DISTRIBUTIONS else ()
    i = params.index(name) if name in params else len(call.args)
    return call.args[i] if i < len(call.args) else call.kwarg(name)


def _is_component_index(e, name: str, z: str, n: Optional[str]) -> bool:
    """`name[z[n]]`."""
    return (isinstance(e, ast.Index) and isinstance(e.obj, ast.Name) and e.obj.id == name and len(e.indices) == 1
            and _is_z(e.indices[0], z, n))


def _is_z(e, z: str, n: Optional[str]) -> bool:
    return (isinstance(e, ast.Index) and isinstance(e.obj, ast.Name) and e.obj.id == z and len(e.indices) == 1
            and isinstance(e.indices[0], ast.Name) and e.indices[0].id == n)


def _indexed_name(e) -> Optional[str]:
    if isinstance(e, ast.Index) and isinstance(e.obj, ast.Name):
        return e.obj.id
    return e.id if isinstance(e, ast.Name) else None


def _category_names(s: Structure) -> list[str]:
    return [n for n, d in list(s.params.items()) + list(s.data.items()) if d.type.base == "category"]


def recognize(s: Structure) -> Union[MixtureForm, str]:
    """The mixture form of the model, or why it has none."""
    cats = _category_names(s)
    liks = [loc for loc in s.samples if loc.stmt.target.name in s.data and loc.stmt.target.name not in cats]
    mix = [loc for loc in liks if loc.stmt.dist.func == "mixture" or any(
        isinstance(c, ast.Index) and isinstance(c.obj, ast.Name) and c.obj.id in cats
        for c in ast.walk_expr(loc.stmt.dist))]
    if not mix:
        return "there is no mixture: no `X[n] ~ ...(mu[z[n]], ...)` with a `category` assignment `z`, " \
               "and no `mixture(...)` likelihood"
    if len(liks) != 1:
        other = next(loc for loc in liks if loc is not mix[0])
        return (f"the mixture methods need one likelihood, of `{mix[0].stmt.target.name}`, and `"
                f"{other.stmt.target.name}` has one too")
    lik = mix[0]
    X = lik.stmt.target.name
    dist = lik.stmt.dist
    loop_var = lik.loops[-1].var if lik.loops else None
    if lik.loops and not (len(lik.stmt.target.indices) == 1 and isinstance(lik.stmt.target.indices[0], ast.Name)
                          and lik.stmt.target.indices[0].id == loop_var and len(lik.loops) == 1):
        return f"the likelihood must be one point per loop step: `for n in range(N) {{ {X}[n] ~ ... }}`"
    if not lik.loops and lik.stmt.target.indices:
        return f"the likelihood of `{X}` must cover the whole array"
    # the assignment
    z = None
    within = None
    if dist.func == "mixture":
        wexpr, comp = call_arg(dist, "weights"), call_arg(dist, "component")
        if wexpr is None or not isinstance(comp, ast.Call):
            return "`mixture(weights, COMPONENT)` needs both arguments"
        zs = {e.indices[0].obj.id for e in ast.walk_expr(dist) if isinstance(e, ast.Index) and e.indices
              and isinstance(e.indices[0], ast.Index) and isinstance(e.indices[0].obj, ast.Name)
              and e.indices[0].obj.id in cats}
        if zs:  # mixture(v[z[n]], vmf(mu[z[n]], kappa)): components per class
            z = zs.pop()
            if not _is_component_index(wexpr, _indexed_name(wexpr) or "", z, loop_var) or \
                    _indexed_name(wexpr) not in s.params:
                return f"with an assignment `{z}`, `mixture`'s weights must be a param indexed by it, `v[{z}[n]]`"
            within = _indexed_name(wexpr)
            comp_dist = comp
        else:
            comp_dist = comp
    else:
        comp_dist = dist
        wexpr = None
        zs = {e.obj.id for e in ast.walk_expr(dist) if isinstance(e, ast.Index) and isinstance(e.obj, ast.Name)
              and e.obj.id in cats}
        z = zs.pop() if len(zs) == 1 else None
        if z is None:
            return f"the likelihood of `{X}` reads several `category` variables; a mixture has one assignment"
    if comp_dist.func not in FAMILIES:
        return (f"the components are `{comp_dist.func}(...)`; the mixture methods take `mvnormal`, `normal` "
                "(known scale) and `von_mises_fisher` components")
    labelled = False
    if z is not None:
        zloc = s.samples_of(z)
        if len(zloc) != 1 or zloc[0].stmt.dist.func != "categorical":
            return f"the assignment `{z}` needs one prior `{z}[n] ~ categorical(w)`"
        zcall = zloc[0].stmt.dist
        if call_arg(zcall, "logits") is not None:
            wexpr_z = zcall
        else:
            wexpr_z = call_arg(zcall, "probs")
        if wexpr_z is None:
            return f"`{z}`'s categorical needs its probabilities"
        if zloc[0].loops and zloc[0].stmt.target.indices and any(v in reads(wexpr_z) for v in zloc[0].loop_vars):
            return f"`{z}`'s weights must be the same for every point (`{z}[n] ~ categorical(w)`)"
        wexpr_top = wexpr_z
        labelled = z in s.data
    else:
        wexpr_top = wexpr
    # weights
    weight_prior = None
    wname = _indexed_name(wexpr_top) if isinstance(wexpr_top, ast.Name) else None
    if wname in s.params:
        wl = s.samples_of(wname)
        if len(wl) != 1 or wl[0].loops or wl[0].stmt.dist.func not in WEIGHT_PRIORS:
            return (f"the weights `{wname}` need one prior `{wname} ~ dirichlet(...)`, `dirichlet_process(alpha)` "
                    "or `stick_breaking(alpha)`")
        weight_prior = wl[0].stmt.dist
        if any(r in s.params for r in reads(weight_prior)):
            return f"the prior of `{wname}` reads a parameter; its hyperparameters must be known"
    elif any(r in s.params for r in reads(wexpr_top)):
        return f"the weights `{unparse(wexpr_top)}` must be a simplex param or known"
    # the component's parameters
    loc_e = call_arg(comp_dist, "mu" if comp_dist.func == "von_mises_fisher" else "loc")
    if comp_dist.func == "mvnormal":
        spread = call_arg(comp_dist, "cov")
        if spread is None:
            return "the mixture methods need `mvnormal(mu[z[n]], cov)` (a covariance, not `scale_tril` or `precision`)"
    elif comp_dist.func == "normal":
        spread = call_arg(comp_dist, "scale")
    else:
        spread = call_arg(comp_dist, "kappa")
    if loc_e is None or spread is None:
        return f"`{comp_dist.func}` needs both its location and its spread"
    if z is not None:
        if not _is_component_index(loc_e, _indexed_name(loc_e) or "", z, loop_var):
            return f"the component means must be indexed by the assignment, `mu[{z}[n]]`"
    elif not isinstance(loc_e, ast.Name):
        return "`mixture(w, COMPONENT)`'s component must take the means array itself, `mvnormal(mu, Sigma)`"
    mu = _indexed_name(loc_e)
    if mu not in s.params:
        return f"the component means `{mu}` must be a param"
    why = _means_support(s, comp_dist.func, mu)
    if why:
        return why
    spread_param = _indexed_name(spread) if _indexed_name(spread) in s.params else None
    spread_indexed = spread_param is not None and (
        _is_component_index(spread, spread_param, z, loop_var) if z is not None else isinstance(spread, ast.Name)
        and s.params[spread_param].type.dims != ())
    spread_known = None  # a known array indexed by the assignment, `S[z[n]]`
    if spread_param is None and z is not None and _indexed_name(spread) is not None and \
            _is_component_index(spread, _indexed_name(spread), z, loop_var):
        spread_known = _indexed_name(spread)
        if any(r in s.params for r in reads(ast.Name(spread_known))):
            return f"the spread `{unparse(spread)}` must be a param (indexed by the assignment) or known"
        if comp_dist.func == "von_mises_fisher":
            return "a known concentration must be one number for all components (`kappa`, not `kappa[z[n]]`)"
    elif spread_param is None and any(r in s.params for r in reads(spread)):
        return f"the spread `{unparse(spread)}` must be a param (indexed by the assignment) or known"
    if comp_dist.func == "normal" and spread_param is not None:
        return ("a `normal` component needs a known scale; for unknown covariances write "
                "`mvnormal(mu[z[n]], Sigma[z[n]])` with `Sigma ~ inv_wishart(...)`")
    if comp_dist.func == "mvnormal" and spread_param is not None and not spread_indexed:
        return f"`{spread_param}` is one covariance shared by the components; the mixture methods take one per " \
               f"component, `{spread_param}[z[n]]`"
    # priors of the component parameters
    mean_priors = tuple(s.samples_of(mu))
    spread_priors = tuple(s.samples_of(spread_param)) if spread_param else ()
    why = _check_priors(s, comp_dist.func, mu, mean_priors, spread_param, spread_priors)
    if why:
        return why
    within_priors = ()
    if within is not None:
        within_priors = tuple(s.samples_of(within))
        if not within_priors or any(loc.stmt.dist.func != "dirichlet" for loc in within_priors):
            return f"the within-class weights `{within}` need a Dirichlet prior"
        if weight_prior is not None and weight_prior.func != "dirichlet":
            return "several components per class take Dirichlet class weights, not a Dirichlet process"
    used = {mu, spread_param, within, z, wname} - {None}
    extra = [p for p in s.params if p not in used]
    if extra:
        return f"`{extra[0]}` is a parameter outside the mixture (weights, assignment, component parameters)"
    return MixtureForm(X, z, labelled, wexpr_top, weight_prior, comp_dist.func, mu, mean_priors,
                       ast.Name(spread_known, spread.span) if spread_known else spread,
                       spread_param, spread_indexed, spread_priors, within, within_priors, lik.stmt)


def _means_support(s: Structure, family: str, mu: str) -> Optional[str]:
    """Gaussian means declared on a restricted support (`positive`, `ordered(K)`, `real(lower = 0)`, …):
    the declared type wins (the prior is truncated to it), and the conjugate updates of every
    mixture method draw the means on all of R^D, so they refuse rather than leave the support."""
    if family == "von_mises_fisher":
        return None  # the sphere is checked with the mean directions' priors
    decl = s.params[mu]
    if decl.type.base == "real" and not decl.type.kwargs:
        return None
    return (f"the means `{mu}` are declared `{unparse(decl.type)}` ({decl.span}), a restricted support that the "
            f"mixture methods' conjugate updates do not keep; declare them `real`, or use nuts or smc, which "
            f"sample the declared support")


def _check_priors(s, family, mu, mean_priors, spread_param, spread_priors) -> Optional[str]:
    for name, locs in ((mu, mean_priors), (spread_param, spread_priors)):
        if len(locs) > 1:
            return (f"`{name}` has {len(locs)} prior statements; the mixture methods take one prior for every "
                    f"component alike (`{name} ~ ...`, or one statement in a loop over the components)")
    if family == "von_mises_fisher":
        if s.params[mu].type.base != "sphere":
            return f"the mean directions `{mu}` must be declared on `sphere(D)`"
        for loc in mean_priors:
            if loc.stmt.dist.func not in ("von_mises_fisher", "flat"):
                return f"the mean directions `{mu}` take a `von_mises_fisher(m0, tau0)` or `flat()` prior"
        if spread_param is not None:
            if len(spread_priors) != 1 or spread_priors[0].stmt.dist.func != "gamma" or spread_priors[0].loops:
                return f"the concentration `{spread_param}` takes one `gamma(shape, rate)` prior"
        return _known_hyper(s, mean_priors + spread_priors, ())
    if not mean_priors:
        return f"the means `{mu}` need a prior"
    for loc in mean_priors:
        if loc.stmt.dist.func not in ("mvnormal", "normal"):
            return f"the means `{mu}` take an `mvnormal` or `normal` prior (conjugate), not `{loc.stmt.dist.func}`"
    if spread_param is not None:
        if not spread_priors or any(loc.stmt.dist.func != "inv_wishart" for loc in spread_priors):
            return f"the covariances `{spread_param}` take an `inv_wishart(df, scale)` prior (conjugate)"
        for loc in mean_priors:
            cov = call_arg(loc.stmt.dist, "cov") if loc.stmt.dist.func == "mvnormal" else None
            if cov is not None and spread_param in reads(cov) and niw_factor(cov, spread_param, loc) is None:
                return (f"the prior covariance of `{mu}` must be `c * {spread_param}[k]` (normal–inverse-Wishart) "
                        f"or not read `{spread_param}`")
    return _known_hyper(s, mean_priors + spread_priors, (spread_param,))


def _hyper_exprs(loc: Located, spread_param: Optional[str]) -> list:
    """The hyperparameter expressions of a prior (for NIW's `c * Sigma[k]`, only `c`)."""
    call = loc.stmt.dist
    out = []
    for k, e in list(zip(DISTRIBUTIONS[call.func].params, call.args)) + list(call.kwargs) if call.func in DISTRIBUTIONS else []:
        if spread_param is not None and spread_param in reads(e):
            f = niw_factor(e, spread_param, loc)
            if f is not None and f[1] is not None:
                out.append(f[1])
        else:
            out.append(e)
    return out


def _known_hyper(s, locs, allowed) -> Optional[str]:
    for loc in locs:
        exprs = _hyper_exprs(loc, allowed[0] if allowed else None)
        names = set().union(*[reads(e) for e in exprs]) if exprs else set()
        bad = [r for r in names if r in s.params]
        if bad:
            return f"the prior of `{loc.stmt.target.name}` reads the parameter `{bad[0]}`; hyperparameters must be known"
        if any(v in names for v in loc.loop_vars):
            return f"the prior of `{loc.stmt.target.name}` must be the same for every component"
    return None


def niw_factor(cov, sigma: str, loc: Located) -> Optional[tuple[str, Optional[ast.Expr]]]:
    """`Sigma[k]` -> ("mul", None); `c * Sigma[k]` / `Sigma[k] * c` -> ("mul", c); `Sigma[k] / c` -> ("div", c)."""
    k = loc.loop_vars[-1] if loc.loops else None

    def is_sigma(e):
        return (isinstance(e, ast.Index) and isinstance(e.obj, ast.Name) and e.obj.id == sigma and len(e.indices) == 1
                and isinstance(e.indices[0], ast.Name) and e.indices[0].id == k) or \
            (k is None and isinstance(e, ast.Name) and e.id == sigma)
    if is_sigma(cov):
        return ("mul", None)
    if isinstance(cov, ast.BinOp) and cov.op in ("*", "/"):
        if cov.op == "*" and is_sigma(cov.right) and sigma not in reads(cov.left):
            return ("mul", cov.left)
        if is_sigma(cov.left) and sigma not in reads(cov.right):
            return ("mul" if cov.op == "*" else "div", cov.right)
    return None


# --------------------------------------------------------------------------- describing

def describe(s: Structure, form: MixtureForm) -> str:
    """One line for `augury check`: what the compiler recognized."""
    comp = {"mvnormal": "Gaussian", "normal": "Gaussian (known diagonal covariance)",
            "von_mises_fisher": "von Mises–Fisher"}[form.family]
    weights = "known weights" if form.weight_prior is None else \
        f"{WEIGHT_PRIORS[form.weight_prior.func]} weights `{unparse(form.weights)}`"
    conj = {"niw": "normal–inverse-Wishart (conjugate: collapsed updates exact)",
            "known_cov": "normal means with known covariance (conjugate: collapsed updates exact)",
            "independent": "independent normal means and inverse-Wishart covariances (semi-conjugate: blocked updates)",
            "vmf_known": "von Mises–Fisher mean directions with known concentration (conjugate: collapsed updates exact)",
            "vmf_gamma": "von Mises–Fisher mean directions, gamma concentration (blocked updates)"}[form.conjugacy]
    z = f"assignment `{form.assignment}`" if form.assignment else "assignment marginalized in the model"
    labels = f", labels partially observed (`{form.assignment}` missing)" if form.labelled else ""
    protos = f", several components per class (`{form.within}`)" if form.within else ""
    return f"mixture of {comp} components of `{form.data}`: {z}{labels}{protos}; {weights}; {conj}"
