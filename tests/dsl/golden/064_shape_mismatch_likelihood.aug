data y : real[5]
param mu : real[3]
mu ~ normal(0, 1)
y ~ normal(mu, 1)
