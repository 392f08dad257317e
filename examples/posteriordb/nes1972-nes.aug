# posteriordb: nes1972-nes (stan-dev/posteriordb, BSD-3).
# Party identification on ideology, race, age group, education, gender and income
# (National Election Study 1972, Gelman & Hill):
#   partyid7 ~ N(beta[1] + beta[2] real_ideo + beta[3] race_adj + beta[4] [age = 2]
#                + beta[5] [age = 3] + beta[6] [age = 4] + beta[7] educ1 + beta[8] gender
#                + beta[9] income, sigma),
#   beta flat,  sigma > 0 flat.
model nes
data  partyid7 : real[N]
data  real_ideo : real[N]
data  race_adj : real[N]
data  age_discrete : int[N]
data  educ1 : real[N]
data  gender : real[N]
data  income : real[N]
param beta : real[9]
param sigma : positive

beta ~ flat()
sigma ~ flat()
partyid7 ~ normal(beta[0] + beta[1] * real_ideo + beta[2] * race_adj + beta[3] * (age_discrete == 2)
                  + beta[4] * (age_discrete == 3) + beta[5] * (age_discrete == 4) + beta[6] * educ1
                  + beta[7] * gender + beta[8] * income, sigma)

infer by nuts(warmup = 500, samples = 1000, chains = 4)
