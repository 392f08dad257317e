data N : int
const half = N / 2
data y : real[N]
param mu : real
mu ~ normal(half, 1)
y ~ normal(mu, 1)
