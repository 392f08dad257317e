"""The score-SDE predictor–corrector for inverse problems (Song, Shen, Xing & Ermon, "Solving
inverse problems in medical imaging with score-based generative models", ICLR 2022,
Algorithm 1 with λ = 1; the corrector is Song et al. 2021, "Score-based generative modeling
through SDEs", Algorithm 5).

Each step t → s: a predictor (an ancestral step of the prior), then the measured part is
replaced by a noised copy of the data at s, and a Langevin corrector step.  In the SVD basis
of A the measured coordinates are Vᵀx with data ȳ_i = (Uᵀy)_i / s_i, which already carry the
noise σ_y / s_i; their copy at s is α_s ȳ + √(σ_s² − α_s² σ_y²/s_i²) z, noised up to the level
σ̃_s = σ_s/α_s and no further (noiseless data: α_s ȳ + σ_s z, the paper's).  Noiseless data
replace them at every step (the paper's λ = 1).  Noisy data replace coordinate i only while
they are no noisier than the current level, σ_y / s_i ≤ σ̃_s; below it the coordinate is
released to the prior's reverse process, which then draws it from p(x₀ | x_{σ̃} = ȳ), the exact
posterior for a Gaussian prior N(m, v I) (our extension, DDRM's rule with η_b = 1; replacing every
coordinate at every step amplifies a blur's small singular values without bound).

The corrector moves the null space of A only (the D − R unmeasured coordinates): the measured
ones either hold the data's copy (the paper replaces them again after the corrector) or are
released, and a Langevin step on the prior's score would pull those back to the prior,
forgetting the data (the more steps, the more).  Its step
size is Song et al.'s signal-to-noise rule 2 (snr ‖z‖ / ‖g‖)² with g the score's null-space
part, taken for the whole batch, as their code does, with ‖z‖² at its expectation D − R and
‖g‖² averaged over the chains: per chain, ‖g‖⁻² is heavy-tailed in a few dimensions (a chain
near the mode takes a huge step) and ‖z‖ correlates the step with its own noise, which made
the draws of a 4-element parameter several times too wide.  Two denoiser calls per step.
"""

from __future__ import annotations

from ..reverse import ddim_step, finite_checks, residual_norm, run_reverse


EQUAL_WEIGHTS = True  # independent chains with equal weights: the driver adds no weight-collapse warning


def make_step(inverse, settings: dict):
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    svd = meas.svd
    snr = float(settings["snr"])
    free = meas.D - meas.R  # the corrector's coordinates: the null space of A

    # σ_y / s_i on the measured coordinates (0 where noiseless; unused elsewhere)
    sy2 = bk.where(meas.measured, (meas.sigma / bk.where(meas.measured, meas.s_full, 1.0)) ** 2, 0.0)

    def consistent(x, ybar_s, c):
        # replaced while the data are no noisier than the current level: σ_y / s_i ≤ σ̃_s
        use = meas.measured & (sy2 <= (c["s_s"] / c["a_s"]) ** 2)
        return svd.V(bk.where(use, ybar_s, svd.Vt(x)))

    def step(x_t, rng, c, data):
        x0, eps = prior.x0_and_eps(x_t, c["t"], c["a_t"], c["s_t"])
        x, rng = ddim_step(bk, x0, eps, c, rng)
        rng, zy = bk.normal(rng, (x.shape[0], meas.D))
        # the data already carry noise σ_y/s_i: add only what brings them to the level σ̃_s (DDRM's η_b = 1)
        extra = c["s_s"] * c["s_s"] - c["a_s"] * c["a_s"] * sy2
        ybar_s = c["a_s"] * data["ybar_full"] + bk.sqrt(bk.where(extra > 0, extra, 0.0 * extra)) * zy
        x = consistent(x, ybar_s, c)
        # Langevin at s, skipped on the last step (s is the clean signal there)
        live = c["s_s"] > 0
        safe_s = bk.where(live, c["s_s"], 1.0)
        _, eps_s = prior.x0_and_eps(x, c["t_s"], c["a_s"], safe_s)
        score = -eps_s / safe_s
        # in the null space of A only (measured coordinates are the data's, or released to the predictor)
        g = bk.where(meas.measured, 0.0 * zy, svd.Vt(score))
        rng, z = bk.normal(rng, (x.shape[0], meas.D))
        z = bk.where(meas.measured, 0.0 * z, z)
        # one step size for the batch, the SNR rule with E‖z‖² = D − R over the chains' mean ‖g‖²
        h = 2 * snr * snr * free / (bk.per_particle_sum(g * g).mean() + 1e-30)
        moved = x + svd.V(h * g + (2 * h) ** 0.5 * z)
        x = bk.where(live, moved, x)
        return x, rng, {"residual": residual_norm(bk, meas, x0, data), **finite_checks(x_t, x0, eps_s)}

    return step


def run(problem, key, settings, *, method, progress):
    return run_reverse(problem, key, settings, method=method, progress=progress, make_step=make_step,
                       calls_per_step=2)
