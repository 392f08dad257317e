data y : real[8, 8]
param x : real[8, 8]
op blur = identity()
x ~ normal(0, 1)
y ~ normal(blur(x), 1)
