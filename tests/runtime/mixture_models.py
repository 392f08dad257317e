"""The Gaussian mixture the run-time tests share (checkpoints, faults, four devices): K
components with unknown means and covariances under a normal–inverse-Wishart prior."""

GAUSSIAN_MIXTURE = """
const K = 3
data X : real[N, D]
param w : simplex(K)
param mu : real[K, D]
param Sigma : spd(D)[K]
param z : category(K)[N]
w ~ dirichlet(ones(K))
Sigma ~ inv_wishart(D + 2, eye(D))
for k in range(K) { mu[k] ~ mvnormal(zeros(D), 100 * Sigma[k]) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])
}
"""


def gaussian_mixture(K: int = 3, dirichlet_process: bool = False) -> str:
    """The model text with K components; a Dirichlet process (alpha = 1) truncated at K for the weights."""
    text = GAUSSIAN_MIXTURE.replace("const K = 3", f"const K = {K}")
    return text.replace("dirichlet(ones(K))", "dirichlet_process(alpha = 1.0)") if dirichlet_process else text
