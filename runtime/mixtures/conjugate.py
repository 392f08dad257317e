"""Conjugate component updates: sufficient statistics, posteriors, marginal likelihoods and
posterior predictives for the Gaussian (normal–inverse-Wishart, known covariance) and von
Mises–Fisher (known concentration) families.

Everything takes per-component sufficient statistics with a leading K axis, so one call
serves K components (and a sharded X reduces to the same statistics; `stats` is one einsum).

- `stats(X, R)`: n_k = Σ r_nk, s1_k = Σ r_nk x_n, s2_k = Σ r_nk x_n x_nᵀ for assignment
  weights R (N, K) (one-hot labels or responsibilities).
- `log_marginal(prior, n, s1, s2)`: log p(X_k), the component's points' joint density with
  its parameters integrated out.
- `log_predictive(prior, n, s1, s2, X)`: log p(x_n | X_k) (N, K).
- `posterior_sample(prior, n, s1, s2, key)`: a draw of the component parameters.

NIW (Murphy 2007, "Conjugate Bayesian analysis of the Gaussian distribution", §9):
κ_n = κ₀ + n, m_n = (κ₀ m₀ + s1)/κ_n, ν_n = ν₀ + n, Ψ_n = Ψ₀ + s2 + κ₀ m₀m₀ᵀ − κ_n m_n m_nᵀ;
log p(X) = −(nD/2) log π + log Γ_D(ν_n/2) − log Γ_D(ν₀/2) + (ν₀/2) log|Ψ₀| − (ν_n/2) log|Ψ_n|
+ (D/2)(log κ₀ − log κ_n); the predictive is Student-t with ν_n − D + 1 degrees of freedom,
location m_n and scale Ψ_n (κ_n + 1)/(κ_n (ν_n − D + 1)).

vMF with known κ and μ ~ vMF(m₀, τ₀): μ | X ~ vMF(r/|r|, |r|) with r = τ₀ m₀ + κ s1, and
log p(X) = n log C_D(κ) + log C_D(τ₀) − log C_D(|r|), C_D(k) = k^{D/2−1} / ((2π)^{D/2} I_{D/2−1}(k))
(C_D(0) = 1/|S^{D−1}|), Mardia & Jupp (2000) §10.3.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, multigammaln

from ..sphere import VonMisesFisher, log_bessel_iv, sphere_log_area
from .problem import MixtureProblem


def stats(X, R):
    """(n (K,), s1 (K, D), s2 (K, D, D)) of points X (N, D) weighted by R (N, K)."""
    n = jnp.sum(R, axis=0)
    s1 = R.T @ X
    s2 = jnp.einsum("nk,nd,ne->kde", R, X, X)
    return n, s1, s2


def log_normalizer_vmf(k, d: int):
    """log C_D(k) of the vMF density on S^{D−1}, with C_D(0) = 1/|S^{D−1}|."""
    k = jnp.asarray(k)
    nu = d / 2.0 - 1.0
    small = k < 1e-8
    ks = jnp.where(small, 1.0, k)
    val = nu * jnp.log(ks) - (d / 2.0) * math.log(2 * math.pi) - log_bessel_iv(nu, ks)
    return jnp.where(small, -sphere_log_area(d), val)


# --------------------------------------------------------------------------- Gaussian, NIW

def niw_posterior(prior, n, s1, s2):
    """(κ_n (K,), m_n (K, D), ν_n (K,), Ψ_n (K, D, D))."""
    m0 = jnp.asarray(prior.m0, s1.dtype)
    k0, nu0 = prior.kappa0, prior.nu0
    kn = k0 + n
    mn = (k0 * m0 + s1) / kn[:, None]
    psi = jnp.asarray(prior.Psi0, s1.dtype) + s2 + k0 * jnp.outer(m0, m0) - kn[:, None, None] * \
        jnp.einsum("kd,ke->kde", mn, mn)
    psi = 0.5 * (psi + jnp.swapaxes(psi, -1, -2))
    return kn, mn, nu0 + n, psi


def _logdet(a):
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(a), axis1=-2, axis2=-1)), axis=-1)


def niw_log_marginal(prior, n, s1, s2):
    d = s1.shape[-1]
    kn, _, nun, psin = niw_posterior(prior, n, s1, s2)
    nu0 = prior.nu0
    return (-0.5 * n * d * math.log(math.pi) + multigammaln(0.5 * nun, d) - multigammaln(0.5 * nu0, d)
            + 0.5 * nu0 * _logdet(jnp.asarray(prior.Psi0, s1.dtype)) - 0.5 * nun * _logdet(psin)
            + 0.5 * d * (math.log(prior.kappa0) - jnp.log(kn)))


def student_t_logpdf(X, df, loc, scale):
    """log t_df(x; loc, scale) for X (N, D) against K components: df (K,), loc (K, D),
    scale (K, D, D) -> (N, K)."""
    d = X.shape[-1]
    L = jnp.linalg.cholesky(scale)
    diff = X[:, None, :] - loc[None]                                       # (N, K, D)
    sol = jax.scipy.linalg.solve_triangular(L[None], diff[..., None], lower=True)[..., 0]
    maha = jnp.sum(sol ** 2, axis=-1)
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return (gammaln(0.5 * (df + d)) - gammaln(0.5 * df) - 0.5 * d * jnp.log(df * math.pi) - half_logdet
            - 0.5 * (df + d) * jnp.log1p(maha / df))


def niw_log_predictive(prior, n, s1, s2, X):
    d = X.shape[-1]
    kn, mn, nun, psin = niw_posterior(prior, n, s1, s2)
    df = nun - d + 1.0
    scale = psin * ((kn + 1.0) / (kn * df))[:, None, None]
    return student_t_logpdf(X, df, mn, scale)


def sample_inv_wishart(key, df, psi):
    """Σ ~ InvWishart(df, Ψ) for a batch (K,) of df and (K, D, D) of Ψ, by Bartlett's
    decomposition of Σ⁻¹ ~ Wishart(df, Ψ⁻¹) = M A Aᵀ Mᵀ for any M Mᵀ = Ψ⁻¹, A lower triangular
    with A_ii² ~ χ²(df − i), A_ij ~ N(0, 1) below the diagonal."""
    k, d = psi.shape[0], psi.shape[-1]
    k1, k2 = jax.random.split(key)
    dfs = df[:, None] - jnp.arange(d, dtype=psi.dtype)[None]              # (K, D)
    diag = jnp.sqrt(2.0 * jax.random.gamma(k1, 0.5 * dfs, dtype=psi.dtype))
    off = jnp.tril(jax.random.normal(k2, (k, d, d), psi.dtype), -1)
    A = off + jax.vmap(jnp.diag)(diag)
    # with Ψ = C Cᵀ, C⁻ᵀ is a square root of Ψ⁻¹, so Σ⁻¹ = C⁻ᵀ A Aᵀ C⁻¹ and Σ = (C A⁻ᵀ)(C A⁻ᵀ)ᵀ
    C = jnp.linalg.cholesky(psi)
    eye = jnp.broadcast_to(jnp.eye(d, dtype=psi.dtype), A.shape)
    G = C @ jnp.swapaxes(jax.scipy.linalg.solve_triangular(A, eye, lower=True), -1, -2)
    sigma = G @ jnp.swapaxes(G, -1, -2)
    return 0.5 * (sigma + jnp.swapaxes(sigma, -1, -2))


def sample_mvnormal(key, mean, cov):
    L = jnp.linalg.cholesky(cov)
    z = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.einsum("kde,ke->kd", L, z)


def niw_sample(prior, n, s1, s2, key):
    """(mu (K, D), Sigma (K, D, D)) from the NIW posterior."""
    kn, mn, nun, psin = niw_posterior(prior, n, s1, s2)
    k1, k2 = jax.random.split(key)
    sigma = sample_inv_wishart(k1, nun, psin)
    return sample_mvnormal(k2, mn, sigma / kn[:, None, None]), sigma


# --------------------------------------------------------------------------- Gaussian, known covariance

def known_cov_posterior(prior, n, s1, cov):
    """(mean (K, D), cov (K, D, D)) of mu_k | X_k, with Σ_k = cov (K, D, D) known."""
    P0 = jnp.linalg.inv(jnp.asarray(prior.S0, s1.dtype))
    lam = jnp.linalg.inv(cov)
    Pn = P0[None] + n[:, None, None] * lam
    b = (P0 @ jnp.asarray(prior.m0, s1.dtype))[None] + jnp.einsum("kde,ke->kd", lam, s1)
    Cn = jnp.linalg.inv(Pn)
    Cn = 0.5 * (Cn + jnp.swapaxes(Cn, -1, -2))
    return jnp.einsum("kde,ke->kd", Cn, b), Cn


def known_cov_log_marginal(prior, n, s1, s2, cov):
    d = s1.shape[-1]
    m0 = jnp.asarray(prior.m0, s1.dtype)
    P0 = jnp.linalg.inv(jnp.asarray(prior.S0, s1.dtype))
    lam = jnp.linalg.inv(cov)
    Pn = P0[None] + n[:, None, None] * lam
    b = (P0 @ m0)[None] + jnp.einsum("kde,ke->kd", lam, s1)
    quad = jnp.einsum("kde,ked->k", lam, s2) + m0 @ P0 @ m0 - jnp.einsum("kd,kd->k", b, jnp.linalg.solve(Pn, b[..., None])[..., 0])
    return (-0.5 * n * d * math.log(2 * math.pi) - 0.5 * n * _logdet(cov) + 0.5 * _logdet(P0)
            - 0.5 * _logdet(Pn) - 0.5 * quad)


def mvnormal_logpdf(X, mean, cov):
    """log N(x_n; mean_k, cov_k) (N, K)."""
    d = X.shape[-1]
    L = jnp.linalg.cholesky(cov)
    diff = X[:, None, :] - mean[None]
    sol = jax.scipy.linalg.solve_triangular(L[None], diff[..., None], lower=True)[..., 0]
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * jnp.sum(sol ** 2, axis=-1) - half_logdet - 0.5 * d * math.log(2 * math.pi)


def known_cov_log_predictive(prior, n, s1, cov, X):
    mean, cn = known_cov_posterior(prior, n, s1, cov)
    return mvnormal_logpdf(X, mean, cov + cn)


# --------------------------------------------------------------------------- vMF, known concentration

def _vmf_r(prior, s1, kappa):
    return prior.tau0 * jnp.asarray(prior.m0, s1.dtype)[None] + kappa * s1


def vmf_log_marginal(prior, n, s1, kappa):
    d = s1.shape[-1]
    r = jnp.linalg.norm(_vmf_r(prior, s1, kappa), axis=-1)
    return n * log_normalizer_vmf(kappa, d) + log_normalizer_vmf(prior.tau0, d) - log_normalizer_vmf(r, d)


def vmf_log_predictive(prior, n, s1, kappa, X):
    d = X.shape[-1]
    rv = _vmf_r(prior, s1, kappa)                                          # (K, D)
    r = jnp.linalg.norm(rv, axis=-1)
    r_new = jnp.linalg.norm(rv[None] + kappa * X[:, None, :], axis=-1)      # (N, K)
    return log_normalizer_vmf(kappa, d) + log_normalizer_vmf(r, d)[None] - log_normalizer_vmf(r_new, d)


def vmf_sample(prior, n, s1, kappa, key):
    """mu (K, D) from vMF(r/|r|, |r|) (uniform on the sphere where |r| = 0)."""
    rv = _vmf_r(prior, s1, kappa)
    r = jnp.linalg.norm(rv, axis=-1, keepdims=True)
    direction = jnp.where(r > 0, rv / jnp.where(r > 0, r, 1.0), jnp.eye(1, rv.shape[-1], dtype=rv.dtype))
    return VonMisesFisher(direction, jnp.maximum(r[:, 0], 1e-12)).draw(key, rv.shape)


# --------------------------------------------------------------------------- dispatch on the problem

def _cov(problem: MixtureProblem, dtype):
    return jnp.asarray(problem.gaussian.cov, dtype)


def log_marginal(problem: MixtureProblem, n, s1, s2):
    """log p(X_k) (K,) for a conjugate problem."""
    if problem.family == "vmf":
        return vmf_log_marginal(problem.vmf, n, s1, problem.vmf.kappa)
    if problem.gaussian.kind == "niw":
        return niw_log_marginal(problem.gaussian, n, s1, s2)
    return known_cov_log_marginal(problem.gaussian, n, s1, s2, _cov(problem, s1.dtype))


def log_predictive(problem: MixtureProblem, n, s1, s2, X):
    """log p(x | X_k) (N, K) for a conjugate problem."""
    if problem.family == "vmf":
        return vmf_log_predictive(problem.vmf, n, s1, problem.vmf.kappa, X)
    if problem.gaussian.kind == "niw":
        return niw_log_predictive(problem.gaussian, n, s1, s2, X)
    return known_cov_log_predictive(problem.gaussian, n, s1, _cov(problem, X.dtype), X)


def posterior_sample(problem: MixtureProblem, n, s1, s2, key) -> dict:
    """Component parameters drawn given the statistics: {"means": (K, D)[, "covariances": (K, D, D)]}."""
    if problem.family == "vmf":
        return {"means": vmf_sample(problem.vmf, n, s1, problem.vmf.kappa, key)}
    if problem.gaussian.kind == "niw":
        mu, sigma = niw_sample(problem.gaussian, n, s1, s2, key)
        return {"means": mu, "covariances": sigma}
    mean, cn = known_cov_posterior(problem.gaussian, n, s1, _cov(problem, s1.dtype))
    return {"means": sample_mvnormal(key, mean, cn)}
