param S : real[D, D]
S ~ inv_wishart(D + 2, eye(D))
