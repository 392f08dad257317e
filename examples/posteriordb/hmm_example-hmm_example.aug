# posteriordb: hmm_example-hmm_example (stan-dev/posteriordb, BSD-3).
# Two-state hidden Markov model with Gaussian emissions:
#   z[1] uniform over the K states,  z[t] ~ Categorical(theta[z[t-1]]),
#   theta = (theta1, theta2) transition rows (simplexes, flat),
#   y[t] ~ N(mu[z[t]], 1),  mu positive and ordered,
#   mu[1] ~ N(3, 1),  mu[2] ~ N(10, 1).
# The state path z is summed out exactly by the forward algorithm.
model hmm_example
data  K : int
data  y : real[N]
param theta1 : simplex(K)
param theta2 : simplex(K)
param mu : positive_ordered(K)
param z : category(K)[N]
let   theta = stack([theta1, theta2])

theta1 ~ flat()
theta2 ~ flat()
mu ~ normal([3, 10], 1)
z[0] ~ categorical(ones(K) / K)
for t in range(1, N) { z[t] ~ categorical(theta[z[t - 1]]) }
for t in range(N) { y[t] ~ normal(mu[z[t]], 1) }

infer by nuts(warmup = 500, samples = 1000, chains = 4)
