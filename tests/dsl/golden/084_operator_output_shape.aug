model deblur
data  y : real[1, 28, 28]
param x : real[1, 32, 32]
op A = downsample(2)
x ~ normal(0, 1)
y ~ normal(A(x), 0.1)
