data y : real[16, 16]
param x : real[16, 16]
op A = blur(gaussian_kernel(size = 5, std = 1.0))
x ~ normal(0, 1)
y ~ A(x)
