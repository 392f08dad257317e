"""Distributions of the language (LANGUAGE.md §5), built on NumPyro.

`make_distribution(name, params)` returns an object with
`log_prob(value)` (element-wise over the batch shape), `event_shape` and
`support`; NumPyro distributions serve directly, and the few the language
adds (mixtures, truncated Dirichlet-process priors, analytic priors on whole
arrays, von Mises–Fisher, flat) are small classes here.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpyro.distributions as nd
from jax.scipy.special import gammaln, logsumexp
from numpyro.distributions import constraints


class _LogDensity:
    """A density known only through `log_prob` (what MCMC needs)."""

    event_shape: tuple = ()
    support = constraints.real

    def log_prob(self, value):  # pragma: no cover - interface
        raise NotImplementedError


class Flat(_LogDensity):
    """`flat()`: uniform over the declared support; log density 0 (improper)."""

    def log_prob(self, value):
        return jnp.zeros(())


class Mixture(_LogDensity):
    """`mixture(weights, component)`: p(y) = Σ_k w_k p_k(y); the component axis is
    the last batch axis of `component`, and the assignment is summed out."""

    def __init__(self, weights, component):
        self.weights = jnp.asarray(weights)
        self.component = component
        self.event_shape = tuple(component.event_shape)
        self.support = component.support

    def log_prob(self, value):
        e = len(self.event_shape)
        v = jnp.expand_dims(jnp.asarray(value), axis=-(e + 1))
        lp = self.component.log_prob(v)
        return logsumexp(lp + jnp.log(self.weights), axis=-1)


class StickBreaking(_LogDensity):
    """Truncated Dirichlet-process (GEM) prior on a K-simplex: with
    v_k = w_k / (1 − Σ_{j<k} w_j) ~ Beta(1, α) for k < K−1 (Sethuraman 1994),
    log p(w) = Σ_{k<K−1} [log Beta(v_k | 1, α) − log(1 − Σ_{j<k} w_j)]."""

    support = constraints.simplex

    def __init__(self, alpha):
        self.alpha = jnp.asarray(alpha)

    def log_prob(self, value):
        w = jnp.asarray(value)
        self.event_shape = (w.shape[-1],)
        remaining = 1.0 - jnp.cumsum(w, axis=-1) + w  # 1 − Σ_{j<k} w_j
        rem = remaining[..., :-1]
        v = jnp.clip(w[..., :-1] / rem, 1e-12, 1 - 1e-7)
        a = self.alpha[..., None] if self.alpha.ndim else self.alpha
        lp = jnp.log(a) + (a - 1.0) * jnp.log1p(-v) - jnp.log(rem)
        return jnp.sum(lp, axis=-1)


class WholeArrayGaussian(_LogDensity):
    """`gaussian(mean, cov)` on a whole array, flattened in C order."""

    def __init__(self, mean, cov):
        self.mean, self.cov = jnp.asarray(mean), jnp.asarray(cov)

    def log_prob(self, value):
        v = jnp.ravel(value)
        m = jnp.broadcast_to(jnp.ravel(self.mean), v.shape)
        cov = self.cov if self.cov.ndim == 2 else jnp.diag(jnp.broadcast_to(jnp.ravel(self.cov), v.shape))
        return nd.MultivariateNormal(m, covariance_matrix=cov).log_prob(v)


class WholeArrayGMM(_LogDensity):
    """`gmm(weights, means, covs)` on a whole array: Σ_c w_c N(vec(x) | m_c, Σ_c)."""

    def __init__(self, weights, means, covs, sde=None):
        self.weights = jnp.asarray(weights)
        self.means = jnp.asarray(means)
        self.covs = jnp.asarray(covs)

    def log_prob(self, value):
        v = jnp.ravel(value)
        c = self.weights.shape[-1]
        means = jnp.reshape(self.means, (c, -1))
        covs = self.covs if self.covs.ndim == 3 else jnp.broadcast_to(self.covs, (c,) + self.covs.shape)
        lp = nd.MultivariateNormal(means, covariance_matrix=covs).log_prob(v)
        return logsumexp(lp + jnp.log(self.weights))


def log_bessel_iv(nu, x, terms: int = 600):
    """log I_ν(x) by its power series Σ_m (x/2)^{2m+ν} / (m! Γ(m+ν+1)), summed in log space."""
    m = jnp.arange(terms, dtype=jnp.result_type(float))
    x = jnp.asarray(x)[..., None]
    t = (2 * m + nu) * jnp.log(x / 2) - gammaln(m + 1) - gammaln(m + nu + 1)
    return logsumexp(t, axis=-1)


class VonMisesFisher(_LogDensity):
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


def _one_of(kwargs, keys, name):
    given = [k for k in keys if kwargs.get(k) is not None]
    if len(given) != 1:
        raise ValueError(f"`{name}` needs exactly one of {', '.join(keys)}")
    return given[0]


def make_distribution(name: str, p: dict[str, Any]):
    """Build distribution `name` from its evaluated arguments, by parameter name
    (the compiler binds positional arguments with the signature table)."""
    f = lambda k, default=None: p.get(k, default)  # noqa: E731
    if name == "normal":
        return nd.Normal(f("loc", 0.0), f("scale", 1.0))
    if name == "lognormal":
        return nd.LogNormal(f("loc", 0.0), f("scale", 1.0))
    if name == "half_normal":
        return nd.HalfNormal(f("scale", 1.0))
    if name == "cauchy":
        return nd.Cauchy(f("loc", 0.0), f("scale", 1.0))
    if name == "half_cauchy":
        return nd.HalfCauchy(f("scale", 1.0))
    if name == "student_t":
        return nd.StudentT(f("df"), f("loc", 0.0), f("scale", 1.0))
    if name == "laplace":
        return nd.Laplace(f("loc", 0.0), f("scale", 1.0))
    if name == "exponential":
        return nd.Exponential(f("rate", 1.0))
    if name == "gamma":
        return nd.Gamma(f("concentration"), f("rate", 1.0))
    if name == "inv_gamma":
        return nd.InverseGamma(f("concentration"), f("rate", 1.0))
    if name == "beta":
        return nd.Beta(f("a"), f("b"))
    if name == "uniform":
        return nd.Uniform(f("low", 0.0), f("high", 1.0))
    if name == "mvnormal":
        key = _one_of(p, ("cov", "scale_tril", "precision"), name)
        kw = {"cov": "covariance_matrix", "scale_tril": "scale_tril", "precision": "precision_matrix"}[key]
        loc = jnp.asarray(f("loc"))
        mat = jnp.asarray(p[key])
        if loc.ndim == 0:
            loc = jnp.broadcast_to(loc, mat.shape[-1:])
        return nd.MultivariateNormal(loc, **{kw: mat})
    if name == "dirichlet":
        return nd.Dirichlet(f("concentration"))
    if name == "von_mises_fisher":
        return VonMisesFisher(f("mu"), f("kappa"))
    if name == "lkj_cholesky":
        return nd.LKJCholesky(int(f("D")), f("eta", 1.0))
    if name == "wishart":
        return nd.Wishart(f("df"), scale_matrix=f("scale"))
    if name == "inv_wishart":
        return nd.InverseWishart(f("df"), scale_matrix=f("scale"))
    if name == "categorical":
        key = _one_of(p, ("probs", "logits"), name)
        return nd.Categorical(probs=p[key]) if key == "probs" else nd.Categorical(logits=p[key])
    if name == "bernoulli":
        key = _one_of(p, ("probs", "logits"), name)
        return nd.Bernoulli(probs=p[key]) if key == "probs" else nd.Bernoulli(logits=p[key])
    if name == "binomial":
        return nd.Binomial(total_count=f("n"), probs=f("probs"))
    if name == "poisson":
        return nd.Poisson(f("rate"))
    if name == "negative_binomial":
        return nd.NegativeBinomial2(f("mean"), f("concentration"))
    if name == "mixture":
        return Mixture(f("weights"), f("component"))
    if name in ("dirichlet_process", "stick_breaking"):
        return StickBreaking(f("alpha"))
    if name == "gaussian":
        return WholeArrayGaussian(f("mean"), f("cov"))
    if name == "gmm":
        return WholeArrayGMM(f("weights"), f("means"), f("covs"))
    if name == "flat":
        return Flat()
    raise KeyError(name)


def log_prob_sum(dist, value):
    """Σ of the element-wise log density of `value` (batch and event)."""
    return jnp.sum(dist.log_prob(value))

