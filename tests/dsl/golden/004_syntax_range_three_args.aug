data y : real[N]
for i in range(0, N, 2) { y[i] ~ normal(0, 1) }
