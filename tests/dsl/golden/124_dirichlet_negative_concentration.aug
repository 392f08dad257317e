param w : simplex(3)
w ~ dirichlet([1, -1, 2])
