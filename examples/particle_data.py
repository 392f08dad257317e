"""Writes the data of the particle-method examples (the project's own, simulated; seeds fixed):

- regression_evidence.json: 30 points from y = 1 + 0.5 x + N(0, 0.3²) (for `smc`);
- stochastic_volatility.json: 200 returns of the stochastic-volatility model with μ = −1,
  ρ = 0.95, σ = 0.2 (for `particle_filter` and `pmmh`);
- ar1_noisy.json: 100 noisy observations of an AR(1) with a = 0.8, s = 0.6 (for `smc2`).
"""

import json
from pathlib import Path

import numpy as np

here = Path(__file__).parent

rng = np.random.default_rng(20261201)
x = np.linspace(-2, 2, 30)
y = 1 + 0.5 * x + 0.3 * rng.normal(size=30)
(here / "regression_evidence.json").write_text(json.dumps({"x": x.round(6).tolist(), "y": y.round(6).tolist()}) + "\n")

mu, rho, sigma, T = -1.0, 0.95, 0.2, 200
h = np.empty(T)
h[0] = mu + sigma / np.sqrt(1 - rho ** 2) * rng.normal()
for t in range(1, T):
    h[t] = mu + rho * (h[t - 1] - mu) + sigma * rng.normal()
r = np.exp(h / 2) * rng.normal(size=T)
(here / "stochastic_volatility.json").write_text(json.dumps({"y": r.round(6).tolist()}) + "\n")

T = 100
z = np.empty(T)
z[0] = rng.normal()
for t in range(1, T):
    z[t] = 0.8 * z[t - 1] + 0.6 * rng.normal()
obs = z + rng.normal(size=T)
(here / "ar1_noisy.json").write_text(json.dumps({"y": obs.round(6).tolist()}) + "\n")
