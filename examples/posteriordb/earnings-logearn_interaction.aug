# posteriordb: earnings-logearn_interaction (stan-dev/posteriordb, BSD-3).
# Log earnings on height, sex and their interaction (Gelman & Hill):
#   log(earn[n]) ~ N(beta[1] + beta[2] height[n] + beta[3] male[n]
#                    + beta[4] height[n] male[n], sigma),
#   beta flat,  sigma > 0 flat.
model logearn_interaction
data  earn : positive[N]
data  height : real[N]
data  male : real[N]
param beta : real[4]
param sigma : positive
let   log_earn = log(earn)

beta ~ flat()
sigma ~ flat()
log_earn ~ normal(beta[0] + beta[1] * height + beta[2] * male + beta[3] * height * male, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
