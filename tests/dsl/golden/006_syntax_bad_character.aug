param x : real
x ~ normal(0, 1) $
