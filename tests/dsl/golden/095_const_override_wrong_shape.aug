# consts: {"w0": [1, 2, 3]}
const w0 = 0.5
param x : real
x ~ normal(w0, 1)
