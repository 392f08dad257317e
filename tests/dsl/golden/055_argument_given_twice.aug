param mu : real
mu ~ normal(0, 1, loc = 2)
