data y : real[3]
param mu : real
mu ~ normal(0, 1)
y ~ normal([mu, mu, mu), 1)
