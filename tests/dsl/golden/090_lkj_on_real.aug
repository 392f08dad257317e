param L : real[D, D]
L ~ lkj_cholesky(D, 2.0)
