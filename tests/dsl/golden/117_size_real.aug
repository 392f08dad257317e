param mu : real[2.5]
mu ~ normal(0, 1)
