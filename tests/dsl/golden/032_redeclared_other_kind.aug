data sigma : positive
param mu : real
param sigma : positive
mu ~ normal(0, sigma)
sigma ~ exponential(1)
