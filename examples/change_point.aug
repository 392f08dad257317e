# A change point in a series of counts (coal-mining disasters style).
model change_point
data  y : int[T]
param early : positive
param late : positive
param s : int(lower = 0, upper = T)     # the first year of the late rate; summed out exactly
let   rate = where(arange(T) < s, early, late)

early ~ exponential(1)
late ~ exponential(1)
s ~ categorical(ones(T + 1) / (T + 1))
y ~ poisson(rate)
