# posteriordb: garch-garch11 (stan-dev/posteriordb, BSD-3).
# GARCH(1, 1) volatility model:
#   sigma[1] = sigma1,  sigma[t]^2 = alpha0 + alpha1 (y[t-1] - mu)^2 + beta1 sigma[t-1]^2,
#   y[t] ~ N(mu, sigma[t]),  alpha0 > 0,  0 < alpha1 < 1,  0 < beta1 < 1 - alpha1, all flat.
model garch11
data  y : real[T]
data  sigma1 : positive
param mu : real
param alpha0 : positive
param alpha1 : unit
param beta1 : real(lower = 0, upper = 1 - alpha1)

mu ~ flat()
alpha0 ~ flat()
alpha1 ~ flat()
beta1 ~ flat()
let s[0] = sigma1
for t in range(1, T) {
  let s[t] = sqrt(alpha0 + alpha1 * (y[t - 1] - mu) ** 2 + beta1 * s[t - 1] ** 2)
}
y ~ normal(mu, s)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
