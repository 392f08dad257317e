const a = 0.9
param x : real
a ~ normal(0, 1)
x ~ normal(a, 1)
