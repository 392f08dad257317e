param z : category(3)[N]
z ~ normal(0, 1)
