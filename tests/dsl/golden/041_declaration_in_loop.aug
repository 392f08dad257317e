data y : real[N]
for n in range(N) {
  param mu : real
  y[n] ~ normal(mu, 1)
}
