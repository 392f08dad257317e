# Stochastic volatility with unknown mu, rho and sigma: particle marginal Metropolis-Hastings
# (a particle filter's likelihood estimate inside Metropolis-Hastings) samples them and h.
# A random walk on a noisy likelihood moves slowly: thousands of iterations per chain.
model stochastic_volatility_params
data  y : real[T]
param h : real[T]
param mu : real
param rho : real(lower = 0, upper = 1)
param sigma : positive

mu ~ normal(-1, 1)
rho ~ beta(20, 1.5)
sigma ~ normal(0, 0.5)
h[0] ~ normal(mu, sigma / sqrt(1 - rho ** 2))
for t in range(1, T) { h[t] ~ normal(mu + rho * (h[t - 1] - mu), sigma) }
for t in range(T)    { y[t] ~ normal(0, exp(h[t] / 2)) }

infer by pmmh(particles = 200, warmup = 2000, samples = 4000, chains = 4)
