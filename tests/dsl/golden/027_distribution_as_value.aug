param mu : real
let m = normal(0, 1)
mu ~ normal(m, 1)
