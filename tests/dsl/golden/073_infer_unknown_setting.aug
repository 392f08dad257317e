param mu : real
mu ~ normal(0, 1)
infer mu by nuts(sample = 100)
