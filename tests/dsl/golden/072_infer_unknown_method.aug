param mu : real
mu ~ normal(0, 1)
infer mu by nut(samples = 100)
