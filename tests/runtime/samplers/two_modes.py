"""A two-mode problem with an exact answer, shared by the particle diffusion samplers' tests
(tds, mcgdiff, ensemble): a Gaussian-mixture prior on R⁴ with two well-separated components,
measured through a 2 × 4 matrix with Gaussian noise.  The posterior is a two-component
mixture whose weights (about 0.33 / 0.67), moments and log evidence are known in closed form
(`augury.oracle.gmm_posterior`).  A draw belongs to the mode whose posterior component has
the larger density there (the modes are ~6 sd apart, so this misassigns almost nothing)."""

from __future__ import annotations

import numpy as np

from augury.oracle import gmm_posterior

SOURCE = """
model two_modes
data y : real[2]
data M : real[2, 4]
data means : real[2, 4]
param x : real[4]
x ~ gmm(weights = [0.5, 0.5], means = means, covs = 0.25)
op A = matrix(M)
y ~ normal(A(x), 0.3)
"""

MEANS = np.array([[1.5, -1.0, 0.5, 1.0], [-1.5, 1.0, -0.5, -1.0]])
M = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, -0.5]])
Y = np.array([-0.16, 0.4])
DATA = {"y": Y, "M": M, "means": MEANS}


def exact():
    """The exact posterior (`GMMPosterior`: weights, means, covs, log_evidence)."""
    return gmm_posterior(np.array([0.5, 0.5]), MEANS, 0.25 * np.stack([np.eye(4)] * 2), M, Y, 0.3)


def mode_weights(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The posterior mass of each mode in weighted draws x (n, 4) with normalized weights (n,)."""
    post = exact()
    means, covs = np.asarray(post.means), np.asarray(post.covs)
    logp = []
    for k in range(2):
        d = x - means[k]
        prec = np.linalg.inv(covs[k])
        logp.append(-0.5 * np.einsum("ni,ij,nj->n", d, prec, d) - 0.5 * np.linalg.slogdet(covs[k])[1])
    comp = np.argmax(np.stack(logp, 1), 1)
    return np.array([weights[comp == k].sum() for k in range(2)])
