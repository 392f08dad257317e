data N : int
param x real[N]
