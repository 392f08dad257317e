"""Which inference methods apply to a model, and why the others do not.

Each method has one requirement function over the collected model; `augury
check`, the default choice and `Model.sample` all read this one table.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional

from augury.dsl.signatures import DISTRIBUTIONS, METHODS, TYPES
from augury.dsl.unparse import unparse

from .analysis import chain_variables
from .structure import Structure

from augury.runtime.samplers import SAMPLERS

# methods whose binding simulates the data on the left of `~` (which may then be absent)
SIMULATES_DATA = {"prior"}
# methods that start from prior draws of the params given the observed data
STARTS_FROM_PRIOR_GIVEN_DATA = {"smc", "particle_filter", "pmmh", "smc2"}

_COMPACT = {"unit", "simplex", "sphere", "cholesky_corr"}


def _prior_families(s: Structure) -> dict[str, str]:
    out = {}
    for loc in s.samples:
        sig = DISTRIBUTIONS.get(loc.stmt.dist.func)
        if sig is not None and loc.stmt.target.name in s.params:
            out.setdefault(loc.stmt.target.name, sig.family)
    return out


def _continuous(s: Structure) -> list[str]:
    return [n for n, d in s.params.items() if not (TYPES.get(d.type.base) and TYPES[d.type.base].discrete)]


def _needs_gradients(s: Structure) -> Optional[str]:
    fams = _prior_families(s)
    learned = [n for n, f in fams.items() if f == "learned"]
    if learned:
        return f"`{learned[0]}` has a diffusion prior, which has no density to differentiate"
    if not _continuous(s) and not any(d.has_missing for d in s.data.values()):
        return "the model has no continuous unknown"
    return None


def flat_is_proper(s: Structure, name: str) -> bool:
    """`flat()` on a compact support (a simplex, `unit`, a sphere, `cholesky_corr`, a real with
    both bounds) or a finite one (`bool`, `category(K)`, an int with both bounds) is the uniform
    distribution there: proper, and drawn as such."""
    t = s.declared_type(name)
    return t is not None and (t.base in _COMPACT or t.base in ("bool", "category") or (
        t.base in ("real", "int") and t.kwarg("lower") is not None and t.kwarg("upper") is not None))


def _needs_proper_prior(s: Structure) -> Optional[str]:
    for loc in s.samples:
        name = loc.stmt.target.name
        if loc.stmt.dist.func == "flat" and name in s.params and not flat_is_proper(s, name):
            return (f"`{name}` has a flat prior on an unbounded support ({unparse(s.declared_type(name))}), "
                    "which cannot be sampled from")
    fams = _prior_families(s)
    learned = [n for n, f in fams.items() if f == "learned"]
    if learned:
        return f"`{learned[0]}` has a diffusion prior, whose prior draws need a diffusion sampler"
    return None


def _no_learned_prior(s: Structure) -> Optional[str]:
    learned = [n for n, f in _prior_families(s).items() if f == "learned"]
    if learned:
        return f"`{learned[0]}` has a diffusion prior, whose prior draws need a diffusion sampler"
    return None


def _needs_chain(s: Structure) -> Optional[str]:
    if any(n in s.params for n in chain_variables(s)):
        return None
    return "there is no chain: no parameter `x[t]` whose distribution reads `x[t - 1]`"


def _chain_form(s: Structure) -> Optional[str]:
    from .state_space import recognize
    form = recognize(s)
    return form if isinstance(form, str) else None


def _no_static_params(s: Structure) -> Optional[str]:
    from .state_space import recognize
    form = recognize(s)
    if not isinstance(form, str) and form.static:
        return (f"{', '.join('`%s`' % n for n in form.static)} {'is a parameter' if len(form.static) == 1 else 'are parameters'} "
                "next to the chain: use pmmh or smc2, which also infer static parameters")
    return None


def _needs_static_params(s: Structure) -> Optional[str]:
    from .state_space import recognize
    form = recognize(s)
    if not isinstance(form, str) and not form.static:
        return "the model has no static parameter next to the chain: use particle_filter"
    return None


def _no_missing_data(s: Structure) -> Optional[str]:
    missing = [n for n, d in s.data.items() if d.has_missing]
    if missing:
        return (f"`{missing[0]}` has missing entries, unknowns with no prior to start the particles from "
                "(use nuts, which imputes them)")
    return None


def _needs_diffusion_prior(s: Structure) -> Optional[str]:
    fams = _prior_families(s)
    if any(f in ("learned", "analytic") for f in fams.values()):
        return None
    return "no parameter has a diffusion or analytic prior (`diffusion(...)`, `gaussian(...)`, `gmm(...)`)"


def _inverse_form(s: Structure) -> Optional[str]:
    from .inverse import recognize
    form = recognize(s)
    return form if isinstance(form, str) else None


def _needs_svd(method: str) -> Callable[[Structure], Optional[str]]:
    def requirement(s: Structure) -> Optional[str]:
        from .inverse import operator_kind, recognize
        form = recognize(s)
        if form.family != "normal":
            return (f"{method} needs a Gaussian measurement, `{form.data} ~ normal(A({form.param}), sigma)`, "
                    f"and `{form.data}` is `{form.family}(...)` (dps takes it)")
        kind, linear, svd = operator_kind(s, form)
        if linear and svd:
            return None
        return (f"{method} needs a linear operator with an SVD, and `{form.op}` is `{kind}(...)`, "
                + ("which is not linear" if not linear else "which has none"))
    return requirement


def _denoising(s: Structure) -> Optional[str]:
    from .inverse import operator_kind, recognize
    form = recognize(s)
    if operator_kind(s, form)[0] == "identity" and form.family == "normal":
        return None
    how = f"is `{form.family}(...)`" if form.family != "normal" else f"is measured through `{form.op}`"
    return f"tweedie is for pure denoising, `{form.data} ~ normal({form.param}, sigma)`, and `{form.data}` {how}"


def _mixture_form(s: Structure) -> Optional[str]:
    from .mixture import recognize
    form = recognize(s)
    return form if isinstance(form, str) else None


def _conjugate_dp(s: Structure) -> Optional[str]:
    from .mixture import recognize
    form = recognize(s)
    if form.weight_kind != "dp":
        how = "known" if form.weight_kind == "fixed" else "Dirichlet"
        return (f"split_merge samples Dirichlet-process mixtures, and the weights here are {how} "
                "(write `w ~ dirichlet_process(alpha)`; gibbs, em and vi take these weights)")
    if form.conjugacy not in ("niw", "known_cov", "vmf_known"):
        return ("split_merge needs conjugate components (normal–inverse-Wishart, a known covariance, or "
                "a known von Mises–Fisher concentration) for its marginal likelihoods; use gibbs")
    if form.within is not None:
        return "split_merge does not take several components per class; use gibbs"
    return None


REQUIREMENTS: dict[str, list[Callable[[Structure], Optional[str]]]] = {
    "nuts": [_needs_gradients], "hmc": [_needs_gradients],
    # improper flat priors: smc tempers from a Gaussian reference around the mode instead
    "smc": [_no_learned_prior, _no_missing_data], "prior": [_needs_proper_prior],
    "particle_filter": [_needs_chain, _chain_form, _needs_proper_prior, _no_static_params],
    "pmmh": [_needs_chain, _chain_form, _needs_proper_prior, _needs_static_params],
    "smc2": [_needs_chain, _chain_form, _needs_proper_prior, _needs_static_params],
    **{m: [_needs_diffusion_prior] for m, sig in METHODS.items() if sig.family == "diffusion"},
    "dps": [_needs_diffusion_prior, _inverse_form],
    **{m: [_needs_diffusion_prior, _inverse_form, _needs_svd(m)] for m in ("ddrm", "pigdm", "pc", "mcgdiff")},
    "tds": [_needs_diffusion_prior, _inverse_form], "ensemble": [_needs_diffusion_prior, _inverse_form],
    "tweedie": [_needs_diffusion_prior, _inverse_form, _denoising],
    **{m: [_mixture_form] for m, sig in METHODS.items() if sig.family == "mixture"},
    "split_merge": [_mixture_form, _conjugate_dp],
}


def draws_from_prior(method: str) -> bool:
    """Whether `method` starts from prior draws (and so needs every prior proper)."""
    return _needs_proper_prior in REQUIREMENTS.get(method, [])


def applicable_methods(s: Structure) -> dict[str, Optional[str]]:
    """Method name -> None when it applies, else the reason it does not."""
    out = {}
    for m in METHODS:
        reason = None
        for req in REQUIREMENTS.get(m, []):
            reason = req(s)
            if reason:
                break
        if reason is None and m not in SAMPLERS:
            reason = "not implemented in this version of Augury yet"
        out[m] = reason
    return out


def default_method(s: Structure) -> Optional[str]:
    """The `infer` statement's method, else NUTS when it applies."""
    if s.infer is not None:
        return s.infer.method.func
    table = applicable_methods(s)
    for m in ("nuts", "smc", "ensemble", "ddrm", "dps", "split_merge", "particle_filter"):
        if table.get(m) is None:
            return m
    return None


def settings_conflict(method: str, settings: Mapping[str, Any],
                      given: Iterable[str] = ()) -> Optional[tuple[str, tuple[str, ...], list[str]]]:
    """The first way `method`'s settings, each valid alone, do not go together: (message, the
    settings involved, most to blame first, notes), or None.  `given` names the settings the user
    wrote (in the `infer` line or as overrides), not left at their defaults.  The samplers check
    the same again for callers of the driver; here the error can point at the `infer` line."""
    s, given = settings, set(given)
    for name in ("particles", "state_particles"):
        if method in ("smc", "particle_filter", "pmmh", "smc2") and name in s and int(s[name]) < 2:
            return f"`{name}` must be at least 2 for `{method}`, not {int(s[name])}", (name,), []
    if method == "smc":
        if int(s["max_mcmc_steps"]) < int(s["mcmc_steps"]):
            return (f"`max_mcmc_steps` ({s['max_mcmc_steps']}) must be at least `mcmc_steps` ({s['mcmc_steps']})",
                    ("max_mcmc_steps", "mcmc_steps"), [])
        p, n = max(int(s["mcmc_steps"]), 2), int(s["particles"])
        if s["waste_free"] and (n % p or n // p < 2):
            return (f"waste-free SMC runs `particles` / P chains of P = max(mcmc_steps, 2) = {p} states each, so "
                    f"`particles` must be a multiple of {p} and at least {2 * p}, not {n}",
                    ("particles", "mcmc_steps", "waste_free"),
                    [f"try particles={max(2 * p, round(n / p) * p)}, or change mcmc_steps"])
    if method == "hmc" and {"num_steps", "trajectory_length"} <= given and s["num_steps"] is not None:
        return ("`num_steps` and `trajectory_length` both set the length of a trajectory: give one",
                ("trajectory_length", "num_steps"),
                ["num_steps: a fixed number of leapfrog steps; trajectory_length: the step count follows the "
                 "adapted step size"])
    return None
