"""The `Problem` each method receives: what `LoweredModel.problem()` gives every method, plus
what particle methods need (the flat unconstrained view, the state-space callables)."""

from __future__ import annotations

from augury.runtime.samplers.protocol import Problem

# methods that start from prior draws of the params given the observed data
PARTICLE_METHODS = frozenset({"smc"})
CHAIN_METHODS = frozenset({"particle_filter", "pmmh", "smc2"})


def problem_for(method: str, lowered) -> Problem:
    """The `Problem` of `method` on a bound model."""
    problem = lowered.problem()
    if method in PARTICLE_METHODS:
        from .unconstrained import model_unconstrained
        problem.unconstrained = model_unconstrained(lowered, lowered.prior_program)
    elif method in CHAIN_METHODS:
        import jax

        from .state_space import build_state_space, recognize
        from .unconstrained import static_unconstrained
        form = recognize(lowered.s)
        assert not isinstance(form, str), form  # the method table refused this model already
        theta = {}
        if form.static:
            problem.static = static_unconstrained(lowered, lowered.prior_program, form.name)
            static = problem.static
            theta = jax.jit(lambda k: static.constrain(static.draw(k)))(jax.random.PRNGKey(0))
        problem.state_space = build_state_space(lowered, form, theta)
        problem.kinds = {**{n: k for n, k in problem.kinds.items() if n != form.name}, form.name: "param"}
    return problem
