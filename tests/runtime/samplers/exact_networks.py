"""Exact "networks" for testing the network paths of the diffusion samplers: the ε-prediction
of a Gaussian prior N(m, v I) under vp(0.1, 20), written as a PyTorch module and as a JAX
function.  Under x_t = α x₀ + σ ε the noised prior is N(α m, (α² v + σ²) I), so
ε̂(x, t) = −σ ∇log p_t(x) = σ (x − α m) / (α² v + σ²) exactly."""

from __future__ import annotations

import math

import numpy as np

BETA_MIN, BETA_MAX = 0.1, 20.0


def vp_alpha_sigma(t, xp):
    b = BETA_MIN * t + (BETA_MAX - BETA_MIN) * t * t / 2
    alpha = xp.exp(-b / 2)
    return alpha, xp.sqrt(1 - alpha * alpha)


def jax_gaussian_eps(mean: np.ndarray, var: float):
    import jax.numpy as jnp
    m = jnp.asarray(mean, jnp.float32)

    def eps(x, t):
        a, s = vp_alpha_sigma(t, jnp)
        a, s = a.reshape((-1,) + (1,) * m.ndim), s.reshape((-1,) + (1,) * m.ndim)
        return s * (x - a * m) / (a * a * var + s * s)

    return eps


def torch_gaussian_eps(mean: np.ndarray, var: float):
    import torch

    class GaussianEps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mean = torch.nn.Parameter(torch.as_tensor(np.asarray(mean), dtype=torch.float32))
            self.register_buffer("var", torch.tensor(float(var)))

        def forward(self, x, t):
            a, s = vp_alpha_sigma(t, torch)
            shape = (-1,) + (1,) * self.mean.ndim
            a, s = a.reshape(shape), s.reshape(shape)
            return s * (x - a * self.mean) / (a * a * self.var + s * s)

    return GaussianEps()


def gaussian_posterior_moments(mean, var, keep, y, noise):
    """Exact posterior mean and sd of N(m, v I) under y = keep ⊙ x + noise n (a mask)."""
    prec = 1 / var + keep / noise ** 2
    return (mean / var + keep * y / noise ** 2) / prec, 1 / np.sqrt(prec)


_ = math


def masked_model(noise: float) -> str:
    """The network tests' model: a 4 × 4 parameter whose prior is the network bound as `unet`
    (vp(0.1, 20), ε-prediction), measured through `mask(keep)` with Gaussian noise `noise`."""
    return f"""
model net
data y : real[4, 4]
data keep : real[4, 4]
param x : real[4, 4]
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
op A = mask(keep)
y ~ normal(A(x), {noise})
"""


# the Gaussian-prior model the samplers' exactness tests share: x ~ N(m, 0.5 I) on R⁶, y = M x + 0.2 n
GAUSS = """
model gauss
data y : real[3]
data M : real[3, 6]
data m : real[6]
param x : real[6]
x ~ gaussian(m, 0.5)
op A = matrix(M)
y ~ normal(A(x), 0.2)
"""
