param sigma : positive
param x : real[sigma]
sigma ~ exponential(1)
x ~ normal(0, 1)
