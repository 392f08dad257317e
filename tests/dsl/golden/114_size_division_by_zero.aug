const K = 1/0
param mu : real[K]
mu ~ normal(0, 1)
