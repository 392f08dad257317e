data y : real[N, K]
param mu : real[K]
mu ~ normal(0, 1)
y ~ normal(mu, sum(mu, axes = 0))
