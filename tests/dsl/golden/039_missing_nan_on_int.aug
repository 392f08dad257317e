data counts : int[N] missing nan
param rate : positive
rate ~ gamma(2, 1)
counts ~ poisson(rate)
