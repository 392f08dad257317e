"""`prior`: independent joint draws from the prior and the prior predictive.

A BlackJAX-style sampler looped by the driver: each step draws the next block of joint draws
(`Problem.draw_prior`, vmapped over keys), so that a large number of draws shows progress,
stays within memory per block, and can be interrupted keeping the blocks done.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .protocol import Draws, Problem

BLOCK = 1000  # joint draws per step
NAN_NOTE = ("a distribution's parameters are not finite there, or a prior truncated by its declared support keeps "
            "so little mass that rejection sampling ran out of tries (bounds far in a tail)")


def num_steps(settings: dict) -> int:
    return -(-int(settings["samples"]) // BLOCK)


def build(problem: Problem, settings: dict):
    """`init(key) -> state` and `step(state, key) -> (state, info)`; the state counts steps and
    each step's info holds its block of draws."""
    block = min(BLOCK, int(settings["samples"]))

    def init(key):
        return jnp.zeros((), jnp.int32)

    def step(state, key):
        draws = jax.vmap(problem.draw_prior)(jax.random.split(key, block))
        # a draw that could not be made (NaN) stops the run; a let that overflows is only reported
        lets = {k: v for k, v in draws.items() if problem.kinds.get(k) == "let"}
        return state + 1, {"draws": {k: v for k, v in draws.items() if k not in lets}, "_lets": lets}

    return init, step


def finalize(problem: Problem, state, infos: list, settings: dict) -> Draws:
    n = int(settings["samples"])
    parts = [{**i["draws"], **i["_lets"]} for i in infos]
    draws = {k: np.concatenate([np.asarray(p[k]) for p in parts])[:n] for k in (parts[0] if parts else {})}
    order = [k for k in problem.kinds if k in draws]
    return Draws({k: draws[k] for k in order}, chains=None, settings={"samples": n})
