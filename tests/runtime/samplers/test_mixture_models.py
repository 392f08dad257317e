"""The four mixture methods from model files, end to end: the shipped examples, partial labels
with new classes discovered, relabelled summaries, `predict`, and the CLI.  (iris and wine
against `GaussianMixture` are in test_em_vi.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import augury

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))

FULL = """
const K = {K}
data X : real[N, D]
param w : simplex(K)
param mu : real[K, D]
param Sigma : spd(D)[K]
param z : category(K)[N]
w ~ {weights}
Sigma ~ inv_wishart(D + 2, {psi} * eye(D))
for k in range(K) {{ mu[k] ~ mvnormal(zeros(D), 100 * Sigma[k]) }}
for n in range(N) {{
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])
}}
"""


def _ari(a, b):
    from sklearn.metrics import adjusted_rand_score
    return adjusted_rand_score(a, b)


@pytest.mark.slow
def test_the_gcd_example_keeps_the_labels_and_finds_the_new_classes():
    from scipy.optimize import linear_sum_assignment
    m = augury.compile(EXAMPLES / "gcd.aug")
    data = json.loads((EXAMPLES / "gcd.json").read_text())
    truth = np.asarray(json.loads((EXAMPLES / "gcd_truth.json").read_text())["class"])
    post = m.sample(EXAMPLES / "gcd.json", seed=SEED, sweeps=60, warmup=40, chains=1)
    z = post.samples("z")
    labels = np.asarray(data["z"])
    seen = labels >= 0
    assert (z[:, seen] == labels[seen]).all()  # observed labels never move
    # six classes of 100 points; singletons of outlying points come and go under the DP posterior
    big = np.array([np.sum(np.bincount(d, minlength=30) >= 30) for d in z])
    assert np.median(big) == 6
    final = post.predict(np.asarray(data["X"]))
    table = np.zeros((30, 6))
    np.add.at(table, (final[~seen], truth[~seen]), 1)
    r, c = linear_sum_assignment(-table)
    acc = table[r, c].sum() / (~seen).sum()
    assert acc > 0.95
    new = truth >= 3
    assert np.mean([final[i] not in (0, 1, 2) for i in np.where(new)[0]]) > 0.95


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_gcd_example_ends_without_warnings(seed):
    # its chains agree on the number of components (split R-hat <= 1.05): with 64 single-point
    # moves per iteration instead of split_merge's default (512 here), seeds 1 and 4 warned
    post = augury.compile(EXAMPLES / "gcd.aug").sample(EXAMPLES / "gcd.json", seed=SEED + seed, progress=False)
    assert post.warnings == [], post.warnings
    assert post.settings["point_moves"] == 512


@pytest.mark.slow
def test_gibbs_summaries_are_relabelled_and_recover_the_means():
    rng = np.random.default_rng(SEED)
    centers = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    X = np.concatenate([rng.normal(size=(30, 2)) + c for c in centers])
    m = augury.compile(FULL.format(K=3, weights="dirichlet(ones(K))", psi=1.0))
    post = m.sample({"X": X}, method="gibbs", seed=SEED, sweeps=300, warmup=100, chains=2)
    mu = post.mean("mu")
    got = mu[np.argsort(mu[:, 0])]
    # the posterior sd of a mean of 30 unit-variance points is about 0.18; 5 sd
    np.testing.assert_allclose(got, centers[np.argsort(centers[:, 0])], atol=0.9)
    assert post.diagnostics["max_rhat"] < 1.1


@pytest.mark.slow
def test_the_directions_example_recovers_its_components():
    m = augury.compile(EXAMPLES / "directions.aug")
    truth = np.asarray(json.loads((EXAMPLES / "directions_truth.json").read_text())["component"])
    post = m.sample(EXAMPLES / "directions.json", seed=SEED)
    assert _ari(post.samples("z")[0], truth) > 0.95
    kappa = np.sort(post.samples("kappa")[0])
    # MAP concentrations of 100–150 points: relative sd about 1/sqrt(n) ≈ 10 %; 4 sd
    np.testing.assert_allclose(kappa, [30, 60, 120], rtol=0.4)


@pytest.mark.slow
def test_the_iris_example_finds_two_or_three_components():
    post = augury.compile(EXAMPLES / "iris.aug").sample(EXAMPLES / "iris.json", seed=SEED)
    big = (post.mean("w") > 0.05).sum()
    assert big in (2, 3, 4)
    truth = np.asarray(json.loads((EXAMPLES / "iris_truth.json").read_text())["species"])
    assert _ari(post.predict(np.asarray(json.loads((EXAMPLES / "iris.json").read_text())["X"])), truth) > 0.5


@pytest.mark.slow
def test_the_cli_runs_a_mixture_example():
    res = subprocess.run([sys.executable, "-m", "augury.cli", "run", str(EXAMPLES / "directions.aug"),
                          "--no-progress", "--no-files"], capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr
    assert "kappa" in res.stdout and "em" in res.stdout
