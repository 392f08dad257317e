"""Denoising diffusion restoration models (DDRM; Kawar, Elad, Ermon & Song, "Denoising
diffusion restoration models", NeurIPS 2022, eq. 7–8).

DDRM works in the SVD basis of the operator, A = U diag(s) Vᵀ.  With σ̃ = σ/α (the noise level
of x_t/α_t), x̄ = Vᵀ(x_t/α_t), the denoised x̄₀ = Vᵀ x̂₀(x_t), its noise direction
ε̄ = (x̄ − x̄₀)/σ̃_t, and the data ȳ_i = (Uᵀy)_i / s_i with noise σ_y / s_i, a step to the level
σ̃_s draws each coordinate independently (z ~ N(0, 1)):

- not measured (s_i = 0):              x̄₀ + σ̃_s (√(1 − η²) ε̄ + η z)
- measured, σ̃_s < σ_y / s_i:           x̄₀ + σ̃_s (√(1 − η²) (ȳ − x̄₀) / (σ_y/s_i) + η z)
- measured, σ̃_s ≥ σ_y / s_i:           (1 − η_b) x̄₀ + η_b ȳ + √(σ̃_s² − η_b² σ_y²/s_i²) z

and x_s = α_s V x̄_s.  η = `eta` (0.85 by default, the paper's), η_b = 1.
"""

from __future__ import annotations

import math

from ..reverse import finite_checks, residual_norm, run_reverse

ETA_B = 1.0

EQUAL_WEIGHTS = True  # independent chains with equal weights: the driver adds no weight-collapse warning


def make_step(inverse, settings: dict):
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    svd = meas.svd
    eta = float(settings["eta"])
    keep = math.sqrt(1.0 - eta * eta)
    # σ_y / s_i for the measured coordinates (1 elsewhere, unused there)
    sy = bk.where(meas.measured, meas.sigma / bk.where(meas.measured, meas.s_full, 1.0), 1.0)

    def step(x, rng, c, data):
        x0, _ = prior.x0_and_eps(x, c["t"], c["a_t"], c["s_t"])
        st, ss = c["s_t"] / c["a_t"], c["s_s"] / c["a_s"]
        xbar = svd.Vt(x / c["a_t"])
        x0bar = svd.Vt(x0)
        ebar = (xbar - x0bar) / st
        rng, z = bk.normal(rng, tuple(xbar.shape))
        unmeasured = x0bar + ss * (keep * ebar + eta * z)
        below = x0bar + ss * (keep * (data["ybar_full"] - x0bar) / sy + eta * z)
        above = (1 - ETA_B) * x0bar + ETA_B * data["ybar_full"] + \
            bk.sqrt(bk.where(ss * ss > ETA_B ** 2 * sy * sy, ss * ss - ETA_B ** 2 * sy * sy, 0.0 * sy)) * z
        measured = bk.where(ss < sy, below, above)
        xbar_s = bk.where(meas.measured, measured, unmeasured)
        info = {"residual": residual_norm(bk, meas, x0, data), **finite_checks(x, x0)}
        return c["a_s"] * svd.V(xbar_s), rng, info

    return step


def run(problem, key, settings, *, method, progress):
    return run_reverse(problem, key, settings, method=method, progress=progress, make_step=make_step)
