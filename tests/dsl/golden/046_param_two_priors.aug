param mu : real
mu ~ normal(0, 10)
mu ~ cauchy(0, 1)
