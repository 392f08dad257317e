param data : real
data ~ normal(0, 1)
