param z : category(4)
z ~ poisson(2)
