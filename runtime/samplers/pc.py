"""The score-SDE predictor–corrector for inverse problems (Song, Shen, Xing & Ermon, "Solving
inverse problems in medical imaging with score-based generative models", ICLR 2022,
Algorithm 1 with λ = 1; the corrector is Song et al. 2021, "Score-based generative modeling
through SDEs", Algorithm 5).

Each step t → s: a predictor (an ancestral step of the prior), then the measured part is
replaced by a freshly noised copy of the data at s, a Langevin corrector step with step size
2 (snr ‖z‖ / ‖∇log p_s‖)², and the replacement again.  In the SVD basis of A the measured
coordinates are Vᵀx with data ȳ_i = (Uᵀy)_i / s_i, and their noised copy at s is
α_s ȳ + σ_s z.  Noiseless data replace them at every step (the paper's λ = 1).  Noisy data,
whose coordinate i has noise σ_y / s_i (huge where s_i is small), replace it only while they
are no noisier than the current level, σ_y / s_i ≤ σ̃_s = σ_s/α_s, after which the prior takes
over (our extension, DDRM's rule; replacing every coordinate at every step amplifies a blur's
small singular values without bound).  Two denoiser calls per step.
"""

from __future__ import annotations

from ..reverse import ddim_step, per_particle, residual_norm, run_reverse


def make_step(inverse, settings: dict):
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    svd = meas.svd
    snr = float(settings["snr"])

    # σ_y / s_i on the measured coordinates (0 where noiseless; unused elsewhere)
    sy2 = bk.where(meas.measured, (meas.sigma / bk.where(meas.measured, meas.s_full, 1.0)) ** 2, 0.0)

    def consistent(x, ybar_s, c):
        # replaced while the data are no noisier than the current level: σ_y / s_i ≤ σ̃_s
        use = meas.measured & (sy2 <= (c["s_s"] / c["a_s"]) ** 2)
        return svd.V(bk.where(use, ybar_s, svd.Vt(x)))

    def step(x, rng, c, data):
        x0, eps = prior.x0_and_eps(x, c["t"], c["a_t"], c["s_t"])
        x, rng = ddim_step(bk, x0, eps, c, rng)
        rng, zy = bk.normal(rng, (x.shape[0], meas.D))
        ybar_s = c["a_s"] * data["ybar_full"] + c["s_s"] * zy
        x = consistent(x, ybar_s, c)
        # Langevin at s, skipped on the last step (s is the clean signal there)
        live = c["s_s"] > 0
        safe_s = bk.where(live, c["s_s"], 1.0)
        _, eps_s = prior.x0_and_eps(x, c["t_s"], c["a_s"], safe_s)
        score = -eps_s / safe_s
        rng, z = bk.normal(rng, tuple(x.shape))
        g = bk.sqrt(bk.per_particle_sum(score * score))
        n = bk.sqrt(bk.per_particle_sum(z * z))
        step_size = 2 * (snr * n / (g + 1e-30)) ** 2
        h = per_particle(step_size, x)
        moved = consistent(x + h * score + bk.sqrt(2 * h) * z, ybar_s, c)
        x = bk.where(live, moved, x)
        return x, rng, {"residual": residual_norm(bk, meas, x0, data)}

    return step


def run(problem, key, settings, *, method, progress):
    return run_reverse(problem, key, settings, method=method, progress=progress, make_step=make_step,
                       calls_per_step=2)
