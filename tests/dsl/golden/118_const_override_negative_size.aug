# consts: {"K": -2}
const K = 3
param w : simplex(K)
w ~ dirichlet(ones(K))
