"""The JAX backend of the diffusion samplers (see `augury.runtime.backends`)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


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

    def compile_steps(self, step: Callable) -> Callable:
        """`run(x, rng, block, data) -> (x, rng, infos)`: `step(x, rng, c, data)` over the rows of
        `block` (a dict of (B,) host arrays), one compiled `lax.scan`; `infos` stacked over the B
        steps.  `data` (the measurement's arrays) is an argument, not a constant of the program."""
        @jax.jit
        def run(x, rng, block, data):
            def body(carry, c):
                x, rng, info = step(*carry, c, data)
                return (x, rng), info

            (x, rng), infos = jax.lax.scan(body, (x, rng), block)
            return x, rng, infos

        return lambda x, rng, block, data: run(x, rng, {k: jnp.asarray(v, self.dtype) for k, v in block.items()}, data)

    def block(self, x) -> None:
        jax.block_until_ready(x)

    def no_grad(self):
        import contextlib
        return contextlib.nullcontext()
