"""The twisted diffusion sampler (TDS; Wu, Trippe, Naesseth, Blei & Cunningham, "Practical and
asymptotically exact conditional sampling in diffusion models", NeurIPS 2023, sec. 3 and
Algorithm 1).

Sequential Monte Carlo over the model's reverse process p_θ(x_s | x_t) = N(α_s x̂₀ + d ε̂, a² I)
(the ancestral step, d = `dir1`, a = `anc`; runtime/reverse.py), whose intermediate targets
p_θ(x_t) p̃_t(y | x_t) are "twisted" by the likelihood at the Tweedie estimate x̂₀(x_t):

    Gaussian:  p̃_t(y | x_t) ∝ N(y; A(x̂₀(x_t)), σ_y² I + r_t² A Aᵀ),   r_t² = v σ̃_t² / (v + σ̃_t²),
    Poisson:   p̃_t(y | x_t) = Poisson(y; A(x̂₀(x_t))),

σ̃_t = σ_t / α_t.  The paper twists by the likelihood at x̂₀; its code, for
inpainting (a mask, noiseless data), by N(y; x̂₀_M, σ̃_t²), i.e. inflated by the uncertainty of
x̂₀.  Here that uncertainty is r_t², the variance of x₀ | x_t under a N(m, v I) prior (v the
analytic prior's variance; for a network v → ∞, r_t² = σ̃_t², the authors' choice, with x̂₀
clipped to its declared data range: its x̂₀ error grows as 1/α at high noise), and
σ_y² I + r_t² AAᵀ is then p(y | x_t) exactly for that prior: "spectral", in the operator's SVD
basis, where the measurement has one.  Without an SVD (a nonlinear operator, or none built)
the covariance is (σ_y² + r_t²) I, "isotropic", the same for a mask.  At the clean signal
(σ_s = 0) the twist is the likelihood.  Factors of p̃_t that do not depend on x_t are left
out: they cancel between successive weights.  Without the inflation (σ_y² alone) the two-mode
test's weights collapsed (mode weights off by up to 0.3); with the isotropic form on a 2 × 4
Gaussian matrix, log p(y) was off by 1–9 on some draws where the spectral one was within 0.06.

Twist variance (`twist_variance = "tweedie"`, spectral only).  r_t² is one number for every
particle; on a multimodal prior the particles between modes have a far larger Var(x₀ | x_t) than
those that have chosen one.  Second-order Tweedie gives it per particle, Cov[x₀ | x_t] =
(σ_t²/α_t) ∂x̂₀/∂x_t (Boys, Girolami, Pidstrigach, Reich, Mosca & Akyildiz, "Tweedie moment
projected diffusions for inverse problems", TMLR 2024), and the twist takes its diagonal along
the measured singular directions, c_j = (σ²/α) v_jᵀ (∂x̂₀/∂x_t) v_j (one VJP each, floored at
0), in place of r_t²: p̃_t = Π_j N(ȳ_j; v_jᵀx̂₀, σ_j² + c_j) in the spectral form.  The gradient
holds c fixed (the proposal is any Gaussian; the weights use its density), so exactness is
unchanged; for a N(m, v I) prior c_j = r_t² exactly.  The twist leaves out the Gaussian's
normalizer Π_j (σ_j² + c_j)^(−½), although it now varies with x_t: any positive twist is exact,
and with it the mode weights were no closer (total variation on the 25-mode benchmark 0.035
against 0.030 at d_x = 80, d_y = 1; 0.018 against 0.013 at d_x = 8, d_y = 2).  One VJP per
measured coordinate and step.

Proposal: the ancestral step with the score moved by g = ∇_{x_t} log p̃_t(y | x_t),
i.e. with the guided denoiser x̂₀ + (σ_t² / α_t) g, and the model's standard deviation a:
q(x_s | x_t, y) = N(μ + δ, a² I), μ the model's mean, δ = (α_s − d α_t / σ_t)(σ_t² / α_t) g.
g is a VJP through the denoiser and the operator (any differentiable operator).  Weights,
with x_s = μ + δ + a z:

    w = p_θ(x_s | x_t) p̃_s(y | x_s) / (p̃_t(y | x_t) q(x_s | x_t, y)),
    log p_θ / q = −z·δ / a − ‖δ‖² / 2a²;

p̃_T(y | x_T) at the start draw; the last step (σ_s = 0, a = 0) is the model's deterministic
x₀ = x̂₀(x_t), weighted p(y | x₀) / p̃_t(y | x_t).  The weights' means multiply to p(y) (but
for the likelihood's constant, which the loop adds).

A particle carries x_t, x̂₀(x_t), log p̃_t and g, so a step makes one denoiser call with its VJP,
at the new particles; resampling (systematic by default, when ESS < `ess_threshold` · P) gathers
them along.  The start makes one more call; the last step's call (at t, not at the clean signal,
to keep one program) is discarded.

Teleport (`teleport = f`): the particles start at the teleport time t from q(x_t), the noised
posterior of the prior's Gaussian approximation N(m, v I) (reverse.py, `start_draw`), weighted
N(x_t; α_t m, (α_t² v + σ_t²) I) p̃_t(y | x_t) / q(x_t): the model's marginal p_θ(x_t) is replaced
by that of the Gaussian approximation.  Exact, draws and evidence, only for a Gaussian prior;
for any other prior it samples the posterior of a prior that is the Gaussian approximation down
to t and the model's reverse process below it.
"""

from __future__ import annotations

import math

import numpy as np

from augury.errors import AuguryInferenceError

from ..particle_reverse import run_particle_reverse
from ..reverse import finite_checks

MAX_TWEEDIE_DIRECTIONS = 256  # each is a VJP unrolled into the step's program
_DEAD = -1e29  # log p̃ below this: a zero likelihood (a Poisson rate ≤ 0 at a positive count)


def twist_kind(meas) -> str:
    """"poisson", "spectral" (a Gaussian measurement with its SVD) or "isotropic"."""
    return "poisson" if meas.family == "poisson" else "spectral" if meas.s_full is not None else "isotropic"


def log_twist(bk, meas, v: float):
    """`f(x0, a, s, data, cov=None) -> (log p̃, ∇_{x0} log p̃, y − A(x0))` for a batch x̂₀ = x0 at the
    level (α, σ) = (a, s) (see the module docstring), without the factors that do not depend on x0.
    `cov` (P, D), spectral only: per-particle variances of x₀ | x_t along the measured directions
    (`twist_variance = "tweedie"`) in place of r_t²; held fixed in the gradient."""
    kind = twist_kind(meas)
    # r_t² = v σ̃²/(v + σ̃²), the x̂₀ uncertainty of a N(m, v I) prior; v None: σ̃² (v → ∞, the authors' code)
    r2 = (lambda st2: st2) if v is None else (lambda st2: v * st2 / (v + st2))

    def poisson(x0, a, s, data, cov=None):
        lp, vjp = bk.value_and_vjp(lambda u: meas.log_likelihood(u, data), x0)
        return lp, vjp(lp * 0 + 1)[0], meas.residual(x0, data)

    def spectral(x0, a, s, data, cov=None):
        st2 = (s / a) ** 2
        prec = 1.0 / (meas.sigma ** 2 + (r2(st2) if cov is None else cov) * meas.s_full * meas.s_full)
        res = meas.residual(x0, data)
        coef = bk.pad(meas.svd.Ut(res), meas.D)
        # y's part outside A's range, ‖(I − UUᵀ) y‖², is the same for every x0, but the
        # likelihood counts it, and the last step's twist must be the likelihood
        y = data["y"][None]
        outside = bk.per_particle_sum(y * y) - bk.per_particle_sum(meas.svd.Ut(y) ** 2)
        lp = -(bk.per_particle_sum(coef * coef * prec) + outside / meas.sigma ** 2) / 2
        return lp, meas.svd.V(meas.s_full * prec * coef), res

    def isotropic(x0, a, s, data, cov=None):
        st2 = (s / a) ** 2
        var = meas.sigma ** 2 + r2(st2)
        ax0, vjp = bk.value_and_vjp(meas.maps.apply, x0)
        res = data["y"][None] - ax0
        return -bk.per_particle_sum(res * res) / (2 * var), vjp(res / var)[0], res

    return {"poisson": poisson, "spectral": spectral, "isotropic": isotropic}[kind]


def make_particle_step(inverse, settings: dict):
    bk, prior = inverse.backend, inverse.prior
    # an analytic prior's v makes the twist p(y | x_t) exactly for a Gaussian; a network's x̂₀ is far
    # less certain than v says at high noise (its error is amplified by 1/α), so it gets σ̃² (v → ∞)
    lik = log_twist(bk, inverse.measurement, float(prior.var) if prior.exact and prior.var is not None else None)
    meas = inverse.measurement
    tweedie = settings.get("twist_variance", "prior") == "tweedie"
    if tweedie:  # the measured directions v_j in x's shape, (R, *shape)
        unit = bk.asarray(np.eye(meas.D)[: meas.R])
        directions = meas.svd.V(unit)

    def clip(x0):
        """x̂₀ within the network's declared data range: at high noise a network's x̂₀ = (x − σε̂)/α
        amplifies its error by 1/α (2·10⁴ at t = 1 on vp), and a twist at such x̂₀ left one particle
        with all the weight; any twist is exact (the weights correct it), so clipping costs nothing."""
        if inverse.data_range is None:
            return x0
        lo, hi = (float(v) for v in inverse.data_range)
        return bk.where(x0 > hi, hi + 0 * x0, bk.where(x0 < lo, lo + 0 * x0, x0))

    def twist(x, a, s, call, data):
        """x̂₀(x), log p̃(y | x), ∇_x log p̃ and ‖y − A(x̂₀)‖ for x at the level (α, σ) = (a, s),
        the denoiser called at `call` = (t, α, σ)."""
        x0, vjp_den = bk.value_and_vjp(lambda u: clip(prior.x0_and_eps(u, *call)[0]), x)
        x0 = bk.where(s > 0, x0, x)  # at the clean signal x̂₀ is x itself
        cov = tweedie_variances(x, vjp_den, call) * bk.where(s > 0, 1.0, 0.0) if tweedie else None
        lp, g0, res = lik(x0, a, s, data, cov)
        return x0, lp, vjp_den(g0)[0], bk.sqrt(bk.per_particle_sum(res * res))

    def tweedie_variances(x, vjp_den, call):
        """Var(v_jᵀx₀ | x_t) = (σ²/α) v_jᵀ (∂x̂₀/∂x_t) v_j for each measured direction v_j (second-order
        Tweedie), one VJP each: (P, D), zero past R and floored at zero (a network's Jacobian need not
        be positive)."""
        _, alpha, sigma = call
        var = 0.0
        for j in range(meas.R):
            v_j = directions[j:j + 1] + 0 * x
            var = var + bk.per_particle_sum(vjp_den(v_j)[0] * v_j)[:, None] * unit[j:j + 1]
        var = var * (sigma * sigma / alpha)
        return bk.where(var > 0, var, 0 * var)

    def init(x, rng, c, data):
        x0, lp, g, _ = twist(x, c["a_t"], c["s_t"], (c["t"], c["a_t"], c["s_t"]), data)
        log_w = lp + teleport_weight(bk, inverse, x, c, data)
        return {"x": x, "x0": x0, "lp": lp, "g": g}, log_w, rng

    def step(state, rng, c, data):
        x, x0, lp, g = state["x"], state["x0"], state["lp"], state["g"]
        a_t, s_t, a_s, s_s, anc, dir1 = c["a_t"], c["s_t"], c["a_s"], c["s_s"], c["anc"], c["dir1"]
        mean = a_s * x0 + dir1 * (x - a_t * x0) / s_t
        # the proposal's shift, none where the model's step is deterministic (anc = 0)
        stochastic = anc > 0
        # the guided denoiser x̂₀ + w ∇log p̃ with w = σ²/α; for a network capped at α where noise
        # dominates, as pigdm does: its Jacobian (~1/α there) made the digits prior's proposals
        # explode in the first steps (any proposal is exact here: the weights correct it)
        w = s_t * s_t / a_t if prior.exact else bk.where(s_t > a_t, a_t, s_t * s_t / a_t)
        delta = bk.where(stochastic, (a_s - dir1 * a_t / s_t) * w, 0 * anc) * g
        safe = bk.where(stochastic, anc, 1 + 0 * anc)
        rng, z = bk.normal(rng, tuple(x.shape))
        x_new = mean + delta + anc * z
        log_pq = -bk.per_particle_sum(z * delta) / safe - bk.per_particle_sum(delta * delta) / (2 * safe * safe)
        # the clean signal needs no call: make it at t (always finite), and discard it
        clean = s_s > 0
        call = (bk.where(clean, c["t_s"], c["t"]), bk.where(clean, a_s, a_t), bk.where(clean, s_s, s_t))
        x0_new, lp_new, g_new, norm = twist(x_new, a_s, s_s, call, data)
        incr = lp_new - lp + log_pq
        incr = bk.where(lp > _DEAD, incr, -math.inf + 0 * incr)  # a zero likelihood stays zero
        info = {"residual": norm.mean(), **finite_checks(x_new, x0_new)}
        return {"x": x_new, "x0": x0_new, "lp": lp_new, "g": g_new}, incr, rng, info

    if bk.name == "jax":  # one compiled program: eagerly, each of its operations compiles on its own (seconds)
        import jax
        init = jax.jit(init)
    return init, step


def teleport_weight(bk, inverse, x, c, data):
    """log N(x; α m, (α² v + σ²) I) − log q(x) for teleport's start x ~ q, the noised posterior of
    the Gaussian approximation (`start_draw`): in the SVD basis, over the measured coordinates
    (the others are the same in both).  0 without teleport (c["i"] = 0: x is that reference
    itself) or without an SVD (the start is then the reference too)."""
    meas, prior = inverse.measurement, inverse.prior
    zero = bk.per_particle_sum(x) * 0
    if twist_kind(meas) != "spectral" or prior.mean is None or prior.var is None:
        return zero
    a, s, var, svd = c["a_t"], c["s_t"], float(prior.var), meas.svd
    s2 = meas.s_full * meas.s_full
    mbar = svd.Vt(bk.asarray(np.array(np.broadcast_to(prior.mean, inverse.shape)))[None])
    ybar = bk.pad(svd.Ut(data["y"][None]), meas.D) / bk.where(meas.measured, meas.s_full, 1 + 0 * s2)
    prec = 1.0 / var + s2 / meas.sigma ** 2
    post = (mbar / var + s2 * ybar / meas.sigma ** 2) / prec
    v_ref, v_q = a * a * var + s * s, a * a / prec + s * s
    d_ref, d_q = svd.Vt(x) - a * mbar, svd.Vt(x) - a * post
    term = -d_ref * d_ref / (2 * v_ref) + d_q * d_q / (2 * v_q) + 0.5 * bk.log(v_q / v_ref)
    return bk.where(c["i"] > 0, bk.per_particle_sum(bk.where(meas.measured, term, 0 * term)), zero)


def run(problem, key, settings, *, method, progress):
    meas = problem.inverse.measurement
    if meas.family == "poisson" and float(settings.get("teleport", 0.0)) > 0:
        raise AuguryInferenceError("`tds`: teleport starts from the posterior under a Gaussian measurement, and these "
                                   "data are Poisson counts", notes=["set teleport = 0"])
    if settings.get("twist_variance") == "tweedie" and meas.R > MAX_TWEEDIE_DIRECTIONS:
        raise AuguryInferenceError(
            f'`tds`: twist_variance = "tweedie" takes one VJP through the prior per measured coordinate and step, and '
            f"this measurement has {meas.R} (at most {MAX_TWEEDIE_DIRECTIONS})",
            notes=['twist_variance = "prior" (the default) costs one VJP a step whatever the measurement'])
    # recorded in the draws' settings, and a key of the compiled program: the step depends on it
    settings = dict(settings, twist=twist_kind(meas))
    return run_particle_reverse(problem, key, settings, method=method, progress=progress,
                                make_particle_step=make_particle_step, calls_per_step=1, start_calls=1,
                                ess_threshold=float(settings.get("ess_threshold", 0.5)))
