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

    - `numpyro_model`: a NumPyro model function of no arguments (NUTS, HMC), or of the keyword
      arguments `data_args`, which NUTS and HMC pass to their compiled programs as arguments (SBC
      reruns them on new data of the same shapes without compiling: augury/sbc_data.py).
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
    unconstrained: Optional["Unconstrained"] = None
    state_space: Optional["StateSpace"] = None
    static: Optional["Unconstrained"] = None
    inverse: Any = None  # runtime.inverse.InverseProblem (the diffusion methods)
    mixture: Any = None  # runtime.mixtures.problem.MixtureProblem (the mixture methods)
    data_args: dict = field(default_factory=dict)  # `numpyro_model`'s keyword arguments (see above)


@dataclass(frozen=True)
class Unconstrained:
    """Continuous unknowns as one flat unconstrained vector `z` of length `dimension`: what
    particle methods (tempered SMC, PMMH, SMC²) move.  All callables are pure and jittable.

    - `draw(key) -> z`: an exact draw from the prior, mapped to unconstrained coordinates.
    - `log_prior(z)`: the *normalized* log prior density of `z` (Jacobian of the map to the
      declared supports included, truncation normalizers included), so that evidence
      estimates are right.
    - `log_likelihood(z)`: the log likelihood (discrete unknowns summed out); None where the
      method gets the likelihood elsewhere (a particle filter, for PMMH and SMC²).
    - `constrain(z) -> dict`: the values to report (params by name, reported lets), or for
      `Problem.static` the values the state-space callables take as `theta`.
    - `sites(z) -> dict`: the values keyed by site name, for `Problem.recover_discrete`.
    """

    dimension: int
    draw: Callable
    log_prior: Callable
    log_likelihood: Optional[Callable]
    constrain: Callable
    sites: Optional[Callable] = None
    # False when `draw`/`log_prior` are a reference distribution standing in for an improper
    # prior: the tempering then ends at the right posterior, but its evidence is not defined
    evidence_defined: bool = True
    reference: str = "prior"  # where draws come from: "prior", or "laplace" (a Gaussian around the mode)


@dataclass(frozen=True)
class LinearGaussianStep:
    """A state-space step that is linear and Gaussian, for the locally optimal proposal:
    x[t] | x[t-1] ~ N(transition_mean(x_prev, t, theta), transition_cov(t, theta)) and
    y[t] | x[t] ~ N(H x[t] + b, R) with `(H, b, R, y) = emission(t, theta)`; H is (M, D),
    b and y are (M,), R is (M, M); where nothing is observed at t, `observed(t)` is False.
    States are vectors (D,) here; a scalar state is D = 1.

    Optional, for the optimal proposal at t = 0 (x[0] drawn from p(x[0] | y[0]) rather than
    its prior): `init_mean(theta)` (D,) and `init_cov(theta)` (D, D), x[0] ~ N(init_mean,
    init_cov).  Without them step 0 draws x[0] from `StateSpace.init_draw`."""

    transition_mean: Callable
    transition_cov: Callable
    emission: Callable
    observed: Callable
    init_mean: Optional[Callable] = None
    init_cov: Optional[Callable] = None


@dataclass(frozen=True)
class StateSpace:
    """A chain `x[0..T-1]` recognized by the compiler (a latent `x[t]` whose distribution reads
    `x[t-1]`, observations that read `x[t]`), as pure jittable callables.  `theta` is a dict of
    static parameter values ({} when the model has none); `t` may be traced.

    - `init_draw(key, theta) -> x0` and `init_log_density(x0, theta)`: x[0]'s distribution.
    - `transition_draw(key, x_prev, t, theta) -> x` and `transition_log_density(x, x_prev, t,
      theta)`: x[t] given x[t-1], for t >= 1.
    - `emission_log_density(x, t, theta)`: log p(observations at t | x[t] = x), 0 where none.
    - `constant_log_likelihood(theta)`: the log density of data that does not read the chain.
    - `linear_gaussian`: set when every step is linear-Gaussian (locally optimal proposal).
    """

    name: str
    length: int
    state_shape: tuple
    init_draw: Callable
    init_log_density: Callable
    transition_draw: Callable
    transition_log_density: Callable
    emission_log_density: Callable
    constant_log_likelihood: Callable
    linear_gaussian: Optional[LinearGaussianStep] = None


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
    log_evidence_sd: Optional[float] = None
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
