data X : real[N, P]
data y : real[N]
param beta : real[P]
beta ~ normal(0, 1)
y ~ normal(X(beta), 1)
