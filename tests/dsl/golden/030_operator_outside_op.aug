data y : real[16, 16]
param x : real[16, 16]
let k = blur(uniform_kernel(3))
x ~ normal(0, 1)
y ~ normal(x, 0.1)
