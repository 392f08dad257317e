data y : real[N]
param mu : real
mu ~ normal(0, 1)
for n in range(N) {
  n ~ normal(mu, 1)
}
