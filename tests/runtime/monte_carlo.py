"""Monte Carlo checks shared by test_distributions.py and test_draws.py: the seed, the
number of draws, keys, a compiled `draw`, and assertions on sample means, variances and
CDFs.  They allow 5 standard errors (|mean − exact| < 5 sd/√n), so each fails by chance
with probability < 1e-6; the seed can be changed with AUGURY_TEST_SEED to confirm a
result is not a property of one seed."""

from __future__ import annotations

import math
import os

import jax
import numpy as np

from augury.runtime.distributions import draw

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
N = 20000
Z = 5.0  # standard errors allowed


def key(i: int):
    return jax.random.fold_in(jax.random.PRNGKey(SEED), i)


def jdraw(dist, i: int, shape):
    """`draw` compiled once (one program per test rather than op-by-op dispatch)."""
    return jax.jit(lambda k: draw(dist, k, shape))(key(i))


def assert_mean(x, exact, sd=None, axis=0):
    """|mean − exact| < Z sd/√n, with the exact sd where known, else the sample's."""
    x = np.asarray(x, np.float64)
    n = x.shape[axis]
    sd = x.std(axis) if sd is None else np.asarray(sd, np.float64)
    err = np.abs(x.mean(axis) - exact)
    assert np.all(err < Z * sd / math.sqrt(n) + 1e-12), (x.mean(axis), exact, Z * sd / math.sqrt(n))


def assert_var(x, exact, axis=0):
    """|s² − σ²| < Z se, se² = (m₄ − s⁴)/n from the sample's fourth central moment."""
    x = np.asarray(x, np.float64)
    n, c = x.shape[axis], x - x.mean(axis, keepdims=True)
    m2, m4 = (c ** 2).mean(axis), (c ** 4).mean(axis)
    assert np.all(np.abs(m2 - exact) < Z * np.sqrt((m4 - m2 ** 2) / n)), (m2, exact)


def assert_cdf_at(x, q, p):
    """The fraction of draws ≤ q is p within Z binomial standard errors."""
    frac = np.mean(np.asarray(x) <= q)
    assert abs(frac - p) < Z * math.sqrt(p * (1 - p) / len(x)), (frac, p)

