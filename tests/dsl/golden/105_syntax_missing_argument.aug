data y : real
param mu : real
mu ~ normal(0, 1)
y ~ normal(mu, )
