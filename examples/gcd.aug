# Generalized category discovery: a Gaussian mixture with an unknown number of classes, some
# points labelled (`z` is -1 where unknown).  split_merge keeps the labels, finds the classes
# that no label names, and estimates how many there are.
model gcd
const Kmax = 30
data  X : real[N, D]
data  z : category(Kmax)[N] missing -1
param w : simplex(Kmax)
param mu : real[Kmax, D]
param Sigma : spd(D)[Kmax]

w ~ dirichlet_process(alpha = 1.0)
Sigma ~ inv_wishart(D + 2, eye(D))
for k in range(Kmax) { mu[k] ~ mvnormal(zeros(D), 10 * Sigma[k]) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])
}
infer by split_merge(sweeps = 400, warmup = 200, chains = 2)
