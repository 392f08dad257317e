"""Monte Carlo guided diffusion (MCGdiff; Cardoso, Janati, Le Corff & Moulines, "Monte Carlo
guided diffusion for Bayesian linear inverse problems", ICLR 2024, arXiv 2308.07983): a
particle filter on the prior's reverse chain in the SVD basis of the operator, whose
observations are the data themselves, noised forward.  Checked against the authors' code
(github.com/gabrielvc/mcg_diff, `mcg_diff/particle_filter.py`); the equation numbers are ours.

Coordinates.  A = U diag(s) Vᵀ; ū = Vᵀx_t / α_t, so ū_t = x̄₀ + σ̃_t ε with σ̃_t = σ_t / α_t and
every coordinate independent given x₀ (the forward noise is isotropic), and ȳ_i = (Uᵀy)_i / s_i
= x̄₀,i + σ_i n_i with σ_i = σ_y / s_i for the R measured coordinates.

Pseudo-observations.  At the time τ_i where σ̃_{τ_i} = σ_i the coordinate ū_{τ_i,i} has, given x₀,
the law of ȳ_i, so the posterior is the reverse chain conditioned on ū_{τ_i,i} = ȳ_i, and

    (1)  p(y) = (2πσ_y²)^{−(M−R)/2} e^{−‖y − UUᵀy‖²/2σ_y²} Π_i s_i⁻¹ · Z,
         Z = ∫ p(x₀) Π_i N(ȳ_i; x̄₀,i, σ_i²) dx₀   (the pseudo-observations' density).

Noiseless data (σ_y = 0, inpainting) have τ_i = 0.  The grid need not hold τ_i: the step
t → s with σ̃_t > σ_i ≥ σ̃_s is split at τ_i by the DDPM bridge q(ū_τ | ū_t, x̂₀), whose composition
with q(ū_s | ū_τ, x̂₀) is the step's own kernel (the unconditioned chain is unchanged; the
authors' code observes at the nearest grid time, or builds a grid through the τ_i).

Potentials.  The paper's, before τ_i, are the forward transition out of the pseudo-observation,
as a function of ū_t,

    (2)  h_t,i(ū_t) = N(ū_t,i; ȳ_i, a_t),  a_t = σ̃_t² − σ_i²   (in x: N(x̄_t,i; α_t ȳ_i, σ_t² − α_t² σ_i²)).

The target p_t(ū_t) h_t(ū_t) counts the prior twice: the diffusion's law of ū_t given ū_τ = ȳ
is p_t(ū_t) p(ū_τ = ȳ | ū_t) / p_τ(ȳ) = h_t(ū_t) for a coordinate independent of the others,
with no p_t.
`potentials = "gaussian"` (the default) divides the prior's share back out through its
Gaussian approximation N(m̄, b_t), b_t = v + σ̃_t² (v, m̄ as in Start, below):

    (2') h̃_t,i(ū_t) = N(ū_t,i; ȳ_i, a_t) / N(ū_t,i; m̄_i, b_t) ∝ N(ū_t,i; c_t, a_t b_t / (v + σ_i²)),
         c_t = (ȳ_i b_t − m̄_i a_t) / (v + σ_i²)

(b_t − a_t = v + σ_i², so the ratio is a Gaussian of its own, and (3) below keeps its form with
(c_t, a_t b_t/(v + σ_i²)) in place of (ȳ, a_t)).  Any positive potentials leave the method
exact as the particles grow; these make the intermediate target the exact one when the prior
is N(m, v I), so the weights vary only with how far the prior is from Gaussian.  On the
two-mode test (tests/runtime/samplers/two_modes.py, `NULL_SPACE`) the mode weight's run-to-run
sd with 1000 particles is 0.042 against the paper's 0.087, the log evidence's 0.11 against 0.42
(40 seeds); `potentials = "paper"` gives (2) as published.  What remains is the unmeasured
coordinates' share: they follow the prior's chain and see the data only through the weights.
There the modes lie apart mostly in A's null space, so those coordinates choose a mode about
evenly, and the weights move the modes' mass (0.44 → 0.31) late, over the ~12 steps before τ_i,
as increments that persist along each path (without resampling the largest weight reaches
e⁴/P).  Most of the error arises then: given the particles 20 steps before the end, its sd is
0.032 (0.045 overall).  Neither sorting the particles along the modes' axis before resampling nor
resampling only when the ESS falls lowered it.  With the modes apart in A's row space
(`MEASURED`) the Kalman steps choose the mode, and the sd is 0.009 with 1000 particles.

A step t → s has the ancestral kernel ū_s ~ N(μ, w²), μ = x̂₀ + ρ (ū_t − x̂₀), ρ = σ̃_s² / σ̃_t²,
w² = σ̃_s² (1 − ρ) (runtime/reverse.py's `anc` over α_s), and each measured coordinate one of

    (3)  before τ_i (σ̃_s > σ_i): the Kalman step ū_s ~ N(μ + K (ȳ − μ), K v_s), K = w² / (w² + v_s),
         v_s = a_s, with the increment log N(ȳ; μ, w² + v_s) − log h_t(ū_t)  (the paper's potentials);
    (4)  across τ_i (σ̃_t > σ_i ≥ σ̃_s): ū_τ = ȳ, the increment log N(ȳ; μ_τ, v_τ) − log h_t(ū_t),
         μ_τ = x̂₀ + ρ_τ (ū_t − x̂₀), ρ_τ = σ_i² / σ̃_t², v_τ = σ_i² (1 − ρ_τ) + (1 − ρ_τ)² r²;
         then ū_s from the bridge out of ū_τ = ȳ;
    (5)  after τ_i (σ_i ≥ σ̃_t), and every unmeasured coordinate: ū_s ~ N(μ, w²), increment 0.

r² is 0 but on the last step (s = 0), whose ancestral kernel is the point x̂₀: there x₀ | x_t ≈
N(x̂₀, r²), r² = v σ̃_t² / (v + σ̃_t²) (exact for a N(m, v I) prior, v the prior's variance
where known), so that a noiseless coordinate is set to ȳ_i with the weight N(ȳ_i; x̂₀,i, r²)
(the paper's last step) and a coordinate observed within the last step is drawn from x₀ | ū_τ = ȳ.

Start.  At the first time t₀ (t = 1, or teleport's) the prior's marginal is taken as its
Gaussian approximation N(m̄, (v + σ̃²) I) (runtime/reverse.py's start) and the particles are
drawn exactly from it times the potentials (2) or (2') (with (2'): from N(ȳ, a_t₀)), or, for
σ_i ≥ σ̃_{t₀} (observed before t₀), times the pseudo-observation's density N(ȳ; ū, σ_i² − σ̃²):
coordinate-wise Gaussian, with the equal weight Π_i N(o_i; m̄_i, v + σ̃² + A_i) times (1)'s
constant, (o_i, A_i) the potential's mean and variance (c_t₀ and a b/(v + σ_i²) for (2'), ȳ_i and
a_t₀ for (2)) or ȳ_i and σ_i² − σ̃² for a coordinate observed before t₀.  Teleport moves t₀ only.

Evidence.  The product of the increments' weighted means estimates Z (1); (1)'s constant
enters the initial weight, less what the loop adds (−M/2 log 2πσ_y²), so `log_evidence`
estimates log p(y) of the discretized model.  Noiseless data: log p(Uᵀy) = log Z − Σ log s_i,
the density of Uᵀy (the σ_y → 0 limit of log p(y) + (M − R)/2 log 2πσ_y² for y in the range of
A; a part of y outside it is ignored, with a warning).  Resampling after every step (the
paper's; systematic by default, the authors' multinomial drifts more; resampling only when
the ESS falls was no better on the two-mode test).  The evidence's error is heavy-tailed (more
so with the paper's potentials); Lee & Whiteley's single-run sd, biased low when resampling
systematically at every step, is withheld where its estimate is negative.
"""

from __future__ import annotations

import math

import numpy as np

from ..particle_reverse import run_particle_reverse
from ..reverse import finite_checks, residual_norm

LOG_2PI = math.log(2 * math.pi)


def _log_normal(bk, x, mean, var):
    """log N(x; mean, var), elementwise (var an array)."""
    return -0.5 * (LOG_2PI + bk.log(var) + (x - mean) * (x - mean) / var)


def make_particle_step(inverse, settings: dict) -> tuple:
    """(init, step) of the particle loop (runtime/particle_reverse.py), eqs. (2)–(5)."""
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    svd = meas.svd
    v = 1.0 if prior.var is None else float(prior.var)
    m = bk.asarray(np.broadcast_to(0.0 if prior.mean is None else prior.mean, inverse.shape))
    mbar = svd.Vt(m[None])  # (1, D): the prior mean in the spectral basis
    seen = meas.measured
    noise2 = bk.where(seen, meas.sigma ** 2 / bk.where(seen, meas.s_full * meas.s_full, 1.0), 0.0)  # σ_i²
    s_host = np.asarray(bk.to_numpy(meas.s_full), np.float64)[: meas.R]
    log_s = float(np.sum(np.log(s_host)))
    noisy = meas.sigma > 0.0  # a Python float: noiseless data have no Gaussian constant
    papers = settings.get("potentials", "gaussian") == "paper"

    def potential(yb, st2):
        """The potential's mean and variance at σ̃² = st2: (ȳ, a), eq. (2), or eq. (2')'s
        ((ȳ b − m̄ a) / (v + σ_i²), a b / (v + σ_i²)), a = σ̃² − σ_i² (1 where unused), b = v + σ̃²."""
        a = bk.where(st2 > noise2, st2 - noise2, 1.0 + 0.0 * noise2)
        if papers:
            return yb + 0.0 * a, a
        b, gap = v + st2, v + noise2  # b − a, computed so
        return (yb * b - mbar * a) / gap, a * b / gap

    def constant(data):
        """log p(y) − log Z − what the loop adds, eq. (1): +R/2 log 2πσ² − Σ log s_i − ‖y − UUᵀy‖²/2σ²."""
        if not noisy:
            return -log_s
        y = data["y"][None]
        out = y - svd.U(svd.Ut(y))
        return 0.5 * meas.R * math.log(2 * math.pi * meas.sigma ** 2) - log_s \
            - bk.per_particle_sum(out * out)[0] / (2 * meas.sigma ** 2)

    def init(x, rng, c, data):
        yb = data["ybar_full"]
        st2 = (c["s_t"] / c["a_t"]) ** 2
        prior_var = v + st2 + 0.0 * noise2
        c_pot, a_pot = potential(yb, st2)
        later = st2 > noise2
        obs = bk.where(later, c_pot, yb)
        obs_var = bk.where(later, a_pot, noise2 - st2)  # (2'), or observed before t₀: |σ̃² − σ_i²|
        gain = prior_var / (prior_var + obs_var)
        mean = bk.where(seen, mbar + gain * (obs - mbar), mbar)
        var = bk.where(seen, gain * obs_var, prior_var)
        rng, z = bk.normal(rng, (x.shape[0], meas.D))
        u = mean + bk.sqrt(var) * z
        log_pred = bk.where(seen, _log_normal(bk, obs, mbar, prior_var + obs_var), 0.0)
        log_w = bk.per_particle_sum(log_pred + 0.0 * u) + constant(data)
        return {"x": c["a_t"] * svd.V(u)}, log_w, rng

    def step(state, rng, c, data):
        x = state["x"]
        x0, _ = prior.x0_and_eps(x, c["t"], c["a_t"], c["s_t"])
        yb = data["ybar_full"]
        st2, ss2 = (c["s_t"] / c["a_t"]) ** 2, (c["s_s"] / c["a_s"]) ** 2
        u, u0 = svd.Vt(x) / c["a_t"], svd.Vt(x0)
        rho = ss2 / st2
        mu, w2 = u0 + rho * (u - u0), ss2 * (1.0 - rho) + 0.0 * u
        before = seen & (ss2 > noise2)
        crossing = seen & (st2 > noise2) & (ss2 <= noise2)
        active = before | crossing
        c_t, a_t = potential(yb, st2)
        log_h = _log_normal(bk, u, c_t, bk.where(active, a_t, 1.0))  # (2') at t
        # (3): the Kalman step towards the potential at s
        c_s, a_s = potential(yb, ss2)
        v_s = bk.where(before, a_s, 1.0)
        gain = w2 / (w2 + v_s)
        mean_a, var_a = mu + gain * (c_s - mu), gain * v_s
        pred_a = _log_normal(bk, c_s, mu, w2 + v_s)
        # (4): the pseudo-observation ū_τ = ȳ within the step, then the bridge from it to s
        r2 = bk.where(ss2 > 0.0, 0.0 * st2, v * st2 / (v + st2))
        rho_tau = noise2 / st2
        v_tau = bk.where(crossing, noise2 * (1.0 - rho_tau) + (1.0 - rho_tau) ** 2 * r2, 1.0)
        mu_tau = u0 + rho_tau * (u - u0)
        pred_b = _log_normal(bk, yb, mu_tau, v_tau)
        g = (1.0 - rho_tau) * r2 / v_tau  # x₀ | ū_τ = ȳ, when x₀ | x_t ~ N(x̂₀, r²) (the last step)
        x0c, r2c = u0 + g * (yb - mu_tau), r2 * (1.0 - g * (1.0 - rho_tau))
        rho_s = ss2 / bk.where(noise2 > 0.0, noise2, 1.0)  # σ̃_s²/σ_i² (0 when noiseless: then s = 0)
        mean_b = x0c + rho_s * (yb - x0c)
        var_b = (1.0 - rho_s) ** 2 * r2c + ss2 * (1.0 - rho_s)
        # (5) elsewhere
        mean = bk.where(before, mean_a, bk.where(crossing, mean_b, mu))
        var = bk.where(before, var_a, bk.where(crossing, var_b, w2))
        rng, z = bk.normal(rng, tuple(u.shape))
        u_s = mean + bk.sqrt(bk.where(var > 0.0, var, 0.0 * var)) * z
        incr = bk.where(before, pred_a - log_h, bk.where(crossing, pred_b - log_h, 0.0 * u))
        info = {"residual": residual_norm(bk, meas, x0, data), **finite_checks(x, x0)}
        return {"x": c["a_s"] * svd.V(u_s)}, bk.per_particle_sum(incr), rng, info

    return init, step


def run(problem, key, settings: dict, *, method: str, progress: bool):
    post = run_particle_reverse(problem, key, settings, method=method, progress=progress,
                                make_particle_step=make_particle_step, calls_per_step=1, ess_threshold=None)
    meas = problem.inverse.measurement
    if meas.sigma == 0.0:
        bk, svd = problem.inverse.backend, meas.svd
        y = np.asarray(bk.to_numpy(meas.y), np.float64)
        inside = np.asarray(bk.to_numpy(svd.U(svd.Ut(meas.y[None]))[0]), np.float64)
        gap = float(np.linalg.norm(y - inside))
        if gap > 1e-4 * (1.0 + float(np.linalg.norm(y))):
            post.warnings.append(f"the noiseless data are not in the range of the operator (‖y − UUᵀy‖ = {gap:.3g}): "
                                 "no x gives y = A(x) exactly; mcgdiff conditions on the projection UUᵀy, and its "
                                 "evidence ignores the rest\ntry: a noise scale above 0")
    return post
