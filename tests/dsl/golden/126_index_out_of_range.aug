data y : real
param mu : real[3]
mu ~ normal(0, 1)
y ~ normal(mu[5], 1)
