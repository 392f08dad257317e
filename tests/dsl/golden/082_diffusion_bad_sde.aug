param x : real[1, 28, 28]
x ~ diffusion(net = "digits", sde = 0.1)
