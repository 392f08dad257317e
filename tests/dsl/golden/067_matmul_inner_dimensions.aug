data X : real[N, 3]
data y : real[N]
param beta : real[4]
beta ~ normal(0, 1)
y ~ normal(X @ beta, 1)
