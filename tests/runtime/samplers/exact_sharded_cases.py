"""Exact tests with N = 8 points, so that on 4 devices the points really are split 2 per device.
Only test_mixtures_four_devices.py runs this file, in a child with 4 forced host devices (its name
keeps pytest from collecting it on one device, where test_gibbs.py and test_split_merge.py hold
the same exact tests).  Blocked gibbs (labels drawn in parallel over the sharded points) with Dirichlet
weights, and split_merge with a DP, against the posterior over partitions by enumeration;
tolerances as in test_gibbs.py (5 batch-means standard errors, never below the i.i.d. error)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from augury.runtime.mixtures.problem import GaussianPrior, MixtureProblem, WeightPrior
from augury.runtime.mixtures.sharding import shard_points
from augury.runtime.samplers import gibbs, split_merge

sys.path.insert(0, str(Path(__file__).parents[1] / "mixtures"))
sys.path.insert(0, str(Path(__file__).parent))
import exact  # noqa: E402
from test_gibbs import _assert_frequency  # noqa: E402

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
X8 = np.array([-2.2, -1.7, -0.9, -0.2, 0.4, 1.1, 1.9, 2.4])[:, None]


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _problem(weights):
    K = weights.size
    return MixtureProblem(X=X8, labels=np.array([0, -1, -1, -1, -1, -1, -1, 1], np.int32), K=K, family="gaussian",
                          weights=weights, gaussian=GaussianPrior("known_cov", m0=np.zeros(1), S0=4 * np.eye(1),
                                                                  cov=np.tile(0.5 * np.eye(1), (K, 1, 1))))


def _compare(problem, res):
    parts, probs = exact.partition_posterior(problem)
    pmf = exact.num_blocks_pmf(parts, probs)
    co = exact.coclustering(parts, probs)
    z, blocks = res.draws["assignment"], res.stats["num_components"]
    for b in range(1, 9):
        _assert_frequency(blocks == b, pmf.get(b, 0.0), f"P(#components = {b})")
    for i in range(8):
        for j in range(i + 1, 8):
            _assert_frequency(z[..., i] == z[..., j], float(co[i, j]), f"P(z_{i} = z_{j})")


def test_the_points_are_split_over_every_device():
    x = shard_points(np.zeros((8, 1)))
    assert len(x.sharding.device_set) == jax.device_count()


@pytest.mark.slow
def test_blocked_gibbs_with_labels_matches_the_enumeration():
    prob = _problem(WeightPrior("dirichlet", 3, concentration=np.array([0.7, 1.0, 1.5])))
    res = gibbs.fit(prob, jax.random.PRNGKey(SEED), {"sweeps": 1500, "warmup": 100, "chains": 4, "collapsed": False})
    assert res.info["mode"] == "blocked"
    _compare(prob, res)


@pytest.mark.slow
def test_split_merge_with_labels_matches_the_enumeration():
    prob = _problem(WeightPrior("dp", 8, alpha=1.0))
    res = split_merge.fit(prob, jax.random.key(SEED), {"sweeps": 1500, "warmup": 100, "chains": 2})
    _compare(prob, res)
