param mu : real
mu ~ normal(0, 1e400)
