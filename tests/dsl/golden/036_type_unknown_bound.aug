param x : real(low = 0)
x ~ normal(0, 1)
