param mu : real
mu ~ normal(0, scal = 1)
