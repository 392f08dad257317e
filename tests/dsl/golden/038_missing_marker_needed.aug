data X : real[N]
data z : category(K)[N] missing
param mu : real[K]
mu ~ normal(0, 10)
for n in range(N) { X[n] ~ normal(mu[z[n]], 1) }
