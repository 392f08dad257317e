# Deblurring a handwritten digit with the approximation-free weighted-particle ensemble
# (docs/ensemble.md) and the diffusion prior that ships with Augury: the digit is seen
# through a Gaussian blur (7 x 7, sd 1.5 pixels) with noise. The ensemble's weighted
# particles converge to the exact posterior as `particles` grows, and the run reports the
# log evidence log p(y) with its standard deviation.
model deblur_digits

data  y : real[8, 8]                        # the blurred, noisy digit
param x : real(lower = 0, upper = 1)[8, 8]  # the image, in [0, 1]
const noise = 0.05

x ~ diffusion(net = "digits")
op A = blur(gaussian_kernel(size = 7, std = 1.5))
y ~ normal(A(x), noise)

infer x by ensemble(particles = 256, steps = 200)
