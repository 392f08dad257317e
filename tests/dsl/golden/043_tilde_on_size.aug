data y : real[N]
param mu : real
mu ~ normal(0, 1)
N ~ poisson(10)
y ~ normal(mu, 1)
