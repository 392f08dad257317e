data y : real[N]
param x : real[N]
x ~ normal(0, 1)
y ~ normal(exp.T(x), 1)
