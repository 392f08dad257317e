"""Dimension names from declarations (compiler/dims.py) and what ArviZ gets from them."""

import numpy as np

import augury
from augury.compiler.dims import declared_dims, observed_names

SRC = """
data y : real[N]
data X : real[N, D]
data w0 : real[3]
param beta : real[D]
param Sigma : spd(D)[K]
param p : simplex(K)
param s : positive
param m : real[2]
y ~ normal(X @ beta, s)
beta ~ normal(0, 1)
s ~ exponential(1)
m ~ normal(0, 1)
Sigma ~ inv_wishart(D + 2, eye(D))
p ~ dirichlet(ones(K))
"""


def test_size_names_become_dims():
    st = augury.compile(SRC).structure
    dims = declared_dims(st, ["y", "X", "w0", "beta", "Sigma", "p", "s", "m"])
    assert dims == {"y": ("N",), "X": ("N", "D"), "beta": ("D",), "Sigma": ("K", "D", "D_2"), "p": ("K",)}
    assert observed_names(st) == ["y"]


def test_to_arviz_has_observed_data_and_the_models_dims():
    model = augury.compile("data y : real[N]\ndata x : real[N]\nparam b : real[2]\nparam s : positive\n"
                           "b ~ normal(0, 1)\ns ~ exponential(1)\ny ~ normal(b[0] + b[1] * x, s)\n")
    x = np.linspace(-1, 1, 7)
    post = model.sample({"y": 2 * x, "x": x}, chains=1, warmup=50, samples=50, seed=0)
    idata = post.to_arviz()
    assert "observed_data" in idata.groups()
    assert idata.observed_data["y"].dims == ("N",)
    np.testing.assert_allclose(idata.observed_data["y"].values, 2 * x)
    assert idata.posterior["b"].dims == ("chain", "draw", "b_dim_0")  # a literal size: ArviZ's default name
