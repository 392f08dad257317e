data y : real[N]
param w : simplex(2)
param mu : ordered(2)
w ~ dirichlet(ones(2))
mu ~ normal(0, 5)
y ~ mixture(w, mu)
