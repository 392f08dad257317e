data x : real[4]
data y : real[4]
param a : real[3]
param sigma : positive
a ~ normal(0, 1)
sigma ~ exponential(1)
y ~ normal(a * x, sigma)
