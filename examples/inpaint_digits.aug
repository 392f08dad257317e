# Inpainting a handwritten digit with the diffusion prior that ships with Augury.
# The bottom three rows of an 8x8 digit are hidden; the rest is seen with noise.
# `augury run examples/inpaint_digits.aug` writes inpaint_digits.png (the measurement,
# the posterior mean and sd, and draws) and inpaint_digits_posterior.npz.
model inpaint_digits

data  y : real[8, 8]                        # the measurement (0 where hidden)
param x : real(lower = 0, upper = 1)[8, 8]  # the image, in [0, 1]; the prior's network works in [-1, 1]
const noise = 0.05

x ~ diffusion(net = "digits")               # its noise process and prediction come with the network
op A = mask(box_mask(top = 5, left = 0, height = 3, width = 8))
y ~ normal(A(x), noise)

infer x by ddrm(particles = 64, steps = 100)
