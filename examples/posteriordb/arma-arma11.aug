# posteriordb: arma-arma11 (stan-dev/posteriordb, BSD-3).
# ARMA(1, 1):
#   nu[1] = mu + phi mu,  err[1] = y[1] - nu[1],
#   nu[t] = mu + phi y[t-1] + theta err[t-1],  err[t] = y[t] - nu[t],
#   err ~ N(0, sigma),  mu ~ N(0, 10),  -1 < phi < 1 ~ N(0, 2),
#   -1 < theta < 1 ~ N(0, 2),  sigma > 0 ~ Cauchy(0, 5).
model arma11
data  y : real[T]
param mu : real
param phi : real(lower = -1, upper = 1)
param theta : real(lower = -1, upper = 1)
param sigma : positive

mu ~ normal(0, 10)
phi ~ normal(0, 2)
theta ~ normal(0, 2)
sigma ~ cauchy(0, 5)
# err ~ N(0, sigma) with err = y - nu is written as y ~ N(nu, sigma) (unit Jacobian).
let nu[0] = mu + phi * mu
for t in range(1, T) {
  let nu[t] = mu + phi * y[t - 1] + theta * (y[t - 1] - nu[t - 1])
}
y ~ normal(nu, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
