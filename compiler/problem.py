"""The `Problem` each method receives: what `LoweredModel.problem()` gives every method, plus
what particle methods need (the flat unconstrained view, the state-space callables)."""

from __future__ import annotations

from typing import Optional

from augury.errors import AuguryInferenceError
from augury.runtime.samplers.protocol import Problem

# methods that start from prior draws of the params given the observed data
PARTICLE_METHODS = frozenset({"smc"})
CHAIN_METHODS = frozenset({"particle_filter", "pmmh", "smc2"})


def problem_for(method: str, lowered, settings: Optional[dict] = None) -> Problem:
    """The `Problem` of `method` on a bound model (`settings`: the method's checked settings).
    What it builds (a mode search, the state-space probe) is kept with the bound model, so a
    second run with other seeds rebuilds nothing."""
    problem = lowered.problem()
    key = ("problem", method, (settings or {}).get("reference", "auto"))
    if key in lowered.compiled_runs:
        parts = lowered.compiled_runs[key]
    else:
        parts = lowered.compiled_runs[key] = _parts(method, lowered, settings)
    for name, value in parts.items():
        setattr(problem, name, value)
    return problem


def _parts(method: str, lowered, settings: Optional[dict]) -> dict:
    """The fields a particle method adds to the `Problem`."""
    from types import SimpleNamespace
    problem = SimpleNamespace(kinds=lowered.problem().kinds)
    if method in PARTICLE_METHODS:
        from .unconstrained import laplace_reference, model_unconstrained
        reference = (settings or {}).get("reference", "auto")
        improper = improper_priors(lowered.s)
        if reference == "prior" and improper:
            raise AuguryInferenceError(
                f"`{improper[0]}` has a flat prior on an unbounded support, which cannot be sampled from",
                notes=["use reference = \"auto\" or \"laplace\": the particles then start from a Gaussian "
                       "around the posterior mode", "or give it a proper prior"])
        problem.unconstrained = model_unconstrained(lowered, None if improper else lowered.prior_program)
        if reference == "laplace" or (reference == "auto" and improper):
            try:
                problem.unconstrained = laplace_reference(problem.unconstrained, evidence_defined=not improper)
            except ValueError as ex:
                raise AuguryInferenceError(f"smc cannot start: {ex}",
                                           notes=["give every parameter a proper prior, so that the particles "
                                                  "start from prior draws"]) from None
    elif method in CHAIN_METHODS:
        from .state_space import build_state_space, recognize
        from .unconstrained import static_unconstrained
        form = recognize(lowered.s)
        assert not isinstance(form, str), form  # the method table refused this model already
        if form.static:
            problem.static = static_unconstrained(lowered, lowered.prior_program, form.name)
        problem.state_space = build_state_space(lowered, form)
        problem.kinds = {**{n: k for n, k in problem.kinds.items() if n != form.name}, form.name: "param"}
    return {k: v for k, v in vars(problem).items() if k != "kinds" or method in CHAIN_METHODS}


def improper_priors(s) -> list[str]:
    """The params whose prior is `flat()` on an unbounded support (improper)."""
    from .methods import flat_is_proper
    return [loc.stmt.target.name for loc in s.samples
            if loc.stmt.dist.func == "flat" and loc.stmt.target.name in s.params
            and not flat_is_proper(s, loc.stmt.target.name)]
