# posteriordb: kidiq-kidscore_momiq (stan-dev/posteriordb, BSD-3).
# Linear regression of a child's test score on the mother's IQ:
#   kid_score[n] ~ N(beta[1] + beta[2] * mom_iq[n], sigma),
#   beta flat,  sigma > 0 ~ Cauchy(0, 2.5).
# (Stan's 1-based beta[1], beta[2] are beta[0], beta[1] here.)
model kidscore_momiq
data  kid_score : real[N]
data  mom_iq : real[N]
param beta : real[2]
param sigma : positive

beta ~ flat()
sigma ~ cauchy(0, 2.5)
kid_score ~ normal(beta[0] + beta[1] * mom_iq, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
