data y : real[N]
param mu : real
mu ~ normal(0, 1)
y ~ normal("a" + mu, 1)
