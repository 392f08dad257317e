"""What a mixture method's `fit` returns, before it becomes the model's named draws.

Draws are keyed by role, flat over the K components (the wiring in `outputs.py` gives them
the model's names and declared shapes):

- "assignment": int32 (…, N), the component of each point (observed labels included);
- "weights": (…, K), π (flat over components, prototypes included);
- "means": (…, K, D); "covariances": (…, K, D, D) (Gaussian, when the covariances are
  unknown); "concentration": (…, K) (vMF, when κ is unknown);

with leading axes (chains, draws) for MCMC (`chains` set) or (draws,) otherwise (EM: one
draw, the MAP; VI: draws from the fitted q).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class MixtureResult:
    draws: dict[str, np.ndarray]
    chains: Optional[int] = None
    # (N, K): p(z_n = k | data): the fitted responsibilities (em, vi) or the frequencies over
    # the kept draws (gibbs, split_merge)
    responsibilities: Optional[np.ndarray] = None
    # per draw ("num_components", "log_joint", …; same leading axes as the draws) and per run
    # ("elbo" or "log_posterior" traces, "split_accept", "merge_accept", …)
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    # scalars for the posterior's settings/diagnostics: iterations, converged, restarts' log posteriors …
    info: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
