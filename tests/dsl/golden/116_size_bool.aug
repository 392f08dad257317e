param mu : real[true]
mu ~ normal(0, 1)
