param x : reel[3]
x ~ normal(0, 1)
