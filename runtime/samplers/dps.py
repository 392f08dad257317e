"""Diffusion posterior sampling (DPS; Chung, Kim, Mccann, Klasky & Ye, "Diffusion posterior
sampling for general noisy inverse problems", ICLR 2023, Algorithm 1).

Each step is an ancestral (DDPM) step of the prior, followed by a gradient step on the
measurement error at the denoised estimate x̂₀(x_t) = E[x₀ | x_t] (Tweedie):

    x_s = DDPM(x_t, x̂₀(x_t)) − ζ ∇_{x_t} ‖y − A(x̂₀(x_t))‖,

i.e. ∇ log p(y | x_t) is approximated by ∇ log p(y | x₀ = x̂₀(x_t)), with the step ζ_i =
ζ / ‖y − A(x̂₀)‖ on the squared norm of Algorithm 1, which is ζ on the norm, as the authors'
code does.  The norm is taken per chain (their code takes it over the whole batch, which
couples the chains).  A may be nonlinear: the gradient is a VJP through A and the denoiser.
For Poisson counts, y ~ Poisson(A(x)), the norm is ‖y − A(x̂₀)‖_Λ with Λ_jj = 2 y_j, the
paper's Gaussian approximation (sec. 3.2; max(y_j, 1) here so that zero counts stay finite).
DPS is approximate: its draws are not the exact posterior even with the exact prior score.
"""

from __future__ import annotations

from ..reverse import ddim_step, finite_checks, per_particle, run_reverse


EQUAL_WEIGHTS = True  # independent chains with equal weights: the driver adds no weight-collapse warning


def make_step(inverse, settings: dict):
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    zeta = float(settings["zeta"])

    def step(x, rng, c, data):
        x0, vjp_den = bk.value_and_vjp(lambda v: prior.x0_and_eps(v, c["t"], c["a_t"], c["s_t"])[0], x)
        eps = (x - c["a_t"] * x0) / c["s_t"]
        ax0, vjp_op = bk.value_and_vjp(meas.maps.apply, x0)
        r = data["y"][None] - ax0
        wr = r if "weights" not in data else data["weights"][None] * r
        norm = bk.sqrt(bk.per_particle_sum(r * wr))
        # ∇_{x0} ‖y − A x0‖_Λ = −Jᵀ Λ⁻¹ r / ‖r‖_Λ
        (g0,) = vjp_op(-wr / per_particle(norm + 1e-30, r))
        (grad,) = vjp_den(g0)
        x_next, rng = ddim_step(bk, x0, eps, c, rng)
        return x_next - zeta * grad, rng, {"residual": norm.mean(), **finite_checks(x, x0)}

    return step


def run(problem, key, settings, *, method, progress):
    return run_reverse(problem, key, settings, method=method, progress=progress, make_step=make_step)
