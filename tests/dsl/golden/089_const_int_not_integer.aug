const K : int = 2.5
param w : simplex(K)
w ~ dirichlet(ones(K))
