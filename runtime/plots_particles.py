"""The particle methods' figure: per step, the effective sample size with the resampling events
marked, the resamplings so far, and the method's own schedule (smc's temperature and move
acceptance, a filter's log-evidence increments, a diffusion sampler's residual), read from
`post.sample_stats` (every particle posterior's statistics are per step)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .figures import finish, pyplot

# per-step statistics drawn after the ESS: (key, title, axis label)
SCHEDULE = (("temperature", "temperature λ (0: prior, 1: posterior)", "λ"),
            ("acceptance_rate", "mean acceptance of the moves", "acceptance"),
            ("log_evidence_increment", "log-evidence increment", "Δ log Z"),
            ("residual", "residual ‖y − A(x̂₀)‖ (mean over particles)", "residual"))
STEP_LABEL = {"smc": "temperature step", "particle_filter": "time t", "smc2": "time t"}


def particle_count(post) -> int:
    """The number of particles the ESS is out of (the smoothing paths kept may be fewer)."""
    n = post.settings.get("particles")
    return int(n) if isinstance(n, (int, float, np.integer)) and n > 0 else post.num_samples


def particle_figure(post) -> Optional[object]:
    """ESS | resamplings so far | each schedule statistic, against the step; None when the
    posterior has no per-step ESS (not a particle method)."""
    st = post.sample_stats
    ess = np.asarray(st.get("ess", []), np.float64)
    if not post.is_weighted or ess.ndim != 1 or ess.size == 0:
        return None
    steps = np.arange(ess.size)
    resampled = np.asarray(st.get("resampled", np.zeros(ess.size)), bool).reshape(-1)[:ess.size]
    extra = [(k, title, label) for k, title, label in SCHEDULE if k in st and np.ndim(st[k]) == 1 and len(st[k]) == ess.size]
    plt = pyplot()
    fig, axes = plt.subplots(2 + len(extra), 1, figsize=(7, 1.9 * (2 + len(extra)) + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    n = particle_count(post)
    xlabel = STEP_LABEL.get(post.method, "reverse step")
    ax = axes[0]
    ax.plot(steps, ess, lw=1.0, label="ESS")
    ax.plot(steps[resampled], ess[resampled], "v", color="tab:red", ms=4, label="resampled at this step")
    ax.axhline(n, color="k", ls=":", lw=0.8, label=f"{n} particles")
    ax.set_ylabel("ESS")
    ax.set_ylim(0, n * 1.08)
    ax.set_title(f"effective sample size ({int(resampled.sum())} resamplings)", fontsize=8)
    ax.legend(fontsize=6, loc="best")
    ax = axes[1]
    ax.step(steps, np.cumsum(resampled), where="post", color="tab:red", lw=1.0)
    ax.set_ylabel("resamplings")
    ax.set_title("resampling events so far", fontsize=8)
    for ax, (k, title, label) in zip(axes[2:], extra):
        ax.plot(steps, np.asarray(st[k], np.float64), lw=1.0)
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=8)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.label_outer()
    fig.suptitle(f"particles: {post.method or 'weighted posterior'}, {n} particles, {ess.size} steps", fontsize=9)
    finish(fig)
    return fig
