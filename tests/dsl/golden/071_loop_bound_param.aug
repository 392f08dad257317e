data y : real[N]
param K : positive
K ~ exponential(1)
for k in range(K) { y[k] ~ normal(0, 1) }
