param mu : positive_ordered(2)
mu[0] ~ normal(3, 1)
mu[2] ~ normal(10, 1)
