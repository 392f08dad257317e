param x : real
param x : positive
x ~ normal(0, 1)
