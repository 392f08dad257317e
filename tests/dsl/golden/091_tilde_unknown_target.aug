data y : real[N]
param mu : real
mu ~ normal(0, 1)
yy ~ normal(mu, 1)
