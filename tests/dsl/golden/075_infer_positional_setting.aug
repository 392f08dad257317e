param mu : real
mu ~ normal(0, 1)
infer by nuts(1000)
