param x : real(lower = 1, upper = 0)
x ~ normal(0, 1)
