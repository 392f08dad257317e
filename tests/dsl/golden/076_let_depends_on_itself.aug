data y : real[N]
param mu : real
let m = m + mu
mu ~ normal(0, 1)
y ~ normal(m, 1)
