# consts: {"Kmx": 5}
const Kmax = 30
param w : simplex(Kmax)
w ~ dirichlet(ones(Kmax))
