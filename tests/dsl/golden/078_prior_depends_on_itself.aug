param x : real
x ~ normal(x, 1)
