# A noisy AR(1) with unknown coefficient and innovation scale.  SMC² runs a particle filter
# for each of its parameter particles, so it gives the parameters' posterior and the log
# evidence in one pass over the data.
model ar1_noisy
data  y : real[T]
param x : real[T]
param a : unit
param s : positive

a ~ beta(2, 2)
s ~ normal(0, 1)
x[0] ~ normal(0, 1)
for t in range(1, T) { x[t] ~ normal(a * x[t - 1], s) }
for t in range(T)    { y[t] ~ normal(x[t], 1.0) }

infer by smc2(particles = 500, state_particles = 100)
