# consts: {"K": 2.5}
const K = 3
param w : simplex(K)
w ~ dirichlet(ones(K))
