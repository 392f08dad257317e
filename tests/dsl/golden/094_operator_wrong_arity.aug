data y : real[8, 8]
data m : real[8, 8]
param x : real[8, 8]
op A = mask(m)
x ~ normal(0, 1)
y ~ normal(A(x, 2), 1)
