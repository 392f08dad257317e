data y : real[4]
param a : real[3]
a ~ normal(0, 1)
y ~ normal(concat([a, 0.0]), 1)
