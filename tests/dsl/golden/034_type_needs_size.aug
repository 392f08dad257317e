param w : simplex
w ~ dirichlet(ones(3))
