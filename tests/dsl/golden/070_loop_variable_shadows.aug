data y : real[N]
param n : real
n ~ normal(0, 1)
for n in range(N) { y[n] ~ normal(0, 1) }
