param mu : real
mu ~ normal(3000000000, 1)
