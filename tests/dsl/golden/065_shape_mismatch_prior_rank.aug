param theta : real
param mu : real[K]
mu ~ normal(0, 1)
theta ~ normal(mu, 1)
