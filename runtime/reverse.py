"""The reverse process every guidance sampler shares (dps, pigdm, ddrm, pc): the time grid
and its coefficients, the start (from noise, or by teleport), the loop with progress and
Ctrl-C, and the result as `Draws` with uniform weights.

A method supplies `make_step(inverse, settings) -> step`, where `step(x, rng, c, data) -> (x,
rng, info)` moves a batch of P particles (independent chains) from time t to the next time s; `c`
holds the step's scalars (below), computed once on the host, and `data` the measurement's
arrays (`Measurement.data`), so that on JAX one compiled program serves every step and
every measurement of the same model.  The last step goes to the clean signal (α_s = 1, σ_s = 0), so a run
makes `steps` denoiser calls per chain (two for `pc`, whose corrector needs its own).

The steps run in blocks (`block_size`): on JAX one compiled `lax.scan` per block, so no
step pays Python's dispatch; on PyTorch a Python loop.  The progress bar and Ctrl-C act
between blocks.

Each step's `info` also holds `finite_checks` of its denoiser calls, so that NaN draws are
blamed on the network when it returned NaN on finite inputs (`network_error`, at `net = ...`),
and on the guidance otherwise.  The final draws are projected onto the parameter's declared
bounds (`InverseProblem.to_draws`; docs/diffusion.md, "Bounds").

Coefficients of the step t → s (x_t = α_t x₀ + σ_t ε):
- `t`, `t_s`, `a_t`, `s_t`, `a_s`, `s_s` (t_s = 0 for the clean signal);
- `f`, `g2`: the forward SDE dx = f(x, t) dt + g(t) dw at t, f(x, t) = `f` · x and g² = `g2`
  (runtime/schedules.py), for the methods that integrate the reverse SDE (the ensemble);
- `anc` = σ_s √(1 − (α_t σ_s / (α_s σ_t))²): the standard deviation of x_s | x_t, x₀ (the DDPM
  posterior q(x_s | x_t, x₀); Ho et al. 2020, eq. 7, in continuous time), and
  `dir1` = √(σ_s² − anc²), the weight of ε̂ beside it.  A DDIM step (Song et al. 2021, "Denoising
  diffusion implicit models", eq. 12) with η is x_s = α_s x̂₀ + √(σ_s² − η² anc²) ε̂ + η anc z;
  η = 1, ancestral sampling, is `ddim_step` (DDRM takes its own η in the SVD basis).

Teleport (`teleport = f`): the first ⌊f · steps⌋ steps are skipped; the chains start at that
time from the closed-form posterior of a Gaussian approximation of the prior under the linear
measurement, noised to that time.  For analytic priors the approximation is the moment-matched
N(m, C) (the `gaussian` prior itself: then the start is exact), conditioned in the Kalman form;
for a network, N(m, v I) from its metadata, coordinate-wise in the SVD basis (precision
1/v + s_i²/σ_y², mean (m̄_i / v + s_i² ȳ_i / σ_y²) / precision).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from augury.errors import AuguryInferenceError

from . import checkpoints, interrupts
from .progress import progress_bar
from .samplers.protocol import Draws, Problem


def coefficients(schedule, steps: int) -> list[dict[str, float]]:
    """The scalars of each of the `steps` steps, on the host in float64 (see the module docstring)."""
    grid = np.asarray(schedule.grid(steps), np.float64)[:steps]
    alpha = np.asarray(schedule.alpha(grid), np.float64)
    sigma = np.asarray(schedule.sigma(grid), np.float64)
    # the forward SDE dx = f x dt + g dw at t (f(x, t) is linear in x for vp, ve and edm)
    f = np.asarray(schedule.drift(np.ones_like(grid), grid), np.float64)
    g2 = np.asarray(schedule.diffusion(grid), np.float64) ** 2
    out = []
    for i in range(steps):
        a_t, s_t = float(alpha[i]), float(sigma[i])
        t_s, a_s, s_s = (float(grid[i + 1]), float(alpha[i + 1]), float(sigma[i + 1])) if i + 1 < steps \
            else (0.0, 1.0, 0.0)
        ratio = (a_t * s_s) / (a_s * s_t)
        anc = s_s * math.sqrt(max(0.0, 1.0 - ratio * ratio))
        out.append({"t": float(grid[i]), "t_s": t_s, "a_t": a_t, "s_t": s_t, "a_s": a_s, "s_s": s_s, "anc": anc,
                    "dir1": math.sqrt(max(0.0, s_s * s_s - anc * anc)), "f": float(f[i]), "g2": float(g2[i])})
    return out


def ddim_step(backend, x0, eps, c: dict, rng):
    """x_s = α_s x̂₀ + dir1 ε̂ + anc z: the ancestral DDIM step (η = 1)."""
    rng, z = backend.normal(rng, tuple(x0.shape))
    return c["a_s"] * x0 + c["dir1"] * eps + c["anc"] * z, rng


def per_particle(v, like):
    """A (P,) vector shaped to broadcast against a (P, ...) batch."""
    return v.reshape((v.shape[0],) + (1,) * (like.ndim - 1))


def start_draw(inverse, particles: int, c: dict, teleport: bool, rng):
    """x at the first step's time: the noised prior (or its Gaussian approximation) or, with
    teleport, the noised closed-form posterior of that approximation."""
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    shape = (particles,) + tuple(inverse.shape)
    a, s = c["a_t"], c["s_t"]
    mean = 0.0 if prior.mean is None else prior.mean
    var = 1.0 if prior.var is None else prior.var
    if not teleport:
        rng, z = bk.normal(rng, shape)
        return bk.asarray(a * np.broadcast_to(mean, inverse.shape)) + math.sqrt(a * a * var + s * s) * z, rng
    if prior.mean is None or prior.var is None:
        raise AuguryInferenceError(
            "teleport needs a Gaussian approximation of the prior, and this network declares none",
            notes=["add `data_mean` and `data_var` (in the network's coordinates) to its weights file's metadata, "
                   "or set teleport = 0"])
    m = bk.asarray(np.broadcast_to(mean, inverse.shape))
    if prior.cov is not None and meas.family == "normal" and meas.maps.adjoint is not None:
        x0, rng = _gaussian_posterior_draw(inverse, particles, rng)
    elif meas.svd is not None:
        svd = meas.svd
        mbar = svd.Vt(m[None])
        rng, zc = bk.normal(rng, (particles, meas.D))
        if meas.sigma > 0:
            prec = 1.0 / var + meas.s_full * meas.s_full / meas.sigma ** 2
            post_mean = (mbar / var + meas.s_full * meas.s_full * meas.ybar_full / meas.sigma ** 2) / prec
            x0 = svd.V(post_mean + zc / bk.sqrt(prec))
        else:  # noiseless: the measured coordinates are the data's
            x0 = svd.V(bk.where(meas.measured, meas.ybar_full + 0 * zc, mbar + math.sqrt(var) * zc))
    else:  # no spectral form: the approximation's prior, noised
        rng, z0 = bk.normal(rng, shape)
        x0 = m[None] + math.sqrt(var) * z0
    rng, z = bk.normal(rng, shape)
    return a * x0 + s * z, rng


def _gaussian_posterior_draw(inverse, particles: int, rng):
    """Draws of x₀ from N(m, C) conditioned on y = A x + σ n, for a prior whose moment-matched
    covariance C is known (analytic priors: exact for `gaussian`), in the Kalman form on the
    host in float64: K = C Aᵀ (A C Aᵀ + σ² I)⁻¹, mean m + K (y − A m), covariance C − K A C."""
    bk, prior, meas = inverse.backend, inverse.prior, inverse.measurement
    d = prior.cov.shape[0]
    basis = bk.asarray(np.eye(d).reshape((d,) + tuple(inverse.shape)))
    A = np.asarray(bk.to_numpy(meas.maps.apply(basis)), np.float64).reshape(d, -1).T  # (M, D)
    y = np.asarray(bk.to_numpy(meas.y), np.float64).reshape(-1)
    m = np.broadcast_to(np.asarray(prior.mean, np.float64), inverse.shape).reshape(-1)
    C = np.asarray(prior.cov, np.float64)
    S = A @ C @ A.T + meas.sigma ** 2 * np.eye(A.shape[0])
    K = np.linalg.solve(S, A @ C).T
    mean = m + K @ (y - A @ m)
    cov = C - K @ A @ C
    cov = 0.5 * (cov + cov.T)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # a square root that tolerates a singular posterior
    rng, z = bk.normal(rng, (particles, d))
    x0 = mean + np.asarray(bk.to_numpy(z), np.float64) @ root.T
    return bk.asarray(x0.reshape((particles,) + tuple(inverse.shape))), rng


def skipped_steps(settings: dict, steps: int) -> int:
    """⌊teleport · steps⌋, the steps teleport skips; an error when that is all of them."""
    first = int(math.floor(float(settings.get("teleport", 0.0)) * steps))
    if first >= steps:
        raise AuguryInferenceError(f"teleport = {settings['teleport']} skips all {steps} steps",
                                   notes=["use a fraction below 1 - 1/steps"])
    return first


def run_reverse(problem: Problem, key, settings: dict, *, method: str, progress: bool,
                make_step: Callable, calls_per_step: int = 1) -> Draws:
    """Run `make_step`'s sampler over the grid (see the module docstring) and return the draws."""
    inv = problem.inverse
    bk = inv.backend
    steps, particles = int(settings["steps"]), int(settings["particles"])
    coeffs = coefficients(inv.prior.schedule, steps)
    first = skipped_steps(settings, steps)
    n = steps - first
    size = block_size(n)
    cache_key = (method, "reverse", size) + tuple(sorted((k, v) for k, v in settings.items() if k != "teleport"))
    run_block = problem.cache.get(cache_key)
    if run_block is None:
        run_block = problem.cache[cache_key] = bk.compile_steps(make_step(inv, settings), particles=particles)
    import jax
    k_start, k_run = jax.random.split(key)
    rng = bk.rng(k_run)
    with bk.no_grad():
        x, rng = start_draw(inv, particles, coeffs[first], first > 0, bk.rng(k_start))
    x, column, done, interrupted = run_blocks(bk, run_block, x, rng, coeffs, first, size, inv.measurement.data(),
                                              method=method, progress=progress)
    warnings = []
    if interrupted and done < steps:
        x = denoised_estimate(inv, x, coeffs[done])
        warnings.append(f"interrupted after {done - first} of {steps - first} steps: the draws are the denoised "
                        f"estimates E[x0 | x_t] at t = {coeffs[done]['t']:.3g}, not posterior draws")
    x_np = np.asarray(bk.to_numpy(x), np.float64)
    residual = column("residual")
    if not in_range(x_np) or network_fault(inv, column) is not None:  # the network's fault even if the draws recovered
        raise nonfinite_error(inv, method, column, first, coeffs, calls_per_step,
                              ["the guidance may be too strong for this noise level: "
                               + ("lower the step size zeta, or use more steps" if method == "dps" else "use more steps"),
                               "check that the data is in the range the prior expects"])
    x_model, bounded, bound_warnings = inv.to_draws(x_np)
    out_settings = dict(settings, network_calls=(steps - first) * calls_per_step, prior=inv.prior.description,
                        **bounded)
    return Draws({inv.name: x_model}, log_weights=np.zeros(particles), sample_stats={"residual": residual},
                 settings=out_settings, warnings=warnings + bound_warnings, interrupted=interrupted)


def run_blocks(bk, run_block, carry, rng, coeffs: list, first: int, size: int, data: dict, *, method: str,
               progress: bool):
    """Steps `first` … len(coeffs) − 1 in blocks of `size` compiled steps (`run_block(carry, rng,
    block, data)`), with the progress bar; Ctrl-C is taken between blocks.  Returns (carry, column,
    done, interrupted): `column(name)` concatenates that entry of the steps' infos as a float64
    vector, `done` is the first step not run."""
    steps, infos, interrupted, done = len(coeffs), [], False, first
    ck = checkpoints.current()
    # a torch.Generator is saved as its state tensor; a JAX key is an array already
    rng_state = (lambda: rng.get_state()) if hasattr(rng, "get_state") else (lambda: rng)
    resumed = ck.start("reverse") if ck is not None else None
    if resumed is not None:  # the carry and the key between blocks: the steps go on as if never stopped
        (carry, saved_rng), infos, done = resumed.state((carry, rng_state())), resumed.infos(), resumed.step
        if hasattr(rng, "set_state"):
            rng.set_state(saved_rng)
        else:
            rng = saved_rng
    with progress_bar(steps - first, desc=method, enabled=progress) as bar:
        bar.update(done - first)
        try:
            for b in range(done, steps, size):
                rows = coeffs[b:b + size]
                block = {k: np.array([r[k] for r in rows]) for k in rows[0]}
                carry, rng, info = run_block(carry, rng, block, data)
                bk.block(carry)
                infos.append(info)
                done = b + size
                bar.update(size)
                if ck is not None and ck.due(done - first):
                    ck.save(done, (carry, rng_state()), infos, total=steps, units=done - first)
                interrupts.check()  # Ctrl-C is taken here, between blocks
        except KeyboardInterrupt:
            interrupted = True
            if ck is not None:
                ck.save(done, (carry, rng_state()), infos, interrupted=True, total=steps, units=done - first)

    def column(k: str) -> np.ndarray:
        return np.concatenate([np.asarray(bk.to_numpy(i[k]), np.float64).reshape(-1) for i in infos]) \
            if infos else np.zeros(0)

    return carry, column, done, interrupted


def denoised_estimate(inv, x, row: dict):
    """E[x₀ | x_t] for the batch x at the step `row`'s time: what an interrupted run keeps."""
    c = {k: inv.backend.scalar(v) for k, v in row.items()}
    with inv.backend.no_grad():
        return inv.prior.x0_and_eps(x, c["t"], c["a_t"], c["s_t"])[0]


def in_range(x: np.ndarray) -> bool:
    """Every value finite and within ±OVERFLOW."""
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(x) <= OVERFLOW))


def network_fault(inv, column) -> int | None:
    """The (0-based, from the first step run) index of the first step whose denoiser output was
    NaN, infinite or past ±OVERFLOW while its input was not: the network's fault; else None."""
    x_in, net_out = np.isfinite(column("x_in")), np.isfinite(column("net_out"))
    bad = np.nonzero(~(x_in & net_out))[0]
    return int(bad[0]) if bad.size and x_in[bad[0]] and inv.network else None


def nonfinite_error(inv, method: str, column, first: int, coeffs: list, calls_per_step: int,
                    notes: list) -> AuguryInferenceError:
    """The error for NaN, infinity or overflow in the draws: the network's (`network_error`) when
    the first step whose state or denoiser output was not finite had finite inputs, else the
    sampler's (with the first step whose state went bad)."""
    steps = len(coeffs)
    fault = network_fault(inv, column)
    if fault is not None:
        k = first + fault
        overflow = bool(np.isfinite(column("net_nan"))[fault]) if column("net_nan").size else False
        return network_error(inv, method, k, steps, coeffs[k]["t"], coeffs[k]["t_s"] if calls_per_step > 1 else None,
                             overflow=overflow)
    bad = np.nonzero(~(np.isfinite(column("x_in")) & np.isfinite(column("net_out"))))[0]
    at = f" (first at step {first + int(bad[0]) + 1} of {steps})" if bad.size else ""
    return AuguryInferenceError(f"`{method}` produced NaN or infinity{at}", notes=notes)


def network_error(inv, method: str, step: int, steps: int, t: float, t_s=None,
                  overflow: bool = False) -> AuguryInferenceError:
    """The network returned NaN or infinity (or, `overflow`, a finite value past ±OVERFLOW) on
    finite inputs at (0-based) `step`, called at t (and, for pc's corrector, at the step's end
    t_s): its error, at `net = ...`, not the guidance's."""
    span, source = inv.network_site if inv.network_site is not None else (None, "")
    where = {"span": span, "source": source} if span is not None else {}
    times = f"t = {t:.4g}" + (f" and t = {t_s:.4g}" if t_s is not None else "")
    what = f"a value over {OVERFLOW:.0e} in magnitude (an overflowing score)" if overflow else "NaN or infinity"
    return AuguryInferenceError(
        f"{inv.network} produced {what} at step {step + 1} of {steps} of `{method}` ({times}), "
        "on finite inputs", notes=[f"the network's output is not {'bounded' if overflow else 'finite'} there: check "
                                   f"it on noised inputs at {times} (no step size of the sampler causes this)"], **where)


# a value past this overflows when squared in float32 (whose largest is 3.4e38): no data range,
# noised state or score of a working network comes near it
OVERFLOW = 1e18


def finite_checks(x_in, *outputs) -> dict:
    """A step's record of its denoiser calls (`info`): "x_in" is 0 when the chains' state was
    finite and within ±OVERFLOW, NaN otherwise, "net_out" the same for what the denoiser returned
    (0 / (|v| <= OVERFLOW) is NaN exactly where v is NaN, ±inf or past the bound, on JAX and
    PyTorch arrays alike), and "net_nan" NaN only where the output was NaN or ±inf (v · 0), which
    tells an overflow from a NaN."""
    def ok(v):
        return (0 / (abs(v) <= OVERFLOW)).sum()
    return {"x_in": ok(x_in), "net_out": sum(ok(o) for o in outputs), "net_nan": sum((o * 0).sum() for o in outputs)}


_MAX_BLOCK = 100  # steps per block at most: Ctrl-C is taken between blocks, so a long run still answers it soon


def block_size(n: int) -> int:
    """Steps per compiled block: the largest divisor of n up to min(n / 20, 100), so that one
    program serves every block, the progress bar moves at least twenty times and Ctrl-C (taken
    between blocks) waits for at most 100 network calls per particle."""
    cap = max(1, min(n // 20, _MAX_BLOCK))
    return max(d for d in range(1, cap + 1) if n % d == 0)


def residual_norm(backend, measurement, x0, data: dict):
    """Mean over particles of ‖y − A(x̂₀)‖, the per-step monitor (`post.sample_stats["residual"]`)."""
    r = measurement.residual(x0, data)
    return backend.sqrt(backend.per_particle_sum(r * r)).mean()
