# posteriordb: sblri-blr (stan-dev/posteriordb, BSD-3).
# Bayesian linear regression:
#   y ~ N(X beta, sigma),  beta[d] ~ N(0, 10),  sigma > 0 ~ N(0, 10).
model blr
data  X : real[N, D]
data  y : real[N]
param beta : real[D]
param sigma : positive

beta ~ normal(0, 10)
sigma ~ normal(0, 10)
y ~ normal(X @ beta, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
