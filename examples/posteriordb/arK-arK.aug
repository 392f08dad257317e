# posteriordb: arK-arK (stan-dev/posteriordb, BSD-3).
# Autoregressive model of order K (K = 5 in the data):
#   y[t] ~ N(alpha + sum_{k=1..K} beta[k] * y[t-k], sigma)  for t > K,
#   alpha ~ N(0, 10),  beta[k] ~ N(0, 10),  sigma > 0 ~ Cauchy(0, 2.5).
# beta[0] here (Stan's beta[1]) multiplies the lag-1 value y[t - 1]:
# y[t - 1 - arange(K)] is (y[t-1], y[t-2], ..., y[t-K]).
model arK
data  K : int
data  T : int
data  y : real[T]
param alpha : real
param beta : real[K]
param sigma : positive

alpha ~ normal(0, 10)
beta ~ normal(0, 10)
sigma ~ cauchy(0, 2.5)
for t in range(K, T) {
  y[t] ~ normal(alpha + dot(beta, y[t - 1 - arange(K)]), sigma)
}

infer by nuts(warmup = 500, samples = 1000, chains = 4)
