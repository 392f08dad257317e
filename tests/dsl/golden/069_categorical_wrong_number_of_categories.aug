param w : simplex(3)
param z : category(5)[N]
w ~ dirichlet(ones(3))
z ~ categorical(w)
