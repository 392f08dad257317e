"""Distributions on the unit sphere S^{D−1} ⊂ R^D: von Mises–Fisher and the
uniform distribution (`flat()` on `sphere(D)`)."""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import gammaln
from numpyro.distributions import constraints

from .dist_base import LogDensity, batch_of, float_dtype

# Wood's acceptance rate is above 1/2 for every κ and D, so 64 rounds fail with probability < 2^-64
_WOOD_ROUNDS = 64


def _debye_coefficients(order: int) -> tuple[tuple[float, ...], ...]:
    """p_k with u_k(t) = t^k p_k(t²), k = 0..order, for Debye's polynomials u_k of DLMF 10.41.9
    (u₀ = 1, u_{k+1}(t) = ½t²(1−t²)u_k′(t) + ⅛∫₀ᵗ(1−5τ²)u_k(τ)dτ), built in exact rationals;
    each p_k is listed by ascending powers of t² (u_k has only the powers t^k, t^{k+2}, …, t^{3k})."""
    u = [[Fraction(1)]]
    for _ in range(order):
        c = u[-1]
        nxt = [Fraction(0)] * (len(c) + 3)
        for i, a in enumerate(c):
            if i:  # ½t²(1−t²) · i a t^{i−1}
                nxt[i + 1] += i * a / 2
                nxt[i + 3] -= i * a / 2
            nxt[i + 1] += a / (8 * (i + 1))  # ⅛∫₀ᵗ (1 − 5τ²) a τ^i dτ
            nxt[i + 3] -= 5 * a / (8 * (i + 3))
        u.append(nxt)
    return tuple(tuple(float(c[k + 2 * j]) for j in range(k + 1)) for k, c in enumerate(u))


# Region boundary and expansion length: with s = √(ν² + x²) ≥ 30 the k-th Debye term is at most
# max_t |p_k(t²)| / s^k (the maximum is at t = 0, the Hankel limit); the first omitted one (k = 14)
# is < 3e-16. Below it the power series needs < 60 terms for 1e-22 relative truncation.
_DEBYE_MIN_S = 30.0
_DEBYE_P = _debye_coefficients(13)
_SERIES_TERMS = 60


def _log_bessel_iv_series(nu, x):
    """log I_ν(x) from DLMF 10.25.2, I_ν(x) = (x/2)^ν/Γ(ν+1) · Σ_m (x²/4)^m / (m! (ν+1)_m), the
    sum nested as 1 + r₁(1 + r₂(1 + …)) with r_m = (x²/4) / (m(m+ν)) and taken through log1p
    (so that log I₀(x) ≈ x²/4 keeps its relative accuracy at tiny x). For √(ν² + x²) < 30."""
    q = 0.25 * x * x

    def step(acc, m):
        return 1 + q / (m * (m + nu)) * acc, None

    ms = jnp.arange(_SERIES_TERMS, 1, -1, dtype=x.dtype)
    acc, _ = lax.scan(step, jnp.ones_like(x), ms)
    tail = q / (1 + nu) * acc  # Σ_{m ≥ 1}
    lead = jnp.where(nu == 0, 0.0, nu * jnp.log(0.5 * x)) - gammaln(nu + 1)
    return lead + jnp.log1p(tail)


def _log_bessel_iv_debye(nu, x):
    """log I_ν(x) from Debye's uniform expansion DLMF 10.41.3 (with η, p of 10.41.7–8),
    I_ν(νz) ~ e^{νη} / ((2πν)^{1/2}(1+z²)^{1/4}) Σ_k u_k(p)/ν^k, rewritten with s = √(ν² + x²),
    t = p = ν/s so that it stays finite at ν = 0 (where it is Hankel's DLMF 10.40.1):
    νη = s + ν log(x/(ν+s)), (2πν)^{1/2}(1+z²)^{1/4} = (2πs)^{1/2}, u_k(t)/ν^k = p_k(t²)/s^k."""
    s = jnp.sqrt(nu * nu + x * x)
    t2 = (nu / s) ** 2
    w = 1 / s
    total = jnp.zeros_like(s)
    for coeffs in reversed(_DEBYE_P[1:]):  # Horner in w over k ≥ 1, each p_k by Horner in t²
        pk = jnp.zeros_like(s)
        for c in reversed(coeffs):
            pk = pk * t2 + c
        total = (total + pk) * w
    return s + nu * jnp.log(x / (nu + s)) - 0.5 * jnp.log(2 * math.pi * s) + jnp.log1p(total)


def log_bessel_iv(nu, x, terms: int | None = None):
    """log I_ν(x), the modified Bessel function of the first kind, for ν ≥ 0 and x ≥ 0
    (broadcast over `nu` and `x`; jittable, and differentiable in x: d/dx log I_ν = I_{ν+1}/I_ν + ν/x).

    For s = √(ν² + x²) ≥ 30: Debye's uniform large-order expansion DLMF 10.41.3 (η and p from
    DLMF 10.41.7–10.41.8, Debye polynomials u₁..u₁₃ from the recurrence DLMF 10.41.9), written in
    s and t = ν/s so that it covers large ν at any x and, at small ν, reduces to Hankel's large-x
    expansion DLMF 10.40.1; its error is ≲ 3e-16 there. Below, the power series DLMF 10.25.2.
    Both branches are evaluated on safe inputs and selected with `jnp.where` (no NaN gradients).
    Relative error of log I against mpmath/scipy ≲ 1e-13 in float64 for ν ≤ 511, 1e-6 ≤ x ≤ 1e5.
    `terms` is accepted for compatibility and ignored."""
    del terms
    x = jnp.asarray(x)
    nu = jnp.asarray(nu)
    dtype = jnp.result_type(x, nu)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    x, nu = jnp.broadcast_arrays(x.astype(dtype), nu.astype(dtype))
    series = jnp.sqrt(nu * nu + x * x) < _DEBYE_MIN_S
    x_series = jnp.where(series, x, 1.0)
    x_debye = jnp.where(series, 2 * _DEBYE_MIN_S, x)
    out = jnp.where(series, _log_bessel_iv_series(nu, x_series), _log_bessel_iv_debye(nu, x_debye))
    return jnp.where(x == 0, jnp.where(nu == 0, 0.0, -jnp.inf), out)


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
