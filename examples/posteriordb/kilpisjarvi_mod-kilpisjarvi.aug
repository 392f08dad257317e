# posteriordb: kilpisjarvi_mod-kilpisjarvi (stan-dev/posteriordb, BSD-3).
# Linear trend of summer temperature at Kilpisjarvi:
#   y[n] ~ N(alpha + beta x[n], sigma),  alpha ~ N(pmualpha, psalpha),
#   beta ~ N(pmubeta, psbeta),  sigma > 0 flat.
model kilpisjarvi
data  x : real[N]
data  y : real[N]
data  pmualpha : real
data  psalpha : positive
data  pmubeta : real
data  psbeta : positive
param alpha : real
param beta : real
param sigma : positive

alpha ~ normal(pmualpha, psalpha)
beta ~ normal(pmubeta, psbeta)
sigma ~ flat()
y ~ normal(alpha + beta * x, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
