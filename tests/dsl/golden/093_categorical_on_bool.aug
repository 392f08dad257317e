data y : bool[N]
param w : simplex(2)
w ~ dirichlet(ones(2))
y ~ categorical(w)
