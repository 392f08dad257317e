# posteriordb: low_dim_gauss_mix-low_dim_gauss_mix (stan-dev/posteriordb, BSD-3).
# Two-component Gaussian mixture:
#   y[n] ~ theta * N(mu[1], sigma[1]) + (1 - theta) * N(mu[2], sigma[2]),
#   mu ordered, mu ~ N(0, 2),  sigma[k] > 0 ~ N(0, 2),  theta ~ Beta(5, 5).
model low_dim_gauss_mix
data  y : real[N]
param mu : ordered(2)
param sigma : positive[2]
param theta : unit

mu ~ normal(0, 2)
sigma ~ normal(0, 2)
theta ~ beta(5, 5)
y ~ mixture([theta, 1 - theta], normal(mu, sigma))

infer by nuts(warmup = 500, samples = 1000, chains = 4)
