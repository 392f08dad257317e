data y : real[T]
param x : real[T]
x ~ normal(0, 1)
for t in range(1, T) { x[t] ~ normal(x[t - 1], 0.5) }
y ~ normal(x, 1)
