"""The approximation-free weighted-particle ensemble (Chen, Ren, Min, Ying & Izzo, "Solving
inverse problems via diffusion-based priors: an approximation-free ensemble sampling
approach", arXiv:2506.03979, 2025).  The derivation, and why the representation here differs
from the one the paper and its issue state, is docs/ensemble.md.

Let p̂_τ be the law of the model's reverse process at reverse time τ (forward time t goes down
as τ goes up), μ(x) = −log p(y | x) up to its constant (‖y − A(x)‖²/2σ_y², or Σ_j (λ_j − y_j
log λ_j) with λ = A(x) for counts), and λ(τ) the tempering (λ ≡ 1 without it).  The weighted
particles represent

    Q(x, τ) ∝ p̂_τ(x) exp(−λ μ(x)),          the posterior at the end (t = 0, λ = 1),

and the mean of their weights is Z(τ) = ∫ p̂_τ exp(−λμ), p(y) / exp(log_norm) at the end.  With
the forward SDE dx = f x dt + g dw and s_θ = −ε̂/σ_t, the probability-flow velocity
H₀ = −f x + ½ g² s_θ moves p̂ (∂_τ p̂ = −∇·(p̂ H₀)), so u = p̂ e^{−λμ} obeys

    ∂_τ u = −∇·(u H₀) − u H₀·λ∇μ − λ' μ u.

Feynman–Kac: particles moved with drift b and noise V, their log-weights gaining c per unit τ,
represent u when −∇·(u b) + (V²/2)Δu + c u is that right side.  As ∇log u = s_θ − λ∇μ is known,
every drift b = H₀ + (V²/2)∇log u + δ (any V, any field δ) has c = −H₀·λ∇μ + ∇·δ + δ·∇log u
(− λ'μ): a Langevin move toward Q costs no weight, and δ moves mass the weights need not.  Here

- `variant = "sde"`: V = g, the model's reverse SDE with the guidance −(g²/2)λ∇μ, one network
  call per step; `variant = "ode"`: V = 0 and one unadjusted Langevin step at t_s targeting
  Q(·, t_s) (Song et al.'s SNR rule, `snr`), a second network call;
- with a Gaussian likelihood through an operator with an SVD ("spectral"), δ = −M H₀,
  M = V diag(w) Vᵀ, w_i = k_i / (k_i + 1/ρ_t²), k_i = λ s_i²/σ_y², ρ_t² = α_t² v + σ_t²: the
  coordinates the data pin down are not transported (their weight rate would grow with k_i),
  and the weight gains −tr(M ∂H₀) − (M H₀)·s_θ, tr(M ∂ε̂/∂x) a Hutchinson estimate with `probes`
  Rademacher probes (forward-mode derivatives of the network); every Langevin move integrates
  the Gaussian likelihood exactly (an Ornstein–Uhlenbeck step per coordinate of the V basis);
- otherwise (nonlinear operators, counts) δ = 0 and the likelihood's gradient (a VJP) is explicit.

A step t → t_s takes its coefficients at its start (x, t): the transport is the DDIM map
x ↦ α_s x̂₀ + σ_s ε̂ (the exponential integrator of the probability-flow ODE), whose weight,
−∫ H₀·λ∇μ, is taken exactly along the move, λ_old μ(x) − λ_new μ(x_moved); the anchoring's
rate is a left-point rule; the SDE's Langevin share is an Euler step of length g²Δ/2 in
Langevin time on the prior's score.

`likelihood_at = "rescaled"` (SVD only) takes μ at x / α_t: Q(x, τ) ∝ p̂_τ(x) exp(−λ μ(x/α_t)),
the `ve` path in x/α and the same posterior at t = 0, for priors far from the origin, where the
noised target favours the components whose shrunken means α_t m_k fit y.  The likelihood's
precision becomes k_i = λ s_i²/(α_t σ_y)² about α_t ȳ, and the anchored coordinates follow that
centre, δ = M(κ x − H₀) with κ = d log α/dτ, at the extra rate κ (tr M + (M x)·s_θ).

The start is exact: with the SVD the particles are drawn from N(a m, ρ² I) exp(−λ₀ μ), ρ² = a²v
+ s² (the reverse process's start), with the initial log weight log Z(0) in closed form;
otherwise from N(a m, ρ² I) with log weight −λ₀ μ (importance sampling).
"""

from __future__ import annotations

import numpy as np

from augury.errors import AuguryInferenceError

from ..particle_reverse import run_particle_reverse
from ..reverse import finite_checks, residual_norm


def has_spectral_form(meas) -> bool:
    """The closed forms (exact start, anchoring, exact likelihood moves) need a Gaussian likelihood with an SVD."""
    return meas.family == "normal" and meas.s_full is not None


def make_particle_step(inverse, settings: dict):
    """(init, step) of the ensemble for `inverse` (see the module docstring)."""
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    shape = tuple(inverse.shape)
    size = int(np.prod(shape))
    steps = int(settings["steps"])
    sde = str(settings.get("variant", "sde")) == "sde"
    tempered = str(settings.get("tempering", "none")) == "linear"
    rescaled = str(settings.get("likelihood_at", "noised")) == "rescaled"
    probes = int(settings.get("probes", 1))
    snr = float(settings.get("snr", 0.16))
    mean = bk.asarray(np.broadcast_to(0.0 if prior.mean is None else prior.mean, shape).copy())
    var = 1.0 if prior.var is None else float(prior.var)
    spectral = has_spectral_form(meas)
    svd = meas.svd
    if spectral:
        s2 = meas.s_full * meas.s_full

    def scale(a):
        # where the likelihood is taken: at x (the paper) or at x / α_t (likelihood_at = "rescaled")
        return a if rescaled else 1.0

    def mu(x, data, r):
        return -meas.log_likelihood(x / r, data)

    def grad_mu(x, data):
        # only without the SVD, where the likelihood is always at x (run refuses "rescaled" there)
        m, vjp = bk.value_and_vjp(lambda u: mu(u, data, 1.0), x)
        return vjp(0 * m + 1)[0]

    def lam(i):
        # tempering: λ = i / steps at grid point i (1 after the last step)
        return i / steps if tempered else 1.0

    def precision(lam_, r):
        # the likelihood's precision per coordinate of the V basis, k_i = λ s_i² / (r σ_y)², centred on r ȳ
        return lam_ * s2 / (r * meas.sigma) ** 2

    def init(x, rng, c, data):
        a, s = c["a_t"], c["s_t"]
        rho2 = a * a * var + s * s
        lam0, r = lam(c["i"]), scale(a)
        P = x.shape[0]
        if spectral:  # exact draws from N(a m, ρ² I)·exp(−λ₀ μ) and log Z(0), coordinate-wise in the V basis
            k = precision(lam0, r)
            m0 = a * svd.Vt(mean[None])  # (1, D)
            prec = k + 1.0 / rho2
            centre = (m0 / rho2 + k * r * data["ybar_full"]) / prec
            rng, z = bk.normal(rng, (P, meas.D))
            x = svd.V(centre + z / bk.sqrt(prec))
            d = r * data["ybar_full"] - m0
            log_z = bk.per_particle_sum(-0.5 * bk.log(1.0 + rho2 * k) - 0.5 * k * d * d / (1.0 + rho2 * k))
            outside = data["y"][None] - svd.U(svd.Ut(data["y"][None]))  # y's part off the range of A
            log_z = log_z - lam0 * bk.per_particle_sum(outside * outside) / (2 * meas.sigma ** 2)
            return {"x": x}, bk.per_particle_sum(0 * x) + log_z, rng
        rng, z = bk.normal(rng, (P,) + shape)
        x = a * mean[None] + bk.sqrt(rho2) * z
        return {"x": x}, -lam0 * mu(x, data, r), rng

    def denoise(x, c, rng):
        """(x̂₀, ε̂, the Hutchinson estimate of tr(M ∂ε̂/∂x) per particle or None, anchoring w or None, rng)."""
        eps_of = lambda u: prior.x0_and_eps(u, c["t"], c["a_t"], c["s_t"])[1]  # noqa: E731
        if not spectral:
            eps = eps_of(x)
            return (x - c["s_t"] * eps) / c["a_t"], eps, None, None, rng
        k = precision(lam(c["i"]), scale(c["a_t"]))
        w = k / (k + 1.0 / (c["a_t"] * c["a_t"] * var + c["s_t"] * c["s_t"]))
        root = bk.sqrt(w)
        trace = 0.0
        for _ in range(probes):
            rng, z = bk.normal(rng, (x.shape[0], meas.D))
            v = svd.V(root * ((z > 0) * 2.0 - 1.0))  # Rademacher in the V basis, scaled by √w
            eps, jv = bk.value_and_jvp(eps_of, x, v)
            trace = trace + bk.per_particle_sum(v * jv) / probes
        return (x - c["s_t"] * eps) / c["a_t"], eps, trace, w, rng

    def step(state, rng, c, data):
        x = state["x"]
        lam_old, lam_new = lam(c["i"]), lam(c["i"] + 1)
        x0, eps, trace, w, rng = denoise(x, c, rng)
        moved = c["a_s"] * x0 + c["s_s"] * eps  # the probability-flow (DDIM) step of the prior
        r_old, r_new = scale(c["a_t"]), scale(c["a_s"])
        if spectral:  # anchored: coordinates the data pin down are not transported (δ = −M H₀) ...
            xb = svd.Vt(x)
            moved_b = xb + (1 - w) * (svd.Vt(moved) - xb)
            if rescaled:  # ... or follow their likelihood's centre r ȳ: δ = M(κ x − H₀), κ = d log α/dτ
                grow = r_new / r_old
                moved_b = moved_b + w * (grow - 1) * xb
            moved = svd.V(moved_b)
            # the anchoring's rate −tr(M ∂H₀) − (M H₀)·s_θ at (x, t), with ∂H₀ = −f I − (g²/2σ_t) ∂ε̂/∂x
            dt = c["t"] - c["t_s"]
            score = svd.Vt(-eps / c["s_t"])
            velocity = -c["f"] * xb + 0.5 * c["g2"] * score
            extra = -dt * (-c["f"] * w.sum() - 0.5 * c["g2"] / c["s_t"] * trace
                           + bk.per_particle_sum(w * velocity * score))
            if rescaled:  # + κ (tr M + (M x)·s_θ) Δτ: the scaling's log-Jacobian exactly, its score term at (x, t)
                extra = extra + bk.log(1 + (grow - 1) * w).sum() + (grow - 1) * bk.per_particle_sum(w * xb * score)
        else:
            extra = 0.0
        # the transport's weight, exactly along the move: λ_old μ(x) − λ_new μ(moved) (tempering included)
        log_incr = lam_old * mu(x, data, r_old) - lam_new * mu(moved, data, r_new) + extra
        checks = [x0, eps]
        # the reverse SDE's Langevin share toward Q(·, t): length h = g²Δ/2 in Langevin time; rescaled, the
        # likelihood's centre taken where the transport put the anchored coordinates (α_s ȳ)
        if sde:
            rng, z = bk.normal(rng, tuple(x.shape))
            h = 0.5 * c["g2"] * (c["t"] - c["t_s"])
            prior_share = -h * eps / c["s_t"]
            if spectral:
                x = _langevin_exact(x, moved - x + prior_share, h, lam_old, r_new, z, data)
            else:
                x = moved + prior_share - h * lam_old * grad_mu(x, data) + bk.sqrt(2 * h) * z
        else:
            x, rng, eps_s = corrector(moved, rng, c, data, lam_new, r_new)
            checks.append(eps_s)
        return {"x": x}, log_incr, rng, {"residual": residual_norm(bk, meas, x0, data),
                                         **finite_checks(state["x"], *checks)}

    def _langevin_exact(x, d, h, lam_, r, z, data):
        """x + d and a Langevin move of length h toward exp(−λμ), the Gaussian likelihood integrated
        exactly per coordinate of the V basis (d, the prior's share, held fixed over the move):
        x̄ ← ȳ + e^{−hk}(x̄ − ȳ) + (1 − e^{−hk})/(hk) d̄ + √((1 − e^{−2hk})/k) z̄ (ȳ → r ȳ rescaled)."""
        k = precision(lam_, r)
        hk = h * k
        decay = bk.exp(-hk)
        tiny = hk < 1e-6  # the series where the closed forms lose their digits (and at k = 0)
        safe = bk.where(tiny, 1.0 + 0 * hk, hk)
        ratio = bk.where(tiny, 1.0 - 0.5 * hk, (1 - decay) / safe)
        spread = bk.where(tiny, 1.0 - hk, (1 - decay * decay) / (2 * safe))
        yb = r * data["ybar_full"]
        return svd.V(yb + decay * (svd.Vt(x) - yb) + ratio * svd.Vt(d) + bk.sqrt(2 * h * spread) * svd.Vt(z))

    def corrector(x, rng, c, data, lam_s, r_s):
        """One unadjusted Langevin step at t_s targeting Q(·, t_s) (no weight: Q is its invariant
        law), skipped on the last step, where t_s is the clean signal.  Song et al.'s SNR rule
        for the batch sets the length on the prior's score; a Gaussian likelihood with an SVD is
        integrated exactly, any other likelihood enters the rule and an Euler step."""
        live = c["s_s"] > 0
        if live is False:  # PyTorch knows it is the last step: no network call for a move not taken
            return x, rng, 0 * x
        safe_s = bk.where(live, c["s_s"], 1.0)
        _, eps_s = prior.x0_and_eps(x, c["t_s"], c["a_s"], safe_s)
        score = -eps_s / safe_s
        rng, z = bk.normal(rng, tuple(x.shape))
        if spectral:
            h = 2 * snr * snr * size / (bk.per_particle_sum(score * score).mean() + 1e-30)
            moved = _langevin_exact(x, h * score, h, lam_s, r_s, z, data)
        else:
            grad = score - lam_s * grad_mu(x, data)
            # h = 2 (snr ‖z‖ / ‖∇log Q‖)², ‖z‖² at its mean D and ‖∇log Q‖² at the particles' mean
            h = 2 * snr * snr * size / (bk.per_particle_sum(grad * grad).mean() + 1e-30)
            moved = x + h * grad + bk.sqrt(2 * h) * z
        return bk.where(live, moved, x), rng, eps_s

    return init, step


def run(problem, key, settings, *, method, progress):
    if settings.get("likelihood_at") == "rescaled" and not has_spectral_form(problem.inverse.measurement):
        # early on the likelihood at x / α_t has curvature ~ 1/(α_t σ_y)²: only the exact Gaussian moves stay stable
        raise AuguryInferenceError(
            '`ensemble`: likelihood_at = "rescaled" takes the likelihood at x / α_t, whose curvature grows as '
            "1/α_t² at high noise; only a Gaussian likelihood through a linear operator with an SVD has the exact "
            "moves that stay stable there, and this measurement has none",
            notes=['keep likelihood_at = "noised" (the default), with tempering = "linear" where the start collapses'])
    ode = str(settings.get("variant", "sde")) == "ode"
    return run_particle_reverse(problem, key, settings, method=method, progress=progress,
                                make_particle_step=make_particle_step, calls_per_step=2 if ode else 1,
                                ess_threshold=float(settings.get("ess_threshold", 0.5)))
