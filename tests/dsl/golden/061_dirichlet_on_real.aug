param w : real[K]
w ~ dirichlet(ones(K))
