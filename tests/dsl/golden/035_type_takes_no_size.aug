param x : real(3)
x ~ normal(0, 1)
