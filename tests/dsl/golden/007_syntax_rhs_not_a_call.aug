param x : real
x ~ 3
