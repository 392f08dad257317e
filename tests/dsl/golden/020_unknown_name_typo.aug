data y : real[J]
param theta : real[J]
theta ~ normal(0, 5)
y ~ normal(thetaa, 1)
