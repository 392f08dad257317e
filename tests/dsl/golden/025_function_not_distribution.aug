param rate : positive
rate ~ exp(1)
