data y : real[T]
param x : real[T]
for t in range(T) { x[t] ~ normal(0, 1) }
y ~ normal(x[t], 1)
