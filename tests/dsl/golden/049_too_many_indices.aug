data y : real[N]
param mu : real[N]
mu ~ normal(0, 1)
for i in range(N) {
  for j in range(N) { y[i, j] ~ normal(mu[i], 1) }
}
