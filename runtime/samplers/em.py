"""`em`: the MAP of a mixture model by expectation–maximization (Dempster, Laird & Rubin 1977).

With θ the component parameters and π the weights, EM climbs the log posterior

    log p(θ, π | X) = Σ_n log Σ_{k allowed for n} π_k p(x_n | θ_k) + log p(π) + Σ_k log p(θ_k) + const

by alternating
- E-step: r_nk ∝ π_k p(x_n | θ_k) over the components point n may take (`problem.allowed()`:
  an observed label fixes it, or its class's prototypes), and
- M-step: π = the mode of p(π | n) (`weights.map_weights`: Dirichlet (n + a − 1)₊ normalized,
  or each stick's mode for the truncated DP), and each θ_k the maximizer of
  Σ_n r_nk log p(x_n | θ_k) + log p(θ_k):
  * NIW: the joint mode μ_k = (κ₀m₀ + s1_k)/(κ₀ + n_k), Σ_k = Ψ_n/(ν_n + D + 2) (Murphy 2007 §9
    notation: the N(μ | m₀, Σ/κ₀) factor adds one more −½ log|Σ| to the inverse-Wishart's);
  * known covariance: the Gaussian posterior mean of μ_k;
  * independent (μ ~ N(m₀, S₀), Σ ~ IW(ν₀, Ψ₀)): one conditional-mode update each, μ given Σ then
    Σ = (Ψ₀ + Σ_n r_nk (x_n − μ)(x_n − μ)ᵀ)/(ν₀ + n_k + D + 1) given μ (coordinate ascent);
  * vMF: μ_k = normalize(τ₀m₀ + κ_k s1_k); an unknown κ ~ Gamma(a, b) maximizes
    n_k log C_D(κ) + κ μ_kᵀs1_k + (a − 1) log κ − bκ, whose derivative is
    −n_k A_D(κ) + μ_kᵀs1_k + (a − 1)/κ − b, A_D(κ) = I_{D/2}(κ)/I_{D/2−1}(κ) (Banerjee et al. 2005,
    "Clustering on the unit hypersphere using von Mises–Fisher distributions", with the Gamma
    prior added), by safeguarded Newton steps in log κ (pooled over components when
    `kappa_shared`).
  Each step does not decrease the log posterior (each update maximizes it in its block).

Starts: greedy k-means++ and a few Lloyd steps (`augury.runtime.mixtures.kmeans`), `restarts`
independent starts; the best final log posterior wins (all of them are in `info`).
Convergence: |Δ log posterior| < tol · |log posterior|, or `iterations` reached (then a warning).
A component whose weight reaches 0 (possible for DP and Dirichlet priors with a ≤ 1, or when K is
larger than the data need) keeps its prior mode and is listed in `info["empty_components"]`
(with the components no point is assigned to).

The iteration loop is one jitted `lax.while_loop` run in segments of `SEGMENT` iterations (a
progress bar between them; Ctrl-C keeps the best so far). The pieces shared with `vi` (fast
sufficient statistics, Gaussian log densities by Cholesky, the vMF concentration update, the
segment driver, the compile cache) live here too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import gammaln, logsumexp, multigammaln

from ...errors import AuguryInferenceError
from ..mixtures import conjugate as cj
from ..mixtures import weights as wt
from ..mixtures.kmeans import kmeans_responsibilities
from ..mixtures.problem import MixtureProblem
from ..mixtures.result import MixtureResult
from ..mixtures.sharding import shard_points
from .. import checkpoints, interrupts
from ..progress import Progress, progress_bar
from ..sphere import log_bessel_iv

SEGMENT = 10          # iterations per compiled call (progress and Ctrl-C between calls)
LLOYD_STEPS = 30      # at most this many Lloyd steps after k-means++ seeding (they stop when no point moves)
KMEANS_INITS = 4      # k-means++ seeds per start, the best by k-means potential (scikit-learn KMeans(n_init))
KAPPA_NEWTON = 6      # safeguarded Newton steps on log κ per M-step
_CACHE: dict = {}     # compiled functions, keyed by the problem's static content and settings


# --------------------------------------------------------------------------- compile cache

def _freeze(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    a = np.asarray(v)
    return (a.shape, str(a.dtype), hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest())


def problem_key(problem: MixtureProblem, X) -> tuple:
    """What a compiled function bakes in: shapes, dtype, kinds and prior hyperparameters (the
    data X and the allowed mask are arguments, so new data of the same shape reuse it)."""
    parts = [problem.family, problem.K, tuple(X.shape), str(X.dtype)]
    for prior in (problem.weights, problem.gaussian, problem.vmf):
        if prior is not None:
            parts.append(tuple((f.name, _freeze(getattr(prior, f.name))) for f in dataclasses.fields(prior)))
    return tuple(parts)


def cached(key: tuple, build: Callable[[], Callable]) -> Callable:
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


# --------------------------------------------------------------------------- shared pieces

def suff_stats(X, R, second: bool = True):
    """n (K,), s1 (K, D), s2 (K, D, D) or None: one GEMM each over the points."""
    n = jnp.sum(R, axis=0)
    s1 = R.T @ X
    if not second:
        return n, s1, None
    N, K = R.shape
    D = X.shape[1]
    RX = (R[:, :, None] * X[:, None, :]).reshape(N, K * D)
    return n, s1, (RX.T @ X).reshape(K, D, D)


def chol_inverse(S):
    """(L⁻¹ (K, D, D), ½ log|S| (K,)) for SPD S (K, D, D), S = L Lᵀ."""
    L = jnp.linalg.cholesky(S)
    eye = jnp.broadcast_to(jnp.eye(S.shape[-1], dtype=S.dtype), S.shape)
    W = jax.scipy.linalg.solve_triangular(L, eye, lower=True)
    return W, jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def mahalanobis(X, mean, W):
    """(N, K) |W_k (x_n − mean_k)|²: one (N, D) × (D, K·D) product, no per-point solves."""
    K, D = mean.shape
    Y = (X @ W.reshape(K * D, D).T).reshape(X.shape[0], K, D) - jnp.einsum("kde,ke->kd", W, mean)[None]
    return jnp.sum(Y * Y, axis=-1)


def mvn_logpdf(X, mean, cov):
    """log N(x_n; mean_k, cov_k) (N, K)."""
    W, half_logdet = chol_inverse(cov)
    D = X.shape[1]
    return -0.5 * mahalanobis(X, mean, W) - half_logdet[None] - 0.5 * D * math.log(2 * math.pi)


def log_mvn_density(x, mean, cov):
    """log N(x_k; mean_k, cov_k) (K,) for one point per component (priors)."""
    W, half_logdet = chol_inverse(cov)
    y = jnp.einsum("kde,ke->kd", W, x - mean)
    return -0.5 * jnp.sum(y * y, -1) - half_logdet - 0.5 * x.shape[-1] * math.log(2 * math.pi)


def log_inv_wishart(Sigma, nu, Psi):
    """log IW(Σ_k; ν, Ψ) (K,)."""
    D = Psi.shape[-1]
    W, half_logdet = chol_inverse(Sigma)
    _, half_logdet_psi = chol_inverse(Psi[None])
    tr = jnp.einsum("kij,jl,kil->k", W, Psi, W)  # tr(Ψ Σ⁻¹) = tr(W Ψ Wᵀ), Σ⁻¹ = WᵀW
    return (nu * half_logdet_psi[0] - 0.5 * nu * D * math.log(2.0) - multigammaln(0.5 * nu, D)
            - (nu + D + 1.0) * half_logdet - 0.5 * tr)


def log_gamma_density(x, shape, rate):
    return shape * jnp.log(rate) - gammaln(shape) + (shape - 1.0) * jnp.log(x) - rate * x


def mean_resultant(kappa, d: int):
    """A_D(κ) = I_{D/2}(κ) / I_{D/2−1}(κ) (0 at κ = 0), the mean resultant length of a vMF on S^{D−1}."""
    k = jnp.maximum(kappa, 1e-300)
    a = jnp.exp(log_bessel_iv(d / 2.0, k) - log_bessel_iv(d / 2.0 - 1.0, k))
    return jnp.where(kappa > 0, a, 0.0)


def mean_resultant_derivative(kappa, a, d: int):
    """A_D'(κ) = 1 − A² − (D − 1) A/κ (from the Bessel recurrences, DLMF 10.29.2), given A = A_D(κ);
    1/D at κ = 0."""
    return jnp.where(kappa > 0, 1.0 - a * a - (d - 1.0) * a / jnp.where(kappa > 0, kappa, 1.0), 1.0 / d)


def maximize_log_kappa(objective: Callable, derivatives: Callable, kappa0, steps: int = KAPPA_NEWTON):
    """κ (same shape as kappa0) raised by safeguarded Newton steps in u = log κ on a separable
    objective (one value per entry), with `derivatives(κ)` = (f'(κ), f''(κ)) in closed form (no
    autodiff through the Bessel functions: cheaper to compile). A step is taken only if it
    raises the objective, else its half, else none: the objective never decreases."""
    def step(u, _):
        k = jnp.exp(u)
        d1, d2 = derivatives(k)
        g, h = k * d1, k * d1 + k * k * d2          # d/du and d²/du² of f(e^u)
        du = jnp.clip(jnp.where(h < 0, -g / jnp.where(h < 0, h, -1.0), jnp.sign(g)), -2.0, 2.0)
        f0, f1, f2 = objective(k), objective(jnp.exp(u + du)), objective(jnp.exp(u + 0.5 * du))
        u_new = jnp.where(f1 >= f0, u + du, jnp.where(f2 >= f0, u + 0.5 * du, u))
        return jnp.where(jnp.isfinite(u_new), u_new, u), None

    u, _ = lax.scan(step, jnp.log(jnp.clip(kappa0, 1e-8, 1e12)), None, length=steps)
    return jnp.exp(u)


def gamma_log_terms(kappa, shape, rate):
    """(value, first, second derivative) in κ of the Gamma log density's κ-dependent part."""
    return ((shape - 1.0) * jnp.log(kappa) - rate * kappa, (shape - 1.0) / kappa - rate,
            -(shape - 1.0) / (kappa * kappa))


def kappa_guess(n, s1, d: int):
    """Banerjee et al. (2005) eq. 4.4: κ ≈ r̄(D − r̄²)/(1 − r̄²), r̄ = |s1|/n (a Newton start)."""
    rbar = jnp.clip(jnp.linalg.norm(s1, axis=-1) / jnp.maximum(n, 1e-12), 1e-6, 1.0 - 1e-9)
    return rbar * (d - rbar ** 2) / (1.0 - rbar ** 2)


def normalize_or(v, fallback):
    """v / |v| row-wise, `fallback` where |v| = 0 (an empty component with τ₀ = 0)."""
    norm = jnp.linalg.norm(v, axis=-1, keepdims=True)
    return jnp.where(norm > 1e-300, v / jnp.where(norm > 1e-300, norm, 1.0), fallback)


def log_prior_weights(prior, w):
    """log p(π) as `weights.log_prior_weights`, but a component whose weight the M-step set to 0
    (the mode (n + a − 1)₊ with a < 1) drops out of the density instead of making it +∞
    (a Dirichlet with a < 1 is unbounded at the faces of the simplex: the MAP is then taken on
    the face of the surviving components)."""
    if prior.groups is not None or prior.kind == "fixed":
        return wt.log_prior_weights(prior, w)
    if prior.kind == "dirichlet":
        a = jnp.asarray(prior.concentration, w.dtype)
        safe = jnp.where(w > 0, w, 1.0)
        return gammaln(jnp.sum(a)) - jnp.sum(gammaln(a)) + jnp.sum(jnp.where(w > 0, (a - 1.0) * jnp.log(safe), 0.0))
    rest = 1.0 - jnp.concatenate([jnp.zeros(1, w.dtype), jnp.cumsum(w[:-1])])
    v = jnp.clip(w[:-1] / jnp.maximum(rest[:-1], 1e-300), 0.0, 1.0)
    live = (v < 1.0) & (rest[:-1] > 0)  # a stick taking all that is left closes the rest
    return jnp.sum(jnp.where(live, jnp.log(prior.alpha) + (prior.alpha - 1.0) * jnp.log1p(-jnp.where(live, v, 0.0)), 0.0))


def e_step(log_terms, allowed):
    """(R (N, K), Σ_n log Σ_k exp(terms)) of per-point log terms restricted to `allowed`."""
    L = jnp.where(allowed, log_terms, -jnp.inf)
    lse = logsumexp(L, axis=1, keepdims=True)
    lse = jnp.where(jnp.isfinite(lse), lse, 0.0)
    return jnp.exp(L - lse), jnp.sum(lse)


def run_segments(segment: Callable, carry: dict, total: int, bar: Progress,
                 on_segment: Optional[Callable[[dict, bool], None]] = None):
    """Call `segment(carry, stop)` until carry["done"] or carry["it"] reaches `total`, moving the
    run's progress bar between calls (a converged run jumps to `total`: the bar counts the budget);
    Ctrl-C returns what is done (interrupted=True).  `on_segment(carry, interrupted)` is told each
    segment's carry, and the carry where Ctrl-C stopped (a checkpoint)."""
    interrupted, start = False, int(carry["it"])
    try:
        while True:
            it = int(carry["it"])
            if it >= total or bool(carry["done"]):
                break
            carry = segment(carry, jnp.int32(min(it + SEGMENT, total)))
            bar.update(int(carry["it"]) - it)
            if on_segment is not None:
                on_segment(carry, False)
            interrupts.check()  # Ctrl-C is taken here, between segments
    except KeyboardInterrupt:
        interrupted = True
        if on_segment is not None:
            on_segment(carry, True)
    if not interrupted:
        bar.update(total - start - (int(carry["it"]) - start))
    return carry, interrupted


def check_problem(problem: MixtureProblem, method: str) -> None:
    """Errors a user can cause, with what to do."""
    if problem.K < 1:
        raise AuguryInferenceError(f"`{method}` needs at least one component (K = {problem.K})")
    if problem.N < 1:
        raise AuguryInferenceError(f"`{method}` needs at least one point, and the data have none")
    if problem.K > problem.N:
        # as scikit-learn's GaussianMixture and BayesianGaussianMixture (n_components > n_samples): the
        # k-means++ start seeds K centers one after another among N points, O(K N) sequential work
        # (K = 100000 on 60 points ran for minutes), and at most N components can hold a point
        raise AuguryInferenceError(
            f"`{method}` with K = {problem.K} components on {problem.N} points: at most {problem.N} components "
            f"can hold a point, and its k-means++ start needs a point per component",
            notes=[f"declare at most {problem.N} components (a Dirichlet process's size is only its truncation, "
                   f"and K = N already lets every point have a component of its own)",
                   "gibbs and split_merge take more components than points"])
    lab = np.asarray(problem.labels)
    if lab.shape != (problem.N,):
        raise AuguryInferenceError(f"`{method}`: labels have shape {lab.shape}, expected ({problem.N},)")
    n_cls = problem.weights.size if problem.weights.groups is not None else problem.K
    if lab.size and lab.max() >= n_cls:
        raise AuguryInferenceError(f"`{method}`: a label is {int(lab.max())}, but there are {n_cls} classes",
                                   notes=["labels run from 0 to the number of classes − 1; −1 marks a missing one"])
    if problem.family == "vmf":
        norms = np.linalg.norm(np.asarray(problem.X), axis=1)
        if not np.allclose(norms, 1.0, atol=1e-4):
            raise AuguryInferenceError(f"`{method}`: von Mises–Fisher data must be unit vectors "
                                       f"(norms range {norms.min():.3g}–{norms.max():.3g})",
                                       notes=["normalize each row: X / |X|"])
    if not np.all(np.isfinite(np.asarray(problem.X))):
        raise AuguryInferenceError(f"`{method}`: the data hold NaN or infinity")


def kappa_known(problem: MixtureProblem) -> bool:
    return problem.family == "vmf" and problem.vmf.kappa is not None


def gamma_prior(problem: MixtureProblem):
    v = problem.vmf
    if v.kappa_shape is None or v.kappa_rate is None:
        raise AuguryInferenceError("von Mises–Fisher concentration: neither fixed nor Gamma(shape, rate)",
                                   notes=["give `kappa` a value or a gamma prior"])
    return float(v.kappa_shape), float(v.kappa_rate)


def draw_keys(problem: MixtureProblem) -> list[str]:
    """The component roles a fit returns."""
    keys = ["means"]
    if problem.family == "gaussian" and problem.gaussian.kind in ("niw", "independent"):
        keys.append("covariances")
    if problem.family == "vmf" and not kappa_known(problem):
        keys.append("concentration")
    return keys


# --------------------------------------------------------------------------- EM pieces

def _gauss_arrays(problem, dtype):
    g = problem.gaussian
    out = {"m0": jnp.asarray(g.m0, dtype)}
    for name in ("Psi0", "S0", "cov"):
        if getattr(g, name) is not None:
            out[name] = jnp.asarray(getattr(g, name), dtype)
    return out


def _m_step(problem: MixtureProblem, n, s1, s2, theta: dict) -> dict:
    """The component parameters maximizing Σ r log p(x | θ) + log p(θ), given the statistics
    (θ is the previous value: the blocks not yet updated, and κ's Newton start)."""
    K, D = s1.shape
    dtype = s1.dtype
    if problem.family == "vmf":
        v = problem.vmf
        m0 = jnp.asarray(v.m0, dtype)
        kappa = theta["concentration"]
        mu = normalize_or(v.tau0 * m0[None] + kappa[:, None] * s1, theta["means"])
        if kappa_known(problem):
            return {"means": mu, "concentration": kappa}
        a, b = gamma_prior(problem)
        rho = jnp.sum(mu * s1, axis=-1)
        if v.kappa_shared:  # one κ: the same objective on the pooled statistics
            n, rho, kappa = jnp.sum(n)[None], jnp.sum(rho)[None], kappa[:1]

        def obj(k):  # n log C_D(κ) + κ ρ + log Gamma(κ)
            return n * cj.log_normalizer_vmf(k, D) + k * rho + gamma_log_terms(k, a, b)[0]

        def derivs(k):
            A = mean_resultant(k, D)
            _, g1, g2 = gamma_log_terms(k, a, b)
            return -n * A + rho + g1, -n * mean_resultant_derivative(k, A, D) + g2

        kappa = jnp.broadcast_to(maximize_log_kappa(obj, derivs, kappa), (K,))
        return {"means": mu, "concentration": kappa}
    g = problem.gaussian
    h = _gauss_arrays(problem, dtype)
    if g.kind == "niw":
        kn, mn, nun, psin = cj.niw_posterior(g, n, s1, s2)
        return {"means": mn, "covariances": psin / (nun + D + 2.0)[:, None, None]}
    if g.kind == "known_cov":
        mean, _ = cj.known_cov_posterior(g, n, s1, h["cov"])
        return {"means": mean}
    # independent: μ | Σ, then Σ | μ
    P0 = jnp.linalg.inv(h["S0"])
    lam = jnp.linalg.inv(theta["covariances"])
    Pn = P0[None] + n[:, None, None] * lam
    b = (P0 @ h["m0"])[None] + jnp.einsum("kde,ke->kd", lam, s1)
    mu = jnp.linalg.solve(Pn, b[..., None])[..., 0]
    scatter = s2 - jnp.einsum("kd,ke->kde", s1, mu) - jnp.einsum("kd,ke->kde", mu, s1) + \
        n[:, None, None] * jnp.einsum("kd,ke->kde", mu, mu)
    sigma = (h["Psi0"][None] + scatter) / (g.nu0 + n + D + 1.0)[:, None, None]
    return {"means": mu, "covariances": 0.5 * (sigma + jnp.swapaxes(sigma, -1, -2))}


def _log_lik(problem: MixtureProblem, theta: dict, X):
    """log p(x_n | θ_k) (N, K)."""
    if problem.family == "vmf":
        kappa = theta["concentration"]
        return kappa[None] * (X @ theta["means"].T) + cj.log_normalizer_vmf(kappa, X.shape[1])[None]
    cov = theta["covariances"] if "covariances" in theta else _gauss_arrays(problem, X.dtype)["cov"]
    return mvn_logpdf(X, theta["means"], cov)


def _log_prior_components(problem: MixtureProblem, theta: dict):
    """Σ_k log p(θ_k) (a scalar)."""
    mu = theta["means"]
    K, D = mu.shape
    if problem.family == "vmf":
        v = problem.vmf
        lp = jnp.sum(v.tau0 * (mu @ jnp.asarray(v.m0, mu.dtype))) + K * cj.log_normalizer_vmf(v.tau0, D)
        if kappa_known(problem):
            return lp
        a, b = gamma_prior(problem)
        kappa = theta["concentration"]
        return lp + jnp.sum(log_gamma_density(kappa[:1] if v.kappa_shared else kappa, a, b))
    g = problem.gaussian
    h = _gauss_arrays(problem, mu.dtype)
    if g.kind == "niw":
        sigma = theta["covariances"]
        return jnp.sum(log_mvn_density(mu, h["m0"][None], sigma / g.kappa0) + log_inv_wishart(sigma, g.nu0, h["Psi0"]))
    lp = jnp.sum(log_mvn_density(mu, h["m0"][None], jnp.broadcast_to(h["S0"], (K, D, D))))
    if g.kind == "independent":
        lp = lp + jnp.sum(log_inv_wishart(theta["covariances"], g.nu0, h["Psi0"]))
    return lp


def _initial_theta(problem: MixtureProblem, n, s1, s2) -> dict:
    """The M-step's previous-value arguments for the first M-step from k-means responsibilities."""
    K, D = s1.shape
    dtype = s1.dtype
    theta = {}
    if problem.family == "vmf":
        m0 = jnp.broadcast_to(jnp.asarray(problem.vmf.m0, dtype), (K, D))
        theta["means"] = normalize_or(s1, m0)
        if kappa_known(problem):
            theta["concentration"] = jnp.full((K,), problem.vmf.kappa, dtype)
        else:
            guess = kappa_guess(n, s1, D)
            if problem.vmf.kappa_shared:
                guess = kappa_guess(jnp.sum(n)[None], jnp.sum(jnp.linalg.norm(s1, axis=-1))[None, None], D)
            theta["concentration"] = jnp.broadcast_to(guess, (K,)).astype(dtype)
    elif problem.gaussian.kind == "independent":
        mean = s1 / jnp.maximum(n, 1.0)[:, None]
        cov = s2 / jnp.maximum(n, 1.0)[:, None, None] - jnp.einsum("kd,ke->kde", mean, mean)
        psi = jnp.asarray(problem.gaussian.Psi0, dtype)
        theta["covariances"] = (cov * n[:, None, None] + psi) / (n + problem.gaussian.nu0 + D + 1.0)[:, None, None]
    return theta


def _em_iteration(problem, X, allowed, theta, w):
    """One E- and M-step from (θ, π): (θ', π', log posterior of (θ, π))."""
    terms = _log_lik(problem, theta, X) + jnp.log(w)[None]
    R, loglik = e_step(terms, allowed)
    lp = loglik + log_prior_weights(problem.weights, w) + _log_prior_components(problem, theta)
    n, s1, s2 = suff_stats(X, R, problem.family == "gaussian")
    return _m_step(problem, n, s1, s2, theta), wt.map_weights(problem.weights, n), lp


def kmeans_start(problem: MixtureProblem, X, allowed, key):
    """(R, n, s1, s2): k-means++ responsibilities and their statistics, where em and vi start."""
    R = kmeans_responsibilities(key, X, problem.K, allowed, problem.family == "vmf", LLOYD_STEPS, KMEANS_INITS)
    return (R,) + tuple(suff_stats(X, R, problem.family == "gaussian"))


def _first_bad_iteration(carry: dict, restart: int, restarts: int) -> str:
    """' at iteration i (restart r of n)': where the log posterior trace first went non-finite."""
    trace = np.asarray(carry["trace"])[:int(carry["it"])]
    bad = np.flatnonzero(~np.isfinite(trace))
    at = f" at iteration {int(bad[0]) + 1} of {trace.size}" if bad.size else " after the last iteration"
    return at + (f" (restart {restart + 1} of {restarts})" if restarts > 1 else "")


def _build(problem: MixtureProblem, iterations: int, tol: float):
    """(init, segment, final) jitted for this problem."""

    def init(X, allowed, key):
        _, n, s1, s2 = kmeans_start(problem, X, allowed, key)
        theta = _m_step(problem, n, s1, s2, _initial_theta(problem, n, s1, s2))
        w = wt.map_weights(problem.weights, n)
        trace = jnp.full((iterations,), jnp.nan, X.dtype)
        return {"theta": theta, "w": w, "it": jnp.int32(0), "done": jnp.bool_(False), "trace": trace,
                "prev": jnp.asarray(-jnp.inf, X.dtype)}

    def segment(X, allowed, carry, stop):
        def cond(c):
            return (c["it"] < stop) & ~c["done"]

        def body(c):
            theta, w, lp = _em_iteration(problem, X, allowed, c["theta"], c["w"])
            done = jnp.abs(lp - c["prev"]) <= tol * jnp.abs(lp)
            return {"theta": theta, "w": w, "it": c["it"] + 1, "done": done,
                    "trace": c["trace"].at[c["it"]].set(lp), "prev": lp}
        return lax.while_loop(cond, body, carry)

    def final(X, allowed, theta, w):
        terms = _log_lik(problem, theta, X) + jnp.log(w)[None]
        R, loglik = e_step(terms, allowed)
        lp = loglik + log_prior_weights(problem.weights, w) + _log_prior_components(problem, theta)
        return R, lp

    return jax.jit(init), jax.jit(segment), jax.jit(final)


def _empty_components(w, R) -> list[int]:
    hard = np.bincount(np.argmax(R, axis=1), minlength=R.shape[1])
    return [int(k) for k in np.flatnonzero((np.asarray(w) <= 0) | (hard == 0))]


def fit(problem: MixtureProblem, key, settings: dict, progress: bool = False) -> MixtureResult:
    """The MAP of `problem` by EM from `restarts` k-means++ starts; the best by log posterior."""
    check_problem(problem, "em")
    iterations = int(settings.get("iterations", 200))
    tol = float(settings.get("tol", 1e-6))
    restarts = max(int(settings.get("restarts", 4)), 1)
    X = jnp.asarray(problem.X, problem.dtype or jnp.asarray(problem.X).dtype)
    allowed_np = problem.allowed()
    if not allowed_np.any(axis=1).all():
        raise AuguryInferenceError("`em`: a point's label allows no component", notes=["check `groups` and labels"])
    X, allowed = shard_points(X, jnp.asarray(allowed_np))
    init, segment, final = cached(("em", problem_key(problem, X), iterations, tol),
                                  lambda: _build(problem, iterations, tol))
    runs, interrupted = [], False
    keys = jax.random.split(key, restarts)
    ck = checkpoints.current()
    resumed = ck.start("em") if ck is not None else None
    first, carry_at_first = 0, None
    if resumed is not None:  # the finished restarts' carries and the current one's (EM is deterministic)
        first = int(resumed.extra["restart"])
        carries = resumed.state([init(X, allowed, keys[0])] * (first + 1))
        for c in carries[:first]:
            R, lp = final(X, allowed, c["theta"], c["w"])
            runs.append({"carry": c, "R": R, "lp": float(lp)})
        carry_at_first = carries[first]

    def save(r: int):
        def on_segment(c: dict, stopped: bool) -> None:
            units = r * iterations + int(c["it"])
            if stopped or ck.due(units):
                ck.save(units, [run_["carry"] for run_ in runs] + [c], extra={"restart": np.int64(r)},
                        total=restarts * iterations, interrupted=stopped)
        return on_segment if ck is not None else None

    with progress_bar(restarts * iterations, desc="em", enabled=progress) as bar:  # one bar for every restart
        bar.update(first * iterations + (int(carry_at_first["it"]) if carry_at_first is not None else 0))
        for r in range(first, restarts):
            bar.set_phase(f"em restart {len(runs) + 1}/{restarts}")
            carry = carry_at_first if r == first and carry_at_first is not None else init(X, allowed, keys[r])
            carry, interrupted = run_segments(lambda c, stop: segment(X, allowed, c, stop), carry, iterations, bar,
                                              save(r))
            R, lp = final(X, allowed, carry["theta"], carry["w"])
            runs.append({"carry": carry, "R": R, "lp": float(lp)})
            if interrupted:
                break
    lps = [r["lp"] if np.isfinite(r["lp"]) else -np.inf for r in runs]
    best_i = int(np.argmax(lps))
    best = runs[best_i]
    carry, R = best["carry"], np.asarray(best["R"])
    if not np.isfinite(best["lp"]) or not np.all(np.isfinite(R)):
        raise AuguryInferenceError("`em` produced NaN or infinity in the log posterior"
                                   + _first_bad_iteration(best["carry"], best_i, len(runs)),
                                   notes=["check the data's scale and the priors (a weak Ψ₀ with few points "
                                          "per component can make a covariance singular)"])
    theta, w = carry["theta"], np.asarray(carry["w"])
    draws = {"assignment": np.argmax(R, axis=1).astype(np.int32)[None], "weights": w[None]}
    for name in draw_keys(problem):
        draws[name] = np.asarray(theta[name])[None]
    iters = int(carry["it"])
    converged = bool(carry["done"])
    empty = _empty_components(w, R)
    out = MixtureResult(
        draws=draws, responsibilities=R,
        stats={"log_posterior": np.asarray(carry["trace"])[:iters]},
        info={"log_posterior": best["lp"], "restart_log_posteriors": [r["lp"] for r in runs],
              "best_restart": best_i, "iterations": iters, "converged": converged,
              "empty_components": empty, "restarts": len(runs)},
        interrupted=interrupted)
    if interrupted:
        out.warnings.append(f"em interrupted during restart {len(runs)} of {restarts}: the best so far is kept")
    elif not converged:
        out.warnings.append(f"em did not converge in {iterations} iterations (relative change of the log "
                            f"posterior above tol = {tol:g}); raise `iterations` or `tol`")
    return out


def run(problem, key, settings, *, method, progress):
    """The registry's entry point: `problem.mixture` fitted, as the model's named draws."""
    from ..mixtures.outputs import mixture_draws
    return mixture_draws(problem.mixture, fit(problem.mixture, key, settings, progress), method, settings)
