data y : real[N]
param mu : real
mu ~ normal(0, 1)
y ~ normal(mu, 1)
y ~ student_t(3, mu, 1)
