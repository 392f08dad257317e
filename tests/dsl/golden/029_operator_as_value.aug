data y : real[16, 16]
param x : real[16, 16]
op A = identity()
x ~ normal(0, 1)
y ~ normal(A, 0.1)
