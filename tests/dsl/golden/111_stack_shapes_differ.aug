data y : real[2, 3]
param a : real[3]
param b : real[4]
a ~ normal(0, 1)
b ~ normal(0, 1)
y ~ normal(stack([a, b]), 1)
