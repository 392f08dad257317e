data y : real[N]
param mu : real
param sigma : positive
mu ~ normal(0, 10)
y ~ normal(mu, sigma)
