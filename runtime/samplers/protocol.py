"""What a sampler receives and returns: the contract between the compiler and the samplers.

The compiler builds a `Problem` (arrays and callables, no syntax tree) from a model with its
data bound; a sampler returns `Draws`, from which the shared driver builds the `Posterior`.

A sampler module (one per method, registered in `augury.runtime.samplers.SAMPLERS`) exposes
one of two shapes:

* BlackJAX style, looped by the driver (`driver.loop`):
  `build(problem, settings) -> (init, step)` with `init(key) -> state` and
  `step(state, key) -> (state, info)`, both pure and jittable (`info` a dict of arrays; the
  driver stops on NaN or infinity in it, except in entries named `_...`); `num_steps(settings)` (or
  `None` when the number is adaptive, with `is_done(state)`), and
  `finalize(problem, state, infos, settings) -> Draws`.  The driver jits `step`, runs it,
  reports progress, stops on NaN or infinity in `info` naming the step, and keeps what is done
  when interrupted.
* one compiled program, as NUTS is: `run(problem, key, settings, *, method, progress) -> Draws`,
  which owns its loop (in segments, so that progress shows and Ctrl-C is honoured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np


# the integer stand-in for NaN: an integer draw that could not be made (the driver stops on it)
INT_NAN = int(np.iinfo(np.int32).min)


@dataclass
class Problem:
    """A model with its data bound, as the samplers see it.

    - `numpyro_model`: a NumPyro model function of no arguments (NUTS, HMC).
    - `draw_prior(key) -> dict`: one joint draw of every unknown from its prior and of every
      data variable from its likelihood, with the lets (prior sampling, SMC's start).
    - `recover_discrete(sites, key) -> dict`: draws of the summed-out discrete unknowns given
      a flat batch of continuous draws (`sites` keyed by site name, leading axis the draws).
    - `kinds`: variable name -> "param", "let", "missing" or "data" (for the posterior).
    - `continuous`: names of the continuous unknowns a gradient-based sampler moves.
    - `cache`: compiled programs, keyed by the sampler and its settings (a second run with
      other seeds compiles nothing).
    """

    numpyro_model: Optional[Callable] = None
    draw_prior: Optional[Callable] = None
    recover_discrete: Optional[Callable] = None
    kinds: dict[str, str] = field(default_factory=dict)
    continuous: tuple[str, ...] = ()
    cache: dict = field(default_factory=dict)
    dtype: Any = None


@dataclass
class Draws:
    """A sampler's result.  `draws[name]` is (chains, draws, *shape) when `chains` is set (MCMC),
    else (particles, *shape) with optional unnormalized `log_weights` (particles,).
    `sample_stats` holds per-draw statistics (same leading axes as the draws) and per-step ones
    (ESS, temperature, ...: any other shape)."""

    draws: dict[str, np.ndarray]
    chains: Optional[int] = None
    log_weights: Optional[np.ndarray] = None
    log_evidence: Optional[float] = None
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
