"""Two-mode problems with an exact answer, shared by the particle diffusion samplers' tests
(tds, mcgdiff, ensemble): a Gaussian-mixture prior on R⁴ with two well-separated components,
measured through a 2 × 4 matrix with Gaussian noise.  The posterior is a two-component
mixture whose weights, moments and log evidence are known in closed form
(`augury.oracle.gmm_posterior`).

- `NULL_SPACE` (the module's `DATA`, `exact`, `mode_weights`): the modes lie apart mostly in
  the matrix's null space (82% of the squared distance between the means), which the data see
  only through the other coordinates; posterior weights 0.311 / 0.689.
- `MEASURED`: the modes lie apart in the matrix's row space only; posterior weights 0.311 / 0.689
  again, from other data.

A method that moves the measured and unmeasured coordinates differently (mcgdiff) is much
harder pressed by the first (docs/diffusion.md, "What to expect").

A mode's weight in weighted draws is Σ_i W_i r_k(x_i), r_k(x) the posterior probability of
component k at x.  Its expectation under the exact posterior is the exact weight π_k, with no
misassignment bias: assigning each draw to its likelier component instead counts 0.345 for
0.311 on `MEASURED` (0.378 for 0.378 on `NULL_SPACE`, whose modes lie further apart).
"""

from __future__ import annotations

from dataclasses import dataclass

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

M = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, -0.5]])


@dataclass(frozen=True, eq=False)
class TwoModes:
    """SOURCE with prior component means ±`means[0]` and data `y`."""

    means: np.ndarray
    y: np.ndarray

    @property
    def data(self) -> dict:
        return {"y": self.y, "M": M, "means": self.means}

    def exact(self):
        """The exact posterior (`GMMPosterior`: weights, means, covs, log_evidence)."""
        return gmm_posterior(np.array([0.5, 0.5]), self.means, 0.25 * np.stack([np.eye(4)] * 2), M, self.y, 0.3)

    def mode_weights(self, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Each mode's posterior mass in weighted draws x (n, 4) with normalized weights (n,):
        Σ_i W_i r_k(x_i), with r_k the exact posterior's component probabilities."""
        post = self.exact()
        means, covs = np.asarray(post.means), np.asarray(post.covs)
        logp = []
        for k in range(2):
            d = x - means[k]
            prec = np.linalg.inv(covs[k])
            logp.append(-0.5 * np.einsum("ni,ij,nj->n", d, prec, d) - 0.5 * np.linalg.slogdet(covs[k])[1])
        logp = np.stack(logp, 1) + np.log(np.asarray(post.weights))
        resp = np.exp(logp - np.logaddexp(logp[:, :1], logp[:, 1:]))
        return np.asarray(weights) @ resp


NULL_SPACE = TwoModes(np.array([[1.5, -1.0, 0.5, 1.0], [-1.5, 1.0, -0.5, -1.0]]), np.array([-0.16, 0.4]))
MEASURED = TwoModes(np.array([[1.2, 0.6, 0.4, -0.2], [-1.2, -0.6, -0.4, 0.2]]), np.array([-0.1, -0.02]))

MEANS, Y, DATA = NULL_SPACE.means, NULL_SPACE.y, NULL_SPACE.data
exact, mode_weights = NULL_SPACE.exact, NULL_SPACE.mode_weights
