param mu : real
mu ~ normal(0, 1)
infer by nuts()
infer by smc(particles = 100)
