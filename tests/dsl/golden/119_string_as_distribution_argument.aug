param mu : real
mu ~ normal("zero", 1)
