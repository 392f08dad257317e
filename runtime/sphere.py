"""Distributions on the unit sphere S^{D−1} ⊂ R^D: von Mises–Fisher and the
uniform distribution (`flat()` on `sphere(D)`)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import gammaln, logsumexp
from numpyro.distributions import constraints

from .dist_base import LogDensity, batch_of, float_dtype

# Wood's acceptance rate is above 1/2 for every κ and D, so 64 rounds fail with probability < 2^-64
_WOOD_ROUNDS = 64


def log_bessel_iv(nu, x, terms: int = 600):
    """log I_ν(x) by its power series Σ_m (x/2)^{2m+ν} / (m! Γ(m+ν+1)), summed in log space."""
    m = jnp.arange(terms, dtype=jnp.result_type(float))
    x = jnp.asarray(x)[..., None]
    t = (2 * m + nu) * jnp.log(x / 2) - gammaln(m + 1) - gammaln(m + nu + 1)
    return logsumexp(t, axis=-1)


def sphere_log_area(d: int) -> float:
    """log of the surface area of S^{d−1} ⊂ R^d: |S^{d−1}| = 2 π^{d/2} / Γ(d/2)."""
    return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


def _uniform_directions(key, shape: tuple[int, ...], dtype) -> jax.Array:
    """Uniform draws on the sphere of the last axis: a standard normal vector, normalized."""
    z = jax.random.normal(key, shape, dtype)
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True)


def wood_component(key, kappa, d: int) -> jax.Array:
    """w = μᵀx of x ~ vMF(μ, κ) on S^{d−1}, by Wood's (1994) rejection sampler:
    b = (d−1) / (2κ + √(4κ² + (d−1)²)), x₀ = (1−b)/(1+b), c = κx₀ + (d−1) log(1−x₀²);
    z ~ Beta((d−1)/2, (d−1)/2), w = (1 − (1+b)z) / (1 − (1−b)z), accepted when
    κw + (d−1) log(1 − x₀w) − c ≥ log u, u ~ U(0, 1). `kappa` has the batch shape.
    A. T. A. Wood, "Simulation of the von Mises Fisher distribution",
    Comm. Statist. Simulation Comput. 23 (1994) 157–164.

    z is drawn as (1 + g₁/|g|)/2, g ~ N(0, I_d): the first coordinate of a uniform point of
    S^{d−1} has density ∝ (1 − t²)^{(d−3)/2}, so this is Beta((d−1)/2, (d−1)/2) exactly, and it
    avoids the gamma sampler behind `jax.random.beta`, which takes seconds to compile."""
    dm1 = d - 1.0
    b = dm1 / (2 * kappa + jnp.sqrt(4 * kappa ** 2 + dm1 ** 2))  # this form does not cancel at large κ
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + dm1 * jnp.log1p(-x0 ** 2)

    def propose(k):
        kz, ku = jax.random.split(k)
        g = jax.random.normal(kz, kappa.shape + (d,), kappa.dtype)
        z = 0.5 * (1 + g[..., 0] / jnp.linalg.norm(g, axis=-1))
        w = (1 - (1 + b) * z) / (1 - (1 - b) * z)
        log_u = jnp.log(jax.random.uniform(ku, kappa.shape, kappa.dtype))
        return w, kappa * w + dm1 * jnp.log1p(-x0 * w) - c >= log_u

    def body(state):
        i, k, w, done = state
        k, sub = jax.random.split(k)
        w_new, accept = propose(sub)
        return i + 1, k, jnp.where(done, w, w_new), done | accept

    def cond(state):
        i, _, _, done = state
        return (i < _WOOD_ROUNDS) & ~jnp.all(done)

    init = (0, key, x0, jnp.zeros(kappa.shape, bool))
    return lax.while_loop(cond, body, init)[2]


def _householder_from_e1(x, mu):
    """H x with H = I − 2uuᵀ/|u|², u = e₁ − μ: the reflection taking e₁ to the unit vector μ.
    `mu` keeps its own (batch) shape: uᵀx is then a matrix-vector product for a shared μ
    (XLA:CPU in JAX 0.10 miscomputes the fused multiply-reduce-broadcast form of
    x − c u (uᵀx) with u broadcast from a constant vector, past 32768 elements)."""
    e1 = jnp.zeros(mu.shape[-1], mu.dtype).at[0].set(1.0)
    u = e1 - mu
    uu = jnp.einsum("...i,...i->...", u, u)[..., None]
    ux = jnp.einsum("...i,...i->...", x, u)[..., None]
    safe = jnp.where(uu > 1e-12, uu, 1.0)  # μ = e₁ needs no reflection
    return jnp.where(uu > 1e-12, x - (2 * ux / safe) * u, x)


class VonMisesFisher(LogDensity):
    """von Mises–Fisher on the unit sphere in R^D:
    log p(x) = κ μᵀx + (D/2 − 1) log κ − (D/2) log 2π − log I_{D/2−1}(κ)."""

    support = constraints.sphere

    def __init__(self, mu, kappa):
        self.mu, self.kappa = jnp.asarray(mu), jnp.asarray(kappa)
        self.event_shape = (self.mu.shape[-1],)

    def log_prob(self, value):
        d = self.mu.shape[-1]
        nu = d / 2.0 - 1.0
        k = self.kappa
        norm = nu * jnp.log(k) - (d / 2.0) * math.log(2 * math.pi) - log_bessel_iv(nu, k)
        return k * jnp.sum(self.mu * value, axis=-1) + norm

    def draw(self, key, shape):
        """x = H (w, √(1−w²) v): w from Wood's sampler, v uniform on S^{D−2}, and H
        the reflection taking e₁ to μ/|μ| (a non-unit μ scales κ, as in `log_prob`)."""
        batch = batch_of(shape, self.event_shape, "`von_mises_fisher`")
        d = self.event_shape[0]
        dtype = float_dtype(self.mu, self.kappa)
        mu = self.mu.astype(dtype)  # not broadcast to the batch: see `_householder_from_e1`
        norm = jnp.linalg.norm(mu, axis=-1, keepdims=True)
        kappa = jnp.broadcast_to(self.kappa * norm[..., 0], batch).astype(dtype)
        k_w, k_v = jax.random.split(key)
        w = wood_component(k_w, kappa, d)[..., None]
        v = _uniform_directions(k_v, batch + (d - 1,), dtype)
        x = jnp.concatenate([w, jnp.sqrt(jnp.clip(1 - w * w, 0.0, None)) * v], axis=-1)
        return _householder_from_e1(x, mu / norm)


class UniformSphere(LogDensity):
    """The uniform distribution on S^{D−1}: density 1 / |S^{D−1}| w.r.t. surface measure."""

    support = constraints.sphere

    def __init__(self, d: int):
        self.event_shape = (int(d),)

    def log_prob(self, value):
        value = jnp.asarray(value)
        return jnp.full(value.shape[:-1], -sphere_log_area(self.event_shape[0]), float_dtype(value))

    def draw(self, key, shape):
        batch_of(shape, self.event_shape, "the uniform distribution on the sphere")
        return _uniform_directions(key, shape, float_dtype())
