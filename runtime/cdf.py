"""Scalar families with a known CDF, in the form truncation needs (see
truncation.py): log F, log S = log(1 − F) and log f, each accurate in both
tails, and starting points for solving log F(x) = ℓ or log S(x) = ℓ.

`reduce_to_family` maps a NumPyro distribution and truncation bounds onto one
of these families: half-normal and half-Cauchy onto the normal and Cauchy on
[max(low, 0), high] (twice the mass), lognormal onto the normal of log x, and
inverse gamma onto the gamma of 1/x (bounds swapped).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import jax.numpy as jnp
import numpyro.distributions as nd
from jax.scipy.special import betainc, betaln, gammainc, gammaincc, gammaln, log_ndtr, ndtri, xlog1py, xlogy

from .dist_base import LOG_2PI, float_dtype

LOG2 = math.log(2.0)
LOG_HALF = -LOG2
INF = math.inf


def log1mexp(t):
    """log(1 − e^t) for t ≤ 0: log(−expm1 t) above −log 2, log1p(−e^t) below
    (M. Mächler, "Accurately computing log(1 − exp(−|a|))", Rmpfr vignette, 2012).
    Each branch sees only its own range, so neither puts a NaN into the gradient."""
    near = t > LOG_HALF
    return jnp.where(near, jnp.log(-jnp.expm1(jnp.where(near, t, LOG_HALF))),
                     jnp.log1p(-jnp.exp(jnp.where(near, LOG_HALF, t))))


def normal_quantile_log(lt):
    """Φ⁻¹(e^ℓ): ndtri where e^ℓ is comfortably representable, else the tail
    asymptote log Φ(z) ≈ −z²/2 − log(−z) − ½ log 2π, z ≈ −√(t − log t), t = −2ℓ − log 2π."""
    t = jnp.maximum(-2 * lt - LOG_2PI, 2.0)
    return jnp.where(lt > -60.0, ndtri(jnp.exp(lt)), -jnp.sqrt(t - jnp.log(t)))


def _closest(log_t: Callable, target, *candidates):
    """The candidate x whose log T(x) is closest to the target (a cheap choice of starting point)."""
    best = candidates[0]
    err = jnp.abs(log_t(best) - target)
    for c in candidates[1:]:
        e = jnp.abs(log_t(c) - target)
        better = e < err  # NaN errors never win
        best, err = jnp.where(better, c, best), jnp.where(better, e, err)
    return best


class Family:
    """A scalar family on its support [lo, hi]."""

    lo, hi = -INF, INF

    def inner(self):  # pragma: no cover - interface
        """A point inside the support, where log F and log S are finite."""
        raise NotImplementedError

    def end_logs(self, x):
        """(log F(x), log S(x)) where x may be a bound at or beyond the support's ends
        (±∞ included): the limits there, without evaluating F at ±∞, whose gradients
        with respect to the parameters are NaN."""
        below, above = x <= self.lo, x >= self.hi
        safe = jnp.where(below | above, self.inner(), x)
        log_f = jnp.where(below, -INF, jnp.where(above, 0.0, self.log_cdf(safe)))
        log_s = jnp.where(below, 0.0, jnp.where(above, -INF, self.log_sf(safe)))
        return log_f, log_s

    def log_cdf(self, x):  # pragma: no cover - interface
        raise NotImplementedError

    def log_sf(self, x):  # pragma: no cover - interface
        raise NotImplementedError

    def log_pdf(self, x):  # pragma: no cover - interface
        raise NotImplementedError

    def guess_lower(self, lt):  # pragma: no cover - interface
        """A starting point for log F(x) = ℓ."""
        raise NotImplementedError

    def guess_upper(self, ls):  # pragma: no cover - interface
        """A starting point for log S(x) = ℓ."""
        raise NotImplementedError


class _Symmetric(Family):
    """A family symmetric about `loc`, written through its standard form z = (x − loc)/scale:
    S(x) = F(2 loc − x), so only the standard log F, log f and lower quantile are needed."""

    def __init__(self, loc, scale):
        dtype = float_dtype(loc, scale)
        self.loc, self.scale = jnp.asarray(loc, dtype), jnp.asarray(scale, dtype)

    def std_log_cdf(self, z):  # pragma: no cover - interface
        raise NotImplementedError

    def std_log_pdf(self, z):  # pragma: no cover - interface
        raise NotImplementedError

    def std_quantile_low(self, lt):  # pragma: no cover - interface
        """F⁻¹(e^ℓ) for e^ℓ ≤ ½."""
        raise NotImplementedError

    def inner(self):
        return self.loc + self.scale  # not the centre, where the Student t CDF's gradient is 0 · ∞

    def _std_quantile(self, lt):
        return jnp.where(lt < LOG_HALF, self.std_quantile_low(jnp.minimum(lt, LOG_HALF)),
                         -self.std_quantile_low(log1mexp(jnp.minimum(lt, 0.0))))

    def log_cdf(self, x):
        return self.std_log_cdf((x - self.loc) / self.scale)

    def log_sf(self, x):
        return self.std_log_cdf((self.loc - x) / self.scale)

    def log_pdf(self, x):
        return self.std_log_pdf((x - self.loc) / self.scale) - jnp.log(self.scale)

    def guess_lower(self, lt):
        return self.loc + self.scale * self._std_quantile(lt)

    def guess_upper(self, ls):
        return self.loc - self.scale * self._std_quantile(ls)


class Normal(_Symmetric):
    def std_log_cdf(self, z):
        return log_ndtr(z)

    def std_log_pdf(self, z):
        return -0.5 * z * z - 0.5 * LOG_2PI

    def std_quantile_low(self, lt):
        return normal_quantile_log(lt)


class Cauchy(_Symmetric):
    def std_log_cdf(self, z):
        """F(z) = atan(1/|z|)/π below 0 (no cancellation in the tail), 1 − atan(1/z)/π above."""
        return jnp.where(z < 0, jnp.log(jnp.arctan2(1.0, -z) / math.pi),
                         jnp.log1p(-jnp.arctan2(1.0, jnp.maximum(z, 0.0)) / math.pi))

    def std_log_pdf(self, z):
        return -math.log(math.pi) - jnp.log1p(z * z)

    def std_quantile_low(self, lt):
        """z = −cot(πp), which is −1/(πp) to relative O(p²) where p underflows."""
        p = jnp.exp(lt)
        return jnp.where(lt < -20.0, -jnp.exp(-lt - math.log(math.pi)), -jnp.cos(math.pi * p) / jnp.sin(math.pi * p))


class Laplace(_Symmetric):
    def std_log_cdf(self, z):
        return jnp.where(z < 0, z - LOG2, jnp.log1p(-0.5 * jnp.exp(-jnp.abs(z))))

    def std_log_pdf(self, z):
        return -jnp.abs(z) - LOG2

    def std_quantile_low(self, lt):
        return lt + LOG2


class StudentT(_Symmetric):
    """F(z) = ½ I_{ν/(ν+z²)}(ν/2, ½) for z < 0 (I the regularized incomplete beta),
    = ½ − ½ I_{z²/(ν+z²)}(½, ν/2) where z² < ν (no cancellation in 1 − ν/(ν+z²)),
    and ½ + f(0) z where |z| < 1e-4 (error O(z³); the forms in z² have a 0 · ∞ gradient at 0)."""

    def __init__(self, df, loc, scale):
        super().__init__(loc, scale)
        self.df = jnp.asarray(df, self.loc.dtype)

    def std_log_cdf(self, z):
        nu = self.df
        centre = jnp.abs(z) < 1e-4
        z2 = jnp.where(centre, 1.0, z * z)
        small = z2 < nu
        near = 0.5 - 0.5 * betainc(0.5, 0.5 * nu, jnp.where(small, z2, 0.5 * nu) / (nu + jnp.where(small, z2, nu)))
        far = 0.5 * betainc(0.5 * nu, 0.5, nu / (nu + jnp.where(small, nu, z2)))
        tail = jnp.where(centre, 0.5 - jnp.exp(self._log_c()) * jnp.abs(z), jnp.where(small, near, far))
        return jnp.where(z < 0, jnp.log(tail), jnp.log1p(-tail))

    def _log_c(self):
        nu = self.df
        return gammaln(0.5 * (nu + 1)) - gammaln(0.5 * nu) - 0.5 * jnp.log(nu * math.pi)

    def std_log_pdf(self, z):
        return self._log_c() - 0.5 * (self.df + 1) * jnp.log1p(z * z / self.df)

    def std_quantile_low(self, lt):
        """The better of the normal quantile and the tail asymptote
        F(z) ≈ c ν^{(ν−1)/2} |z|^{−ν}, c = Γ((ν+1)/2) / (√(νπ) Γ(ν/2))."""
        nu = self.df
        tail = -jnp.exp((self._log_c() + 0.5 * (nu - 1) * jnp.log(nu) - lt) / nu)
        return _closest(self.std_log_cdf, lt, normal_quantile_log(lt), tail)


class Uniform(Family):
    def __init__(self, low, high):
        dtype = float_dtype(low, high)
        self.lo, self.hi = jnp.asarray(low, dtype), jnp.asarray(high, dtype)

    def inner(self):
        return 0.5 * (self.lo + self.hi)

    def _frac(self, x):
        return jnp.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def log_cdf(self, x):
        return jnp.log(self._frac(x))

    def log_sf(self, x):
        return jnp.log1p(-self._frac(x))

    def log_pdf(self, x):
        return -jnp.log(self.hi - self.lo) + 0.0 * x

    def guess_lower(self, lt):
        return self.lo + jnp.exp(lt) * (self.hi - self.lo)

    def guess_upper(self, ls):
        return self.hi - jnp.exp(ls) * (self.hi - self.lo)


class Exponential(Family):
    lo = 0.0

    def __init__(self, rate):
        self.rate = jnp.asarray(rate, float_dtype(rate))

    def inner(self):
        return 1.0 / self.rate

    def log_cdf(self, x):
        return log1mexp(-self.rate * jnp.maximum(x, 0.0))

    def log_sf(self, x):
        return -self.rate * jnp.maximum(x, 0.0)

    def log_pdf(self, x):
        return jnp.log(self.rate) - self.rate * x

    def guess_lower(self, lt):
        return -log1mexp(lt) / self.rate

    def guess_upper(self, ls):
        return -ls / self.rate


class Gamma(Family):
    """Gamma(α, rate): F(x) = P(α, rate·x), the regularized lower incomplete gamma."""

    lo = 0.0

    def __init__(self, concentration, rate):
        dtype = float_dtype(concentration, rate)
        self.a, self.rate = jnp.asarray(concentration, dtype), jnp.asarray(rate, dtype)

    def inner(self):
        return self.a / self.rate

    def log_cdf(self, x):
        return jnp.log(gammainc(self.a, self.rate * jnp.maximum(x, 0.0)))

    def log_sf(self, x):
        return jnp.log(gammaincc(self.a, self.rate * jnp.maximum(x, 0.0)))

    def log_pdf(self, x):
        a, y = self.a, self.rate * x
        return xlogy(a - 1, y) - y - gammaln(a) + jnp.log(self.rate)

    def _wilson_hilferty(self, z):
        """x ≈ α (1 − 1/(9α) + z / (3√α))³ (Wilson & Hilferty 1931), in rate units."""
        a = self.a
        return a * jnp.maximum(1 - 1 / (9 * a) + z / (3 * jnp.sqrt(a)), 1e-3) ** 3 / self.rate

    def guess_lower(self, lt):
        """Also the lower-tail asymptote F(x) ≈ (rate·x)^α / Γ(α+1)."""
        tail = jnp.exp((lt + gammaln(self.a + 1)) / self.a) / self.rate
        return _closest(self.log_cdf, lt, self._wilson_hilferty(normal_quantile_log(lt)), tail)

    def guess_upper(self, ls):
        """Also the upper-tail asymptote S(x) ≈ y^{α−1} e^{−y} / Γ(α), y = rate·x, by two fixed-point steps."""
        y = jnp.maximum(-ls - gammaln(self.a), 1.0)
        for _ in range(2):
            y = jnp.maximum(-ls - gammaln(self.a) + (self.a - 1) * jnp.log(y), 1e-3)
        wh = self._wilson_hilferty(-normal_quantile_log(ls))
        return _closest(self.log_sf, ls, wh, y / self.rate)


class Beta(Family):
    """Beta(a, b): F(x) = I_x(a, b); S(x) = I_{1−x}(b, a)."""

    lo, hi = 0.0, 1.0

    def __init__(self, a, b):
        dtype = float_dtype(a, b)
        self.a, self.b = jnp.asarray(a, dtype), jnp.asarray(b, dtype)

    def inner(self):
        return self.a / (self.a + self.b)

    def log_cdf(self, x):
        return jnp.log(betainc(self.a, self.b, jnp.clip(x, 0.0, 1.0)))

    def log_sf(self, x):
        return jnp.log(betainc(self.b, self.a, jnp.clip(1 - x, 0.0, 1.0)))

    def log_pdf(self, x):
        return xlogy(self.a - 1, x) + xlog1py(self.b - 1, -x) - betaln(self.a, self.b)

    def _normal_guess(self, z):
        a, b = self.a, self.b
        sd = jnp.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        return jnp.clip(a / (a + b) + sd * z, 1e-6, 1 - 1e-6)

    def guess_lower(self, lt):
        """Also the lower-tail asymptote F(x) ≈ x^a / (a B(a, b))."""
        tail = jnp.exp((lt + jnp.log(self.a) + betaln(self.a, self.b)) / self.a)
        return _closest(self.log_cdf, lt, self._normal_guess(normal_quantile_log(lt)), jnp.clip(tail, 0.0, 1.0))

    def guess_upper(self, ls):
        tail = -jnp.expm1((ls + jnp.log(self.b) + betaln(self.a, self.b)) / self.b)
        return _closest(self.log_sf, ls, self._normal_guess(-normal_quantile_log(ls)), jnp.clip(tail, 0.0, 1.0))


class Reduced(NamedTuple):
    """A truncation problem in a family's terms: draw y from `family` on
    [low, high], report `to_value(y)`; log Z = log Z_family + `log_factor`."""

    family: Family
    low: jnp.ndarray
    high: jnp.ndarray
    to_value: Callable
    log_factor: float


def _identity(y):
    return y


def _safe_log(x):
    return jnp.where(x > 0, jnp.log(jnp.where(x > 0, x, 1.0)), -INF)


def _reciprocal(x):
    """1/x on [0, ∞], with 1/0 = ∞ and 1/∞ = 0; a negative bound becomes ∞ (no mass there)."""
    return jnp.where(x > 0, 1.0 / jnp.where(x > 0, x, 1.0), INF)


_DIRECT = {
    nd.Normal: lambda d: Normal(d.loc, d.scale),
    nd.Cauchy: lambda d: Cauchy(d.loc, d.scale),
    nd.Laplace: lambda d: Laplace(d.loc, d.scale),
    nd.StudentT: lambda d: StudentT(d.df, d.loc, d.scale),
    nd.Uniform: lambda d: Uniform(d.low, d.high),
    nd.Exponential: lambda d: Exponential(d.rate),
    nd.Gamma: lambda d: Gamma(d.concentration, d.rate),
    nd.Beta: lambda d: Beta(d.concentration1, d.concentration0),
}


def reduce_to_family(dist, low, high) -> Optional[Reduced]:
    """The family, bounds and map to values for `dist` truncated to [low, high]
    (±∞ for a missing bound), or None when its CDF is not known here."""
    kind = type(dist)
    if kind in _DIRECT:
        fam = _DIRECT[kind](dist)
        return Reduced(fam, jnp.maximum(low, fam.lo), jnp.minimum(high, fam.hi), _identity, 0.0)
    if kind in (nd.HalfNormal, nd.HalfCauchy):
        base = (Normal if kind is nd.HalfNormal else Cauchy)(0.0, dist.scale)
        return Reduced(base, jnp.maximum(low, 0.0), high, _identity, LOG2)
    if kind is nd.LogNormal:
        base = dist.base_dist
        return Reduced(Normal(base.loc, base.scale), _safe_log(low), _safe_log(high), jnp.exp, 0.0)
    if kind is nd.InverseGamma:
        base = dist.base_dist
        return Reduced(Gamma(base.concentration, base.rate), _reciprocal(high), _reciprocal(low),
                       _reciprocal, 0.0)
    return None
