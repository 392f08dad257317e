data y : real[N]
param x : real[N]
x ~ normal(0, 1)
y ~ normal(f(x)(x), 1)
