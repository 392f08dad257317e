param x : real[1, 28, 28]
x ~ diffusion(net = "digits", predicts = "noise")
