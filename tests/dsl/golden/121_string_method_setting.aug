param mu : real
mu ~ normal(0, 1)
infer by nuts(samples = "1000")
