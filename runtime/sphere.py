"""Distributions on the unit sphere S^{D−1} ⊂ R^D: von Mises–Fisher and the
uniform distribution (`flat()` on `sphere(D)`)."""

from __future__ import annotations

import math
from functools import partial
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero
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
# c[k−1, j]: the coefficient of t^{2j} s^{−k} in Σ_{k≥1} p_k(t²)/s^k, and (2j + k) c[k−1, j] for its
# x-derivative (d/dx of t^{2j} s^{−k} is −(2j + k)(x/s²) t^{2j} s^{−k}, as ds/dx = x/s, dt²/dx = −2t²x/s²)
_DEBYE_MATRIX = np.array([list(p) + [0.0] * (len(_DEBYE_P) - len(p)) for p in _DEBYE_P[1:]])
_DEBYE_MATRIX = np.stack([_DEBYE_MATRIX, _DEBYE_MATRIX * (2 * np.arange(len(_DEBYE_P))[None, :]
                                                          + np.arange(1, len(_DEBYE_P))[:, None])])


def _log_bessel_iv_series(nu, x):
    """(log I_ν(x), d/dx log I_ν(x)) from the power series DLMF 10.25.2,
    I_ν(x) = (x/2)^ν/Γ(ν+1) · (1 + Σ_{m≥1} T_m), T_m = Π_{i≤m} (x²/4) / (i(i+ν)), the sum taken
    through log1p (so that log I₀(x) ≈ x²/4 keeps its relative accuracy at tiny x), and
    d/dx log I_ν = ν/x + (2/x) Σ m T_m / (1 + Σ T_m). For √(ν² + x²) < 30 and x > 0."""
    q = 0.25 * x * x
    m = jnp.arange(1, _SERIES_TERMS + 1, dtype=x.dtype)
    terms = jnp.cumprod(q[..., None] / (m * (m + nu[..., None])), axis=-1)
    tail = jnp.sum(terms, axis=-1)
    value = nu * jnp.log(0.5 * x) - gammaln(nu + 1) + jnp.log1p(tail)
    return value, nu / x + (2 / x) * jnp.sum(m * terms, axis=-1) / (1 + tail)


def _log_bessel_iv_debye(nu, x):
    """(log I_ν(x), d/dx log I_ν(x)) from Debye's uniform expansion DLMF 10.41.3 (η, p of
    DLMF 10.41.7–10.41.8), I_ν(νz) ~ e^{νη} / ((2πν)^{1/2}(1+z²)^{1/4}) Σ_k u_k(p)/ν^k, rewritten
    with s = √(ν² + x²) and t = p = ν/s so that it stays finite at ν = 0 (where it is Hankel's
    DLMF 10.40.1): νη = s + ν log(x/(ν+s)), (2πν)^{1/2}(1+z²)^{1/4} = (2πs)^{1/2},
    u_k(t)/ν^k = p_k(t²)/s^k. Its x-derivative, term by term:
    x/(ν+s) + ν/x − x/(2s²) − (x/s²) Σ (2j+k) c_kj t^{2j} s^{−k} / (1 + Σ c_kj t^{2j} s^{−k})."""
    s = jnp.sqrt(nu * nu + x * x)
    t2 = (nu / s) ** 2
    n = len(_DEBYE_P) - 1
    w_pow = jnp.cumprod(jnp.broadcast_to((1 / s)[..., None], s.shape + (n,)), axis=-1)  # s^{-k}, k = 1..n
    t2_pow = jnp.cumprod(jnp.broadcast_to(t2[..., None], s.shape + (n,)), axis=-1)
    t2_pow = jnp.concatenate([jnp.ones_like(s)[..., None], t2_pow], axis=-1)  # t^{2j}, j = 0..n
    sums = jnp.einsum("...k,ckj,...j->c...", w_pow, _DEBYE_MATRIX.astype(s.dtype), t2_pow,
                      precision=lax.Precision.HIGHEST)  # no TF32/bf16 passes on accelerators
    value = s + nu * jnp.log(x / (nu + s)) - 0.5 * jnp.log(2 * math.pi * s) + jnp.log1p(sums[0])
    grad = x / (nu + s) + nu / x - x / (s * s) * (0.5 + sums[1] / (1 + sums[0]))
    return value, grad


def log_bessel_iv(nu, x, terms: int | None = None):
    """log I_ν(x), the modified Bessel function of the first kind, for ν ≥ 0 and x ≥ 0
    (broadcast over `nu` and `x`; jittable and vmappable).

    For s = √(ν² + x²) ≥ 30: Debye's uniform large-order expansion DLMF 10.41.3 (η and p from
    DLMF 10.41.7–10.41.8, Debye polynomials u₁..u₁₃ from the recurrence DLMF 10.41.9), written in
    s and t = ν/s so that it covers large ν at any x and, at small ν, reduces to Hankel's large-x
    expansion DLMF 10.40.1; its truncation error is ≲ 3e-16 there. Below, the power series
    DLMF 10.25.2. Branches are chosen with `jnp.where`, each evaluated on finite stand-in inputs
    where it is not used. Relative error of log I against mpmath ≲ 1e-14 in float64 for
    ν ≤ 511, 1e-6 ≤ x ≤ 1e5 (float32: ≲ 1e-4 of max(|log I|, 1)).

    The x-derivative is a custom JVP from the same expansions, differentiated term by term
    (≈ I_{ν+1}(x)/I_ν(x) + ν/x, DLMF 10.29.2, to ~1e-14): cheaper to compile than autodiff through
    them. A tangent in ν falls back to autodiff. `terms` is accepted for compatibility and ignored."""
    del terms
    x = jnp.asarray(x)
    nu = jnp.asarray(nu)
    dtype = jnp.result_type(x, nu)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    x, nu = jnp.broadcast_arrays(x.astype(dtype), nu.astype(dtype))
    return _log_bessel_iv(nu, x)


def _log_bessel_iv_and_dx(nu, x):
    series = jnp.sqrt(nu * nu + x * x) < _DEBYE_MIN_S
    zero = x == 0  # I_ν(0) = [ν = 0]: set below, with both branches fed finite stand-ins
    value_s, grad_s = _log_bessel_iv_series(nu, jnp.where(series & ~zero, x, 1.0))
    value_d, grad_d = _log_bessel_iv_debye(nu, jnp.where(series | zero, 2 * _DEBYE_MIN_S, x))
    value = jnp.where(zero, jnp.where(nu == 0, 0.0, -jnp.inf), jnp.where(series, value_s, value_d))
    grad = jnp.where(zero, jnp.where(nu == 0, 0.0, jnp.inf), jnp.where(series, grad_s, grad_d))
    return value, grad  # at x = 0: the one-sided limits


@jax.custom_jvp
def _log_bessel_iv_custom(nu, x):
    return _log_bessel_iv_and_dx(nu, x)[0]


@partial(_log_bessel_iv_custom.defjvp, symbolic_zeros=True)
def _log_bessel_iv_jvp(primals, tangents):
    nu, x = primals
    nu_dot, x_dot = tangents
    if not isinstance(nu_dot, SymbolicZero):  # d/dν: autodiff through the expansions
        x_dot = jnp.zeros_like(x) if isinstance(x_dot, SymbolicZero) else x_dot
        return jax.jvp(lambda n, v: _log_bessel_iv_and_dx(n, v)[0], (nu, x), (nu_dot, x_dot))
    value, grad = _log_bessel_iv_and_dx(nu, x)
    return value, (jnp.zeros_like(value) if isinstance(x_dot, SymbolicZero) else grad * x_dot)


# one fused kernel: eager calls would otherwise dispatch its ~100 small ops one by one
_log_bessel_iv = jax.jit(_log_bessel_iv_custom)


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
