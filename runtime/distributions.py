"""Distributions of the language (LANGUAGE.md §5), built on NumPyro.

`make_distribution(name, params)` returns an object with `log_prob(value)`
(element-wise over the batch shape), `event_shape` and `support`; `draw(dist,
key, shape)` draws one value of a given shape from any of them. NumPyro
distributions serve directly; the ones the language adds are small classes:
mixtures and truncated Dirichlet-process priors here, analytic priors on whole
arrays in analytic.py, von Mises–Fisher in sphere.py. `truncate` (truncation.py)
restricts a scalar distribution to a declared support, and `uniform_on`
(uniform.py) is `flat()` made proper on a compact one.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as nd
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints

from .analytic import WholeArrayGaussian, WholeArrayGMM
from .dist_base import LogDensity, batch_of, draw, float_dtype
from .sphere import VonMisesFisher, log_bessel_iv
from .truncation import truncate
from .uniform import uniform_on

__all__ = ["make_distribution", "draw", "truncate", "uniform_on", "log_prob_sum", "Flat", "Mixture",
           "StickBreaking", "WholeArrayGaussian", "WholeArrayGMM", "VonMisesFisher", "log_bessel_iv"]


class Flat(LogDensity):
    """`flat()`: uniform over the declared support; log density 0 (improper).
    Its support is the declared type's, which this object does not know:
    `proper` builds the normalized uniform distribution once it is given."""

    def log_prob(self, value):
        return jnp.zeros(())

    @staticmethod
    def proper(support: str, event_shape: tuple[int, ...] = (), low=None, high=None):
        """The uniform distribution on a compact support (`uniform_on`); ValueError on an unbounded one."""
        return uniform_on(support, event_shape, low, high)

    def draw(self, key, shape):
        raise ValueError("`flat()` is improper until its support is known: draw from "
                         "`Flat.proper(support, event_shape, low, high)` instead")


class Mixture(LogDensity):
    """`mixture(weights, component)`: p(y) = Σ_k w_k p_k(y); the component axis is
    the last batch axis of `component`, and the assignment is summed out."""

    def __init__(self, weights, component):
        self.weights = jnp.asarray(weights)
        self.component = component
        self.event_shape = tuple(component.event_shape)
        self.support = component.support

    @property
    def batch_shape(self) -> tuple[int, ...]:
        comp = tuple(getattr(self.component, "batch_shape", ()))[:-1]
        return tuple(jnp.broadcast_shapes(self.weights.shape[:-1], comp))

    def log_prob(self, value):
        e = len(self.event_shape)
        v = jnp.expand_dims(jnp.asarray(value), axis=-(e + 1))
        lp = self.component.log_prob(v)
        return logsumexp(lp + jnp.log(self.weights), axis=-1)

    def draw(self, key, shape):
        """Draw the component k ~ Categorical(w), then the value from component k
        (all components are drawn and one is kept: any component class works)."""
        batch = batch_of(tuple(shape), self.event_shape, "`mixture`")
        e, c = len(self.event_shape), self.weights.shape[-1]
        k_comp, k_value = jax.random.split(key)
        comp = jax.random.categorical(k_comp, jnp.log(self.weights), axis=-1, shape=batch)
        values = draw(self.component, k_value, batch + (c,) + self.event_shape)
        index = jnp.reshape(comp, batch + (1,) + (1,) * e)
        return jnp.squeeze(jnp.take_along_axis(values, index, axis=len(batch)), axis=len(batch))


class StickBreaking(LogDensity):
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

    def draw(self, key, shape):
        """v_k ~ Beta(1, α) for k < K−1, w_k = v_k Π_{j<k} (1 − v_j), and the last
        weight takes the rest, Π_{j<K−1} (1 − v_j); K = shape[-1]. Beta(1, α) by
        inversion: log(1 − v) = log(u)/α, u ~ U(0, 1)."""
        shape = tuple(shape)
        batch, k = shape[:-1], shape[-1]
        alpha = jnp.broadcast_to(self.alpha, batch).astype(float_dtype(self.alpha))
        u = jax.random.uniform(key, batch + (k - 1,), alpha.dtype, minval=jnp.finfo(alpha.dtype).tiny)
        log_rest_k = jnp.log(u) / alpha[..., None]  # log(1 − v_k)
        v = -jnp.expm1(log_rest_k)
        log_rest = jnp.cumsum(log_rest_k, axis=-1)  # log Π_{j≤k} (1 − v_j)
        before = jnp.concatenate([jnp.zeros(batch + (1,), v.dtype), log_rest], axis=-1)
        return jnp.exp(before) * jnp.concatenate([v, jnp.ones(batch + (1,), v.dtype)], axis=-1)


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
        return WholeArrayGMM(f("weights"), f("means"), f("covs"), f("sde"))
    if name == "flat":
        return Flat()
    if name == "diffusion":
        raise ValueError("a learned `diffusion` prior has no density to evaluate: only the diffusion methods "
                         "(dps, pigdm, ddrm, ...) use it")
    raise ValueError(f"no distribution `{name}`")


def log_prob_sum(dist, value):
    """Σ of the element-wise log density of `value` (batch and event)."""
    return jnp.sum(dist.log_prob(value))

