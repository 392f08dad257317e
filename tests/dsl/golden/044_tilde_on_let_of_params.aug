data y : real[N]
param mu : real
param sigma : positive
let eta = mu + 1
mu ~ normal(0, 1)
sigma ~ exponential(1)
eta ~ normal(0, 1)
y ~ normal(eta, sigma)
