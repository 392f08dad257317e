data counts : real[N]
param rate : positive
rate ~ gamma(2, 1)
counts ~ poisson(rate)
