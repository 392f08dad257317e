param x : real
x ~ mvnormal(zeros(3), eye(3))
