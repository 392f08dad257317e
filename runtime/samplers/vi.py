"""`vi`: mean-field variational Bayes for a mixture, q(z) q(π) q(θ) (what scikit-learn's
`BayesianGaussianMixture` does; Bishop 2006, PRML §10.2, for the Gaussian–Wishart case; for the
truncated Dirichlet process the stick-breaking q(v_k) = Beta of Blei & Jordan 2006).

Coordinate ascent on the evidence lower bound (ELBO):
- q(π) = p(π | n) and q(θ_k) = p(θ_k | n_k, s1_k, s2_k): the conjugate posteriors given the soft
  statistics n_k = Σ_n r_nk, s1_k = Σ r_nk x_n, s2_k = Σ r_nk x_n x_nᵀ:
  * NIW: q(μ_k, Σ_k) = NIW(m_k, κ_k, ν_k, Ψ_k) (Bishop's Gaussian–Wishart with W_k = Ψ_k⁻¹);
  * known covariance: q(μ_k) Gaussian;
  * vMF with known κ: q(μ_k) = vMF(r_k/|r_k|, |r_k|), r_k = τ₀m₀ + κ s1_k.
- q(z_n) ∝ exp(E[log π_k] + E[log p(x_n | θ_k)]) over the allowed components
  (`weights.expected_log_weights`; NIW (Bishop 10.64–10.66 in Ψ):
  E[log p(x | θ_k)] = ½ E[log|Σ_k⁻¹|] − D/(2κ_k) − ½ ν_k (x − m_k)ᵀΨ_k⁻¹(x − m_k) − (D/2) log 2π,
  E[log|Σ⁻¹|] = Σ_i ψ((ν_k + 1 − i)/2) + D log 2 − log|Ψ_k|; known covariance:
  log N(x; m_k, Σ_k) − ½ tr(Σ_k⁻¹ C_k); vMF: log C_D(κ) + κ A_D(|r_k|) (r_k/|r_k|)ᵀx).

Non-conjugate pieces are point estimates (VBEM: their block maximizes the ELBO, which then includes
their log prior):
- independent Gaussian prior (μ ~ N(m₀, S₀), Σ ~ IW(ν₀, Ψ₀) apart): q(μ_k) Gaussian given a point
  Σ_k, and Σ_k = (Ψ₀ + E_q[Σ_n r_nk (x_n − μ)(x_n − μ)ᵀ])/(ν₀ + n_k + D + 1) given q(μ_k);
- vMF with κ ~ Gamma: q(μ_k) = vMF given a point κ_k (or one shared κ), κ maximizing the ELBO with
  q(μ) re-optimized (safeguarded Newton steps in log κ).

ELBO. Right after q(π), q(θ) are updated from R, the ELBO has the closed form
    ELBO(R) = Σ_k log p̃(X | k) + log p̃(n) + H(R) [+ log p(point estimates)],
where log p̃(X | k) is the component's log marginal likelihood evaluated at the soft statistics
(`conjugate.log_marginal`'s formulas hold for real n), log p̃(n) = log E_p(π)[Π π_k^{n_k}] (Dirichlet:
log B(a + n)/B(a); DP sticks: Σ_k log B(1 + n_k, α + Σ_{j>k} n_j)/B(1, α)) and H(R) = −Σ r log r:
integrating θ and π out of exp(E_q(z)[log p(X, z | θ, π)]) p(θ) p(π) is what the optimal
q(θ) q(π) attain. Every update is a coordinate ascent step, so the ELBO trace never decreases.

Convergence (does not stall the way a per-sample absolute lower-bound change can): stop when the
relative ELBO change |ΔELBO| ≤ tol · |ELBO|, OR when the responsibilities stop moving
(max_nk |Δr_nk| < `R_TOL` = 1e-6) — the fixed point, whatever the ELBO's scale; never more than
`iterations`; a warning when neither happened.

Delete moves (DP weights only; `_delete_moves`): after convergence, removing a component and
re-converging is tried, smallest first, and kept when the ELBO rises. `stats["elbo"]` is then the
concatenation of the runs (lengths in `info["elbo_runs"]`): non-decreasing within each run, and
each accepted run ends higher than the one before; `info["iterations"]` counts all of them.

Output: `samples` draws from q (assignment from q(z), weights from q(π), component parameters
from q(θ), point estimates repeated), `responsibilities` = q(z), stats "elbo", and q's
parameters in `info["q"]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import betaln, digamma, gammaln

from ...errors import AuguryInferenceError
from ..mixtures import conjugate as cj
from ..mixtures import weights as wt
from ..mixtures.problem import MixtureProblem
from ..mixtures.result import MixtureResult
from ..mixtures.sharding import shard_points
from .. import checkpoints
from ..progress import progress_bar
from ..sphere import VonMisesFisher
from .em import (_gauss_arrays, cached, check_problem, chol_inverse, draw_keys,
                 gamma_log_terms, gamma_prior, kappa_guess, kappa_known, kmeans_start, log_gamma_density, log_inv_wishart,
                 mahalanobis, maximize_log_kappa, mean_resultant, mean_resultant_derivative, mvn_logpdf,
                 problem_key, run_segments, suff_stats)

R_TOL = 1e-6          # responsibilities that move less than this are a fixed point
DRAW_BLOCK = 100      # draws per compiled block when sampling q
DELETE_TRIES = 16     # at most this many delete moves per fit (DP weights)


# --------------------------------------------------------------------------- weights

def _dirichlet_log_evidence(a, n):
    """log B(a + n) − log B(a) (B the multivariate Beta)."""
    return jnp.sum(gammaln(a + n)) - gammaln(jnp.sum(a + n)) - jnp.sum(gammaln(a)) + gammaln(jnp.sum(a))


def log_evidence_weights(prior, counts):
    """log E_{p(π)}[Π_k π_k^{n_k}] for soft counts n: the weights' part of the collapsed ELBO."""
    n = jnp.asarray(counts)
    nc = n if prior.groups is None else jax.ops.segment_sum(n, jnp.asarray(prior.groups), num_segments=prior.size)
    if prior.kind == "fixed":
        out = jnp.sum(nc * jnp.log(jnp.asarray(prior.fixed, n.dtype)))
    elif prior.kind == "dirichlet":
        out = _dirichlet_log_evidence(jnp.asarray(prior.concentration, n.dtype), nc)
    else:  # sticks v_k ~ Beta(1, α), k < C; v_C = 1
        tail = jnp.cumsum(nc[::-1])[::-1] - nc
        out = jnp.sum(betaln(1.0 + nc[:-1], prior.alpha + tail[:-1]) - betaln(1.0, prior.alpha))
    if prior.groups is None:
        return out
    g = np.asarray(prior.groups)
    within = jnp.asarray(prior.within, n.dtype)
    for c in range(prior.size):  # a few classes: a Python loop is fine
        idx = np.flatnonzero(g == c)
        out = out + _dirichlet_log_evidence(within[idx], n[idx])
    return out


# --------------------------------------------------------------------------- components

def _update_points(problem: MixtureProblem, n, s1, s2, points: dict) -> dict:
    """The point-estimated blocks raised given the statistics (independent Σ; unknown vMF κ)."""
    if problem.family == "vmf":
        if kappa_known(problem):
            return points
        v = problem.vmf
        D = s1.shape[-1]
        a, b = gamma_prior(problem)
        m0 = jnp.asarray(v.m0, s1.dtype)

        # the collapsed ELBO's κ terms: n log C_D(κ) − log C_D(|r(κ)|), r = τ₀m₀ + κ s1 (q(μ) optimal
        # for each κ); with c = d|r|/dκ = rᵀs1/|r| and dc/dκ = (|s1|² − c²)/|r|:
        # f' = −n A(κ) + A(|r|) c,  f'' = −n A'(κ) + A'(|r|) c² + A(|r|)(|s1|² − c²)/|r|
        def core(k):
            r = jnp.linalg.norm(v.tau0 * m0[None] + k[:, None] * s1, axis=-1)
            return n * cj.log_normalizer_vmf(k, D) - cj.log_normalizer_vmf(r, D)

        def core_derivs(k):
            rv = v.tau0 * m0[None] + k[:, None] * s1
            r = jnp.linalg.norm(rv, axis=-1)
            safe = jnp.where(r > 0, r, 1.0)
            c = jnp.where(r > 0, jnp.sum(rv * s1, axis=-1) / safe, 0.0)
            A, Ar = mean_resultant(k, D), mean_resultant(r, D)
            s1s1 = jnp.sum(s1 * s1, axis=-1)
            d1 = -n * A + Ar * c
            d2 = (-n * mean_resultant_derivative(k, A, D) + mean_resultant_derivative(r, Ar, D) * c * c
                  + jnp.where(r > 0, Ar * (s1s1 - c * c) / safe, 0.0))
            return d1, d2

        if v.kappa_shared:
            K = n.shape[0]
            full = lambda k: jnp.broadcast_to(k, (K,))

            def obj(k):
                return jnp.sum(core(full(k))) + gamma_log_terms(k, a, b)[0]

            def derivs(k):
                d1, d2 = core_derivs(full(k))
                _, g1, g2 = gamma_log_terms(k, a, b)
                return jnp.sum(d1) + g1, jnp.sum(d2) + g2

            kappa = jnp.broadcast_to(maximize_log_kappa(obj, derivs, points["concentration"][:1]), (K,))
        else:
            def derivs(k):
                d1, d2 = core_derivs(k)
                _, g1, g2 = gamma_log_terms(k, a, b)
                return d1 + g1, d2 + g2

            kappa = maximize_log_kappa(lambda k: core(k) + gamma_log_terms(k, a, b)[0], derivs,
                                       points["concentration"])
        return {"concentration": kappa}
    if problem.gaussian.kind != "independent":
        return points
    g = problem.gaussian
    D = s1.shape[-1]
    m, C = cj.known_cov_posterior(g, n, s1, points["covariances"])
    scatter = s2 - jnp.einsum("kd,ke->kde", s1, m) - jnp.einsum("kd,ke->kde", m, s1) + \
        n[:, None, None] * (jnp.einsum("kd,ke->kde", m, m) + C)
    sigma = (jnp.asarray(g.Psi0, s1.dtype)[None] + scatter) / (g.nu0 + n + D + 1.0)[:, None, None]
    return {"covariances": 0.5 * (sigma + jnp.swapaxes(sigma, -1, -2))}


def _cov(problem, points, dtype):
    return points["covariances"] if problem.gaussian.kind == "independent" else _gauss_arrays(problem, dtype)["cov"]


def _vmf_r(problem, s1, kappa):
    return problem.vmf.tau0 * jnp.asarray(problem.vmf.m0, s1.dtype)[None] + kappa[:, None] * s1


def _kappa(problem, points, K, dtype):
    if kappa_known(problem):
        return jnp.full((K,), problem.vmf.kappa, dtype)
    return points["concentration"]


def _log_evidence_components(problem: MixtureProblem, n, s1, s2, points: dict):
    """Σ_k log p̃(X | k) (+ the point estimates' log prior): the components' part of the ELBO."""
    K, D = s1.shape
    if problem.family == "vmf":
        kappa = _kappa(problem, points, K, s1.dtype)
        r = jnp.linalg.norm(_vmf_r(problem, s1, kappa), axis=-1)
        out = jnp.sum(n * cj.log_normalizer_vmf(kappa, D) + cj.log_normalizer_vmf(problem.vmf.tau0, D)
                      - cj.log_normalizer_vmf(r, D))
        if kappa_known(problem):
            return out
        a, b = gamma_prior(problem)
        return out + jnp.sum(log_gamma_density(kappa[:1] if problem.vmf.kappa_shared else kappa, a, b))
    g = problem.gaussian
    if g.kind == "niw":
        return jnp.sum(cj.niw_log_marginal(g, n, s1, s2))
    cov = _cov(problem, points, s1.dtype)
    out = jnp.sum(cj.known_cov_log_marginal(g, n, s1, s2, cov))
    if g.kind == "independent":
        out = out + jnp.sum(log_inv_wishart(cov, g.nu0, jnp.asarray(g.Psi0, s1.dtype)))
    return out


def _expected_log_lik(problem: MixtureProblem, n, s1, s2, points: dict, X):
    """E_q[log p(x_n | θ_k)] (N, K)."""
    K, D = s1.shape
    if problem.family == "vmf":
        kappa = _kappa(problem, points, K, s1.dtype)
        rv = _vmf_r(problem, s1, kappa)
        r = jnp.linalg.norm(rv, axis=-1)
        # E[μ] = A_D(|r|) r/|r|; A_D(ρ)/ρ → 1/D as ρ → 0
        scale = jnp.where(r > 1e-8, mean_resultant(r, D) / jnp.where(r > 1e-8, r, 1.0), 1.0 / D)
        e_mu = rv * scale[:, None]
        return (X @ (kappa[:, None] * e_mu).T) + cj.log_normalizer_vmf(kappa, D)[None]
    g = problem.gaussian
    if g.kind == "niw":
        kn, mn, nun, psin = cj.niw_posterior(g, n, s1, s2)
        W, half_logdet = chol_inverse(psin)
        e_logdet_prec = (jnp.sum(digamma(0.5 * (nun[:, None] - jnp.arange(D, dtype=s1.dtype)[None])), axis=1)
                         + D * math.log(2.0) - 2.0 * half_logdet)
        return (0.5 * e_logdet_prec[None] - 0.5 * D / kn[None] - 0.5 * nun[None] * mahalanobis(X, mn, W)
                - 0.5 * D * math.log(2 * math.pi))
    cov = _cov(problem, points, s1.dtype)
    m, C = cj.known_cov_posterior(g, n, s1, cov)
    trace = jnp.einsum("kde,ked->k", jnp.linalg.inv(cov), C)
    return mvn_logpdf(X, m, cov) - 0.5 * trace[None]


def _initial_points(problem: MixtureProblem, n, s1, s2) -> dict:
    K, D = s1.shape
    if problem.family == "vmf":
        if kappa_known(problem):
            return {}
        if problem.vmf.kappa_shared:
            guess = kappa_guess(jnp.sum(n)[None], jnp.sum(jnp.linalg.norm(s1, axis=-1))[None, None], D)
        else:
            guess = kappa_guess(n, s1, D)
        return {"concentration": jnp.broadcast_to(guess, (K,)).astype(s1.dtype)}
    if problem.gaussian.kind != "independent":
        return {}
    g = problem.gaussian
    mean = s1 / jnp.maximum(n, 1.0)[:, None]
    cov = s2 - n[:, None, None] * jnp.einsum("kd,ke->kde", mean, mean)
    return {"covariances": (cov + jnp.asarray(g.Psi0, s1.dtype)) / (n + g.nu0 + D + 1.0)[:, None, None]}


def _entropy(R):
    return -jnp.sum(jnp.where(R > 0, R * jnp.log(jnp.where(R > 0, R, 1.0)), 0.0))


def _vi_iteration(problem, X, allowed, R, points):
    """From q(z) = R: q(π), q(θ) and the point blocks updated, the ELBO there, and the new q(z)."""
    second = problem.family == "gaussian"
    n, s1, s2 = suff_stats(X, R, second)
    points = _update_points(problem, n, s1, s2, points)
    elbo = (_log_evidence_components(problem, n, s1, s2, points) + log_evidence_weights(problem.weights, n)
            + _entropy(R))
    terms = _expected_log_lik(problem, n, s1, s2, points, X) + wt.expected_log_weights(problem.weights, n)[None]
    L = jnp.where(allowed, terms, -jnp.inf)
    R_new = jax.nn.softmax(L, axis=1)
    return R_new, points, elbo


def _q_params(problem: MixtureProblem, n, s1, s2, points: dict) -> dict:
    """q's parameters (for `info["q"]` and the draws)."""
    out = {"counts": n}
    if problem.family == "vmf":
        kappa = _kappa(problem, points, n.shape[0], s1.dtype)
        rv = _vmf_r(problem, s1, kappa)
        r = jnp.linalg.norm(rv, axis=-1)
        out.update(means_direction=rv / jnp.where(r > 0, r, 1.0)[:, None], means_concentration=r, kappa=kappa)
        return out
    g = problem.gaussian
    if g.kind == "niw":
        kn, mn, nun, psin = cj.niw_posterior(g, n, s1, s2)
        out.update(m=mn, kappa=kn, nu=nun, Psi=psin)
        return out
    cov = _cov(problem, points, s1.dtype)
    m, C = cj.known_cov_posterior(g, n, s1, cov)
    out.update(means_mean=m, means_cov=C)
    if g.kind == "independent":
        out["covariances"] = cov
    return out


@jax.jit
def _draw_assignments(R, keys):
    """(S, N) assignments drawn from q(z) = R by inverse CDF, one uniform per point and draw."""
    cdf = jnp.cumsum(R, axis=1)
    u = jax.vmap(lambda k: jax.random.uniform(k, (R.shape[0],), R.dtype))(keys)
    return jnp.minimum(jnp.sum(u[:, :, None] > cdf[None], axis=2), R.shape[1] - 1).astype(jnp.int32)


@partial(jax.jit, static_argnames=("kind", "samples"))
def _draw_class_weights(kind: str, a, b, key, samples: int):
    """(S, C) weights from q(π) without prototypes: Dirichlet(a) (kind "dirichlet") or the sticks
    v_k ~ Beta(a_k, b_k), v_C = 1 (kind "dp"). Module-level and shape-keyed: one compile serves
    every problem of these shapes (the gamma samplers are slow to compile)."""
    if kind == "dirichlet":
        log_g = jax.random.loggamma(key, jnp.broadcast_to(a, (samples,) + a.shape), dtype=a.dtype)
        return jnp.exp(log_g - jax.scipy.special.logsumexp(log_g, axis=1, keepdims=True))
    v = jax.random.beta(key, a, b, shape=(samples,) + a.shape, dtype=a.dtype).at[:, -1].set(1.0)
    log_rest = jnp.concatenate([jnp.zeros((samples, 1), a.dtype), jnp.cumsum(jnp.log1p(-jnp.minimum(v[:, :-1], 1.0)), axis=1)], axis=1)
    return v * jnp.exp(log_rest)


def _draw_weights(prior, n, key, samples: int):
    if prior.groups is None and prior.kind == "dirichlet":
        return _draw_class_weights("dirichlet", jnp.asarray(prior.concentration, n.dtype) + n, None, key, samples)
    if prior.groups is None and prior.kind == "dp":
        tail = jnp.cumsum(n[::-1])[::-1] - n
        return _draw_class_weights("dp", 1.0 + n, prior.alpha + tail, key, samples)
    if prior.groups is None:
        return jnp.broadcast_to(jnp.asarray(prior.fixed, n.dtype), (samples, n.shape[0]))
    return jax.jit(jax.vmap(lambda k: wt.sample_weights(prior, n, k)))(jax.random.split(key, samples))


@partial(jax.jit, static_argnames=("samples",))
def _draw_niw(kn, mn, nun, psin, key, samples: int):
    """(S, K, D) means and (S, K, D, D) covariances from NIW(m_n, κ_n, ν_n, Ψ_n), one batched call."""
    K, D = mn.shape
    k1, k2 = jax.random.split(key)
    sigma = cj.sample_inv_wishart(k1, jnp.tile(nun, samples), jnp.tile(psin, (samples, 1, 1)))
    mu = cj.sample_mvnormal(k2, jnp.tile(mn, (samples, 1)), sigma / jnp.tile(kn, samples)[:, None, None])
    return mu.reshape(samples, K, D), sigma.reshape(samples, K, D, D)


@partial(jax.jit, static_argnames=("samples",))
def _draw_gauss(mean, cov, key, samples: int):
    K, D = mean.shape
    L = jnp.linalg.cholesky(cov)
    z = jax.random.normal(key, (samples, K, D), mean.dtype)
    return mean[None] + jnp.einsum("kde,ske->skd", L, z)


@partial(jax.jit, static_argnames=("samples",))
def _draw_vmf(direction, conc, key, samples: int):
    return VonMisesFisher(direction, conc).draw(key, (samples,) + direction.shape)


def _draw_components(problem: MixtureProblem, q: dict, key, samples: int) -> dict:
    """Component parameters drawn from q (point estimates repeated)."""
    out = {}
    if problem.family == "vmf":
        r = q["means_concentration"]
        direction = jnp.where((r > 0)[:, None], q["means_direction"], jnp.eye(1, q["means_direction"].shape[1],
                                                                            dtype=r.dtype))
        out["means"] = _draw_vmf(direction, jnp.maximum(r, 1e-12), key, samples)
        if not kappa_known(problem):
            out["concentration"] = jnp.broadcast_to(q["kappa"], (samples,) + q["kappa"].shape)
    elif problem.gaussian.kind == "niw":
        out["means"], out["covariances"] = _draw_niw(q["kappa"], q["m"], q["nu"], q["Psi"], key, samples)
    else:
        out["means"] = _draw_gauss(q["means_mean"], q["means_cov"], key, samples)
        if problem.gaussian.kind == "independent":
            out["covariances"] = jnp.broadcast_to(q["covariances"], (samples,) + q["covariances"].shape)
    return out


def _draw(problem: MixtureProblem, q: dict, R, key, samples: int) -> dict:
    """`samples` draws from q: assignments in blocks of DRAW_BLOCK (bounded (S, N) memory)."""
    k_w, k_t, k_z = jax.random.split(key, 3)
    out = {"weights": _draw_weights(problem.weights, q["counts"], k_w, samples)}
    out.update(_draw_components(problem, q, k_t, samples))
    keys = jax.random.split(k_z, samples)
    blocks = []
    for start in range(0, samples, DRAW_BLOCK):
        kb = keys[start:start + DRAW_BLOCK]
        pad = DRAW_BLOCK - kb.shape[0]
        if pad:  # one compiled block size
            kb = jnp.concatenate([kb, jnp.broadcast_to(kb[:1], (pad,) + kb.shape[1:])])
        blocks.append(np.asarray(_draw_assignments(R, kb))[:DRAW_BLOCK - pad])
    out = {k: np.asarray(v) for k, v in out.items()}
    out["assignment"] = np.concatenate(blocks)
    return out


def _build(problem: MixtureProblem, iterations: int, tol: float):
    second = problem.family == "gaussian"

    def init(X, allowed, key):
        R, n, s1, s2 = kmeans_start(problem, X, allowed, key)
        return {"R": R, "points": _initial_points(problem, n, s1, s2), "it": jnp.int32(0),
                "done": jnp.bool_(False), "trace": jnp.full((iterations,), jnp.nan, X.dtype),
                "prev": jnp.asarray(-jnp.inf, X.dtype), "delta": jnp.asarray(jnp.inf, X.dtype)}

    def segment(X, allowed, carry, stop):
        def cond(c):
            return (c["it"] < stop) & ~c["done"]

        def body(c):
            R_new, points, elbo = _vi_iteration(problem, X, allowed, c["R"], c["points"])
            delta = jnp.max(jnp.abs(R_new - c["R"]))
            done = (jnp.abs(elbo - c["prev"]) <= tol * jnp.abs(elbo)) | (delta < R_TOL)
            return {"R": R_new, "points": points, "it": c["it"] + 1, "done": done,
                    "trace": c["trace"].at[c["it"]].set(elbo), "prev": elbo, "delta": delta}
        return lax.while_loop(cond, body, carry)

    def restart(X, allowed, R, points, k):
        """A carry whose q(z) is the E-step from R's q(θ), q(π) with component k forbidden."""
        R, points, _ = _vi_iteration(problem, X, allowed & (jnp.arange(problem.K)[None] != k), R, points)
        return {"R": R, "points": points, "it": jnp.int32(0), "done": jnp.bool_(False),
                "trace": jnp.full((iterations,), jnp.nan, X.dtype), "prev": jnp.asarray(-jnp.inf, X.dtype),
                "delta": jnp.asarray(jnp.inf, X.dtype)}

    def score(X, allowed, R, points):
        return _vi_iteration(problem, X, allowed, R, points)[2]

    def final(X, R, points):
        n, s1, s2 = suff_stats(X, R, second)
        points = _update_points(problem, n, s1, s2, points)
        return n, s1, s2, points, _q_params(problem, n, s1, s2, points)

    return jax.jit(init), jax.jit(segment), jax.jit(final), jax.jit(restart), jax.jit(score)


def fit(problem: MixtureProblem, key, settings: dict, progress: bool = False) -> MixtureResult:
    """Mean-field VB for `problem` from a k-means++ start; `samples` draws from the fitted q."""
    check_problem(problem, "vi")
    iterations = int(settings.get("iterations", 500))
    tol = float(settings.get("tol", 1e-6))
    samples = int(settings.get("samples", 1000))
    X = jnp.asarray(problem.X, problem.dtype or jnp.asarray(problem.X).dtype)
    allowed_np = problem.allowed()
    if not allowed_np.any(axis=1).all():
        raise AuguryInferenceError("`vi`: a point's label allows no component", notes=["check `groups` and labels"])
    X, allowed = shard_points(X, jnp.asarray(allowed_np))
    init, segment, final, restart, score = cached(("vi", problem_key(problem, X), iterations, tol),
                                                  lambda: _build(problem, iterations, tol))
    k_init, k_draw = jax.random.split(key)
    carry = init(X, allowed, k_init)
    ck = checkpoints.current()
    resumed = ck.start("vi") if ck is not None else None
    log, pending = _Log(), None
    if resumed is not None:  # VI is deterministic from its start: the saved carries are all it needs
        carry, trial = resumed.state([carry, carry])
        log = _Log.from_extra(resumed.extra)
        carry, pending = (trial, None) if log.stage == 0 else (carry, (log.tried[-1], trial))
    with progress_bar(iterations, desc="vi", enabled=progress) as bar:  # one bar; each delete move is a phase

        def run_(c, phase: str | None = None, accepted=None):
            """Run `c` to convergence; a checkpoint keeps it with the `accepted` carry of the delete moves."""
            if phase:
                bar.set_phase(phase, total=iterations)
            bar.update(int(c["it"]))

            def on_segment(c_: dict, stopped: bool) -> None:
                units = log.units + int(c_["it"])
                if stopped or ck.due(units):
                    ck.save(units, [c_ if accepted is None else accepted, c_], extra=log.extra(),
                            interrupted=stopped)
            c, stopped = run_segments(lambda c, stop: segment(X, allowed, c, stop), c, iterations, bar,
                                      on_segment if ck is not None else None)
            if not stopped:
                log.units += int(c["it"])
            return c, stopped

        interrupted = False
        if log.stage == 0:
            carry, interrupted = run_(carry)
            log.runs = [np.asarray(carry["trace"])[:int(carry["it"])]]
        if not interrupted and problem.weights.kind == "dp":
            log.stage = 1
            carry, interrupted = _delete_moves(carry, run_, restart, score, X, allowed, allowed_np, log, pending)
        runs, deletions = log.runs, log.deletions
    R = carry["R"]
    n, s1, s2, points, q = final(X, R, carry["points"])
    out_draws: dict = {}
    if samples > 0:
        drawn = _draw(problem, q, R, k_draw, samples)
        out_draws = {k: drawn[k] for k in ["assignment", "weights"] + draw_keys(problem)}
    R = np.asarray(R)
    trace = np.concatenate(runs)
    if not np.all(np.isfinite(R)) or not np.all(np.isfinite(trace)):
        bad = np.flatnonzero(~np.isfinite(trace))
        at = f" at iteration {int(bad[0]) + 1} of {trace.size}" if bad.size else " after the last iteration"
        raise AuguryInferenceError("`vi` produced NaN or infinity in the evidence lower bound" + at,
                                   notes=["check the data's scale and the priors' hyperparameters"])
    iters, converged = int(trace.size), bool(carry["done"])
    out = MixtureResult(
        draws=out_draws, responsibilities=R, stats={"elbo": trace},
        info={"iterations": iters, "converged": converged, "elbo": float(trace[-1]) if trace.size else float("nan"),
              "max_responsibility_change": float(carry["delta"]), "deleted_components": deletions,
              "elbo_runs": [int(r.size) for r in runs],
              "q": jax.tree.map(np.asarray, q), **({"points": jax.tree.map(np.asarray, points)} if points else {})},
        interrupted=interrupted)
    if interrupted:
        out.warnings.append(f"vi interrupted after {iters} iterations: q is the last one reached")
    elif not converged:
        out.warnings.append(f"vi did not converge in {iterations} iterations (relative ELBO change above "
                            f"tol = {tol:g} and responsibilities still moving by {float(carry['delta']):.2g}); "
                            "raise `iterations`")
    _truncation_warning(problem, np.asarray(n), out)
    return out


@dataclass
class _Log:
    """Where the fit is, besides its carries (what a checkpoint keeps): `stage` 0 the first run, 1 the
    delete moves; `runs` the ELBO traces of the first and the accepted runs; `tried` the components
    tried (the last one's run in progress on a resume at stage 1); `deletions` (component, ELBO
    before, ELBO after); `units` the iterations of the runs finished (what the bar counts)."""

    stage: int = 0
    runs: list = field(default_factory=list)
    tried: list = field(default_factory=list)
    deletions: list = field(default_factory=list)
    units: int = 0

    def extra(self) -> dict:
        return {"stage": np.int64(self.stage), "units": np.int64(self.units),
                "tried": np.asarray(self.tried, np.int64), "run_lengths": np.asarray([r.size for r in self.runs], np.int64),
                "runs": np.concatenate(self.runs) if self.runs else np.zeros(0),
                "deletions": np.asarray([[k, a, b] for k, a, b in self.deletions], np.float64).reshape(-1, 3)}

    @classmethod
    def from_extra(cls, extra: dict) -> "_Log":
        runs = np.split(extra["runs"], np.cumsum(extra["run_lengths"])[:-1]) if extra["run_lengths"].size else []
        return cls(stage=int(extra["stage"]), runs=list(runs), tried=[int(k) for k in extra["tried"]],
                   deletions=[(int(k), float(a), float(b)) for k, a, b in extra["deletions"]],
                   units=int(extra["units"]))


def _delete_moves(carry, run_, restart, score, X, allowed, allowed_np, log: _Log, pending=None):
    """Delete moves (Hughes & Sudderth 2013, "Memoized online variational inference for Dirichlet
    process mixture models"): coordinate ascent keeps a cluster split across two components for
    hundreds of slowly shrinking iterations (the "weights barely move" of scikit-learn's
    BayesianGaussianMixture). After convergence (with a DP prior, whose point is to find the
    number of components), each occupied component (holding more than half a point), smallest
    first, is tried: its points go to the others by an E-step with it forbidden, VI is run again to
    convergence, and the result is kept only if its ELBO is higher. Every run's ELBO is non-decreasing; the accepted moves raise it further.
    Records the moves in `log` (accepted: `log.deletions`, their ELBO traces in `log.runs`);
    `pending` = (component, carry) is a trial resumed from a checkpoint.  Returns (carry, interrupted)."""
    best = float(score(X, allowed, carry["R"], carry["points"]))  # the accepted carry's ELBO
    for _ in range(len(log.tried) - (pending is not None), min(DELETE_TRIES, int(allowed_np.shape[1]))):
        if pending is not None:
            (k, start), pending = pending, None
        else:
            n = np.asarray(jnp.sum(carry["R"], axis=0))
            # a component some point can only take (an observed label) cannot be emptied
            only = np.asarray(allowed_np.sum(axis=1) == 1)
            pinned = set(np.flatnonzero(allowed_np[only].any(axis=0)).tolist()) if only.any() else set()
            cands = [k for k in np.argsort(n) if n[k] > 0.5 and k not in log.tried and k not in pinned]
            if not cands:
                break
            k = int(cands[0])
            log.tried.append(k)
            start = restart(X, allowed, carry["R"], carry["points"], k)
        try:
            trial, interrupted = run_(start, f"vi: trying without component {k}", accepted=carry)
        except KeyboardInterrupt:
            return carry, True
        if interrupted:
            return carry, True
        value = float(score(X, allowed, trial["R"], trial["points"]))
        if value > best:
            log.deletions.append((k, best, value))
            log.runs.append(np.asarray(trial["trace"])[:int(trial["it"])])
            carry, best = trial, value
    return carry, False


def _truncation_warning(problem: MixtureProblem, n, out: MixtureResult) -> None:
    """A DP whose last component holds data may be truncated too early."""
    if problem.weights.kind == "dp" and problem.weights.groups is None and n[-1] > max(1.0, 0.01 * n.sum()):
        out.warnings.append(f"vi: the last of the {problem.K} truncated DP components holds {n[-1]:.0f} points: "
                            "the truncation may be too small; raise the number of components")


def run(problem, key, settings, *, method, progress):
    """The registry's entry point: `problem.mixture` fitted, as the model's named draws."""
    from ..mixtures.outputs import mixture_draws
    return mixture_draws(problem.mixture, fit(problem.mixture, key, settings, progress), method, settings)
