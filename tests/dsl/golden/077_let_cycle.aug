data y : real[N]
param mu : real
let a = b + mu
let b = exp(a)
mu ~ normal(0, 1)
y ~ normal(b, 1)
