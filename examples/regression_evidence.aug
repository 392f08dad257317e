# How much does the data support a slope?  Adaptive tempered SMC gives the log evidence
# log p(y) with its Monte Carlo sd; run `regression_evidence_flat.aug` (no slope) and compare.
model regression_evidence
data  x : real[N]
data  y : real[N]
param alpha : real
param beta : real
const noise = 0.3

alpha ~ normal(0, 2)
beta ~ normal(0, 2)
y ~ normal(alpha + beta * x, noise)

infer by smc(particles = 2000)
