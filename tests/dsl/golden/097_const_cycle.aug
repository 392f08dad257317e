const a = b + 1
const b = 2 * a
param x : real
x ~ normal(a, 1)
