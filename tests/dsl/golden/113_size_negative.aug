param mu : real[-3]
mu ~ normal(0, 1)
