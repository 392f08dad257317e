"""The flat unconstrained view particle methods move (compiler/unconstrained.py): its log prior is
the *normalized* prior density of the unconstrained coordinates (Jacobians, truncation
normalizers, `flat()` volumes and the sphere's radius included), which evidence estimates need.
Checked by quadrature (the density integrates to 1) and against scipy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

import augury
from augury.compiler.problem import problem_for
from augury.model import precision_scope


def _unconstrained(src: str, data: dict):
    m = augury.compile(src)
    with precision_scope("float64"):
        low, _ = m.bind(data, precision="float64", with_prior=True)
        return problem_for("smc", low).unconstrained


ONE_D = {
    "truncated normal on positive": "param s : positive\ns ~ normal(1, 2)",
    "flat on an interval": "param s : real(lower = -1, upper = 2)\ns ~ flat()",
    "beta on unit": "param s : unit\ns ~ beta(2, 3)",
    "half-Cauchy": "param s : positive\ns ~ cauchy(0, 5)",
    "bounds within bounds": "param s : real(lower = 0, upper = 3)\ns ~ normal(1, 1)",
}


@pytest.mark.parametrize("prior", list(ONE_D))
def test_one_dimensional_log_prior_integrates_to_one(prior):
    src = "data y : real[N]\n" + ONE_D[prior] + "\ny ~ normal(s, 1)\n"
    u = _unconstrained(src, {"y": np.zeros(2)})
    assert u.dimension == 1
    with jax.enable_x64(True):
        z = jnp.linspace(-40, 40, 400001)
        dens = np.exp(np.asarray(jax.vmap(lambda v: u.log_prior(v[None]))(z)))
    # the trapezoid rule on a fine grid is accurate to far below 1e-4 for these smooth densities
    assert abs(np.trapezoid(dens, np.asarray(z)) - 1.0) < 1e-4


def test_sphere_auxiliary_density_integrates_to_one():
    src = "data y : real[N, 2]\nparam u : sphere(2)\nu ~ flat()\nfor n in range(N) { y[n] ~ normal(u, 1) }\n"
    u = _unconstrained(src, {"y": np.zeros((1, 2))})
    with jax.enable_x64(True):
        g = jnp.linspace(-9, 9, 1201)
        V = jnp.stack(jnp.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
        dens = np.exp(np.asarray(jax.vmap(u.log_prior)(V))).reshape(len(g), len(g))
    h = float(g[1] - g[0])
    assert abs(dens.sum() * h * h - 1.0) < 1e-4


@pytest.mark.slow
def test_log_prior_and_likelihood_match_scipy():
    src = """
data y : real[N]
param mu : real
param sigma : positive
param p : simplex(3)
mu ~ normal(0, 2)
sigma ~ normal(0, 1)
p ~ dirichlet([1.0, 2.0, 3.0])
y ~ normal(mu, sigma)
"""
    y = np.array([0.1, 0.5, -0.3])
    u = _unconstrained(src, {"y": y})
    assert u.dimension == 1 + 1 + 2
    with jax.enable_x64(True):
        for i in range(3):
            z = u.draw(jax.random.PRNGKey(i))
            v = {k: np.asarray(a) for k, a in u.constrain(z).items()}
            expected = (st.norm(0, 2).logpdf(v["mu"]) + st.halfnorm().logpdf(v["sigma"]) + np.log(v["sigma"])
                        + st.dirichlet([1, 2, 3]).logpdf(v["p"])
                        + float(biject_to(constraints.simplex).log_abs_det_jacobian(z[2:], jnp.asarray(v["p"]))))
            assert float(u.log_prior(z)) == pytest.approx(expected, rel=1e-10)
            assert float(u.log_likelihood(z)) == pytest.approx(st.norm(v["mu"], v["sigma"]).logpdf(y).sum(), rel=1e-10)
            assert set(u.sites(z)) == {"mu", "sigma", "p"}


@pytest.mark.slow
def test_draws_follow_the_prior():
    src = "data y : real[N]\nparam s : positive\nparam m : real\ns ~ normal(1, 2)\nm ~ normal(3, 0.5)\ny ~ normal(m, s)\n"
    u = _unconstrained(src, {"y": np.zeros(2)})
    n = 20000
    with jax.enable_x64(True):
        zs = jax.vmap(u.draw)(jax.random.split(jax.random.PRNGKey(7), n))
        v = jax.vmap(u.constrain)(zs)
    s = np.asarray(v["s"])
    exact = st.truncnorm((0 - 1) / 2, np.inf, loc=1, scale=2)
    # 5 standard errors: fails by chance with probability < 1e-6
    assert abs(s.mean() - exact.mean()) < 5 * exact.std() / np.sqrt(n)
    assert abs(np.asarray(v["m"]).mean() - 3) < 5 * 0.5 / np.sqrt(n)
