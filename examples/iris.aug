# Fisher's iris as a Gaussian mixture with full covariances and a Dirichlet-process prior
# truncated at 10 components: variational Bayes (what scikit-learn's BayesianGaussianMixture
# does) finds how many components the data support.
model iris
const Kmax = 10
data  X : real[N, D]
param w : simplex(Kmax)
param mu : real[Kmax, D]
param Sigma : spd(D)[Kmax]
param z : category(Kmax)[N]

w ~ dirichlet_process(alpha = 1.0)
Sigma ~ inv_wishart(D + 2, 0.1 * eye(D))
for k in range(Kmax) { mu[k] ~ mvnormal(full(D, 3.5), 10 * Sigma[k]) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])
}
infer by vi()
