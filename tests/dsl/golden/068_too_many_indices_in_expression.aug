data y : real[N]
param mu : real[N]
mu ~ normal(0, 1)
for n in range(N) { y[n] ~ normal(mu[n, 0], 1) }
