param x : real[D]
x ~ mvnormal(zeros(D))
