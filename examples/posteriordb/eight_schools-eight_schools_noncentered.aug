# posteriordb: eight_schools-eight_schools_noncentered (stan-dev/posteriordb, BSD-3).
# Eight schools (Rubin 1981), non-centered parameterization:
#   theta_trans[j] ~ N(0, 1),  theta = mu + tau * theta_trans,
#   y[j] ~ N(theta[j], sigma[j]),  mu ~ N(0, 5),  tau > 0 ~ Cauchy(0, 5).
# Data: /work/shared/posteriordb/eight_schools-eight_schools_noncentered.data.json (J, y, sigma).
model eight_schools_noncentered
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

infer by nuts(warmup = 500, samples = 1000, chains = 4)
