param x : real
x ~ normal(loc = 0, loc = 1)
