# posteriordb: mesquite-logmesquite_logvas (stan-dev/posteriordb, BSD-3).
# Log weight of mesquite bushes on log canopy volume, area, shape, height, density and group:
#   log(weight) ~ N(beta[1] + beta[2] log(diam1 diam2 canopy_height) + beta[3] log(diam1 diam2)
#                   + beta[4] log(diam1 / diam2) + beta[5] log(total_height)
#                   + beta[6] log(density) + beta[7] group, sigma),
#   beta flat,  sigma > 0 flat.
model logmesquite_logvas
data  weight : positive[N]
data  diam1 : positive[N]
data  diam2 : positive[N]
data  canopy_height : positive[N]
data  total_height : positive[N]
data  density : positive[N]
data  group : real[N]
param beta : real[7]
param sigma : positive
let   log_weight = log(weight)

beta ~ flat()
sigma ~ flat()
log_weight ~ normal(beta[0] + beta[1] * log(diam1 * diam2 * canopy_height) + beta[2] * log(diam1 * diam2)
                    + beta[3] * log(diam1 / diam2) + beta[4] * log(total_height) + beta[5] * log(density)
                    + beta[6] * group, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
