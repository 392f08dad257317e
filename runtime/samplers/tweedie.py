"""The posterior mean for pure denoising from one denoiser call (Tweedie's formula; Efron 2011,
"Tweedie's formula and selection bias", eq. 2.8; used with learned scores as Noise2Score, Kim &
Ye, NeurIPS 2021).

For y = x + σ_y n, the data *is* a noised sample of the prior at the time t* where the
process's noise-to-signal ratio σ_t / α_t equals σ_y: x_{t*} = α_{t*} y.  Then

    E[x | y] = E[x₀ | x_{t*}] = (x_{t*} + σ_{t*}² ∇log p_{t*}(x_{t*})) / α_{t*},

exactly (no approximation beyond the prior's score).  The result is one array, the posterior
mean, not draws (`particles` is 1).
"""

from __future__ import annotations

import math

import numpy as np

from augury.errors import AuguryInferenceError

from ..reverse import in_range, network_error
from .protocol import Draws

EQUAL_WEIGHTS = True  # one draw, the posterior mean: no weights that could collapse


def run(problem, key, settings, *, method, progress):
    inv = problem.inverse
    bk, prior, meas = inv.backend, inv.prior, inv.measurement
    sched = prior.schedule
    t = float(np.asarray(sched.t_of_log_snr(-2.0 * math.log(meas.sigma))))
    lo, hi = float(sched.t_min), float(sched.t_max)
    if not (lo <= t <= hi) or not math.isfinite(t):
        ratio = lambda u: float(np.asarray(sched.sigma(u) / sched.alpha(u)))  # noqa: E731
        raise AuguryInferenceError(
            f"the noise sd {meas.sigma:.3g} (in the network's units) is outside the prior's noise levels "
            f"[{ratio(lo):.3g}, {ratio(hi):.3g}]", notes=["tweedie denoises within the levels the prior was trained on"])
    a, s = float(np.asarray(sched.alpha(t))), float(np.asarray(sched.sigma(t)))
    with bk.no_grad():
        x0, _ = prior.x0_and_eps(a * meas.y[None], bk.scalar(t), bk.scalar(a), bk.scalar(s))
    u = np.asarray(bk.to_numpy(x0), np.float64)
    if inv.network and not in_range(u) and in_range(np.asarray(bk.to_numpy(meas.y))):
        raise network_error(inv, method, 0, 1, t, overflow=bool(np.all(np.isfinite(u))))
    x, bounded, warnings = inv.to_draws(u)
    return Draws({inv.name: x}, log_weights=np.zeros(1), warnings=warnings,
                 settings=dict(settings, particles=1, t=t, network_calls=1, prior=prior.description, **bounded))
