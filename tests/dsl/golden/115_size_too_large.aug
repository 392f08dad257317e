param mu : real[10**100]
mu ~ normal(0, 1)
