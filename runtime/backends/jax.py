"""The JAX backend of the diffusion samplers (see `augury.runtime.backends`)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp


class JaxBackend:
    """Arrays are `jax.Array`s; a step is compiled once with `jax.jit` (its per-step
    coefficients are traced scalars, so every step reuses that one program)."""

    name = "jax"

    def __init__(self, dtype: Any = jnp.float32):
        self.dtype = jnp.dtype(dtype)

    def asarray(self, x) -> jax.Array:
        return jnp.asarray(np.asarray(x), self.dtype)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    def scalar(self, value: float) -> jax.Array:
        return jnp.asarray(value, self.dtype)

    def rng(self, key) -> jax.Array:
        return key

    def normal(self, rng, shape: tuple) -> tuple:
        rng, sub = jax.random.split(rng)
        return rng, jax.random.normal(sub, shape, self.dtype)

    def full(self, shape: tuple, value) -> jax.Array:
        return jnp.full(shape, value, self.dtype)

    def sqrt(self, x):
        return jnp.sqrt(x)

    def where(self, cond, a, b):
        return jnp.where(cond, a, b)

    def pad(self, x, length: int) -> jax.Array:
        """(P, R) -> (P, length), zeros after the first R columns."""
        return jnp.pad(x, ((0, 0), (0, length - x.shape[1])))

    def per_particle_sum(self, x) -> jax.Array:
        return jnp.sum(x, axis=tuple(range(1, x.ndim)))

    def value_and_vjp(self, f: Callable, x) -> tuple:
        return jax.vjp(f, x)

    def value_and_jvp(self, f: Callable, x, v) -> tuple:
        """(f(x), (∂f/∂x) v): one forward-mode pass (the ensemble's Hutchinson trace of the score's Jacobian)."""
        return jax.jvp(f, (x,), (v,))

    def logsumexp(self, v) -> jax.Array:
        return logsumexp(v)

    def exp(self, v):
        return jnp.exp(v)

    def log(self, v):
        return jnp.log(v)

    def arange(self, n: int) -> jax.Array:
        return jnp.arange(n, dtype=jnp.int32)

    def resample(self, rng, log_W, n: int, scheme: str, due) -> tuple:
        """(rng, indices): `scheme`'s ancestors (runtime/particles.py) from normalized log weights
        where `due`, else the identity (both computed: `due` is traced)."""
        from ..particles import resampler
        rng, sub = jax.random.split(rng)
        idx = resampler(scheme)(sub, jnp.exp(log_W), n)
        return rng, jnp.where(due, idx, jnp.arange(n, dtype=jnp.int32))

    def gather(self, tree, idx):
        """Every array of `tree` indexed by `idx` along its leading (particle) axis."""
        return jax.tree.map(lambda a: a[idx], tree)

    def compile_steps(self, step: Callable, particles: int | None = None) -> Callable:
        """`run(x, rng, block, data) -> (x, rng, infos)`: `step(x, rng, c, data)` over the rows of
        `block` (a dict of (B,) host arrays), one compiled `lax.scan`; `infos` stacked over the B
        steps.  `data` (the measurement's arrays) is an argument, not a constant of the program.
        `x` may be a dict of arrays; with `particles` given and several devices, every array
        with a leading particle axis stays split over them (runtime/sharding.py)."""
        from ..sharding import constrain, particle_mesh
        mesh = particle_mesh(particles) if particles else None

        @jax.jit
        def run(x, rng, block, data):
            def body(carry, c):
                x, rng, info = step(constrain(carry[0], mesh), carry[1], c, data)
                return (constrain(x, mesh), rng), info

            (x, rng), infos = jax.lax.scan(body, (x, rng), block)
            return x, rng, infos

        return lambda x, rng, block, data: run(x, rng, {k: jnp.asarray(v, self.dtype) for k, v in block.items()}, data)

    def block(self, x) -> None:
        jax.block_until_ready(x)

    def no_grad(self):
        import contextlib
        return contextlib.nullcontext()
