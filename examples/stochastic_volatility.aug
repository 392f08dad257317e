# Stochastic volatility: the log-variance h[t] of daily returns follows an AR(1) around mu.
# A particle filter gives the filtering and smoothing distributions of h and the log evidence.
model stochastic_volatility
data  y : real[T]
param h : real[T]
const mu = -1.0
const rho = 0.95
const sigma = 0.2

h[0] ~ normal(mu, sigma / sqrt(1 - rho ** 2))
for t in range(1, T) { h[t] ~ normal(mu + rho * (h[t - 1] - mu), sigma) }
for t in range(T)    { y[t] ~ normal(0, exp(h[t] / 2)) }

infer h by particle_filter(particles = 2000, smoothing = "ffbs", paths = 200)
