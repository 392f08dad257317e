# The same data without a slope: the evidence of this model against regression_evidence.aug's
# is the Bayes factor (run both with `augury run`; data in regression_evidence.json).
model regression_no_slope
data  x : real[N]
data  y : real[N]
param alpha : real
const noise = 0.3

alpha ~ normal(0, 2)
y ~ normal(alpha + 0 * x, noise)

infer by smc(particles = 2000)
