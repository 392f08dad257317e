param sigma : positive
sigma ~ gamma(2)
