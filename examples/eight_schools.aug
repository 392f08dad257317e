# Eight schools (Rubin 1981), non-centered.
model eight_schools
data  y : real[J]
data  sigma : positive[J]
param mu : real
param tau : positive
param theta_trans : real[J]
let   theta = mu + tau * theta_trans

mu ~ normal(0, 5)
tau ~ cauchy(0, 5)
theta_trans ~ normal(0, 1)
y ~ normal(theta, sigma)

infer by nuts(warmup = 1000, samples = 1000, chains = 4)
