# posteriordb: gp_pois_regr-gp_pois_regr (stan-dev/posteriordb, BSD-3).
# Poisson regression with a latent Gaussian process (non-centered):
#   f = chol(K(x; alpha, rho) + 1e-10 I) f_tilde,  K the exponentiated quadratic kernel,
#   k[n] ~ Poisson(exp(f[n])),  rho > 0 ~ Gamma(25, 4),  alpha > 0 ~ N(0, 2),  f_tilde ~ N(0, 1).
# Written as in posteriordb, with 1e-10 jitter: NUTS runs in float64 by default (precision "auto").
model gp_pois_regr
data  x : real[N]
data  k : int[N]
param rho : positive
param alpha : positive
param f_tilde : real[N]
let   f = cholesky(exp_quad_cov(x, alpha, rho) + 1e-10 * eye(N)) @ f_tilde

rho ~ gamma(25, 4)
alpha ~ normal(0, 2)
f_tilde ~ normal(0, 1)
k ~ poisson(exp(f))

infer by nuts(warmup = 500, samples = 1000, chains = 4)
