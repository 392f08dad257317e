param x : real
x ~ uniform(2, 1)
