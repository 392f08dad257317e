"""Writes the mixture examples' data (the project's own simulations; seeds fixed):

- examples/gcd.json (and the true classes in gcd_truth.json): 600 points in 2-D from 6 Gaussian classes; classes 0–2 have 30 % of their
  points labelled, classes 3–5 none (new classes for `gcd.aug` to discover);
- examples/iris.json (and iris_truth.json): Fisher's iris measurements (150 × 4, from
  scikit-learn's copy), for `iris.aug`;
- examples/directions.json (and directions_truth.json): 400 unit vectors on the sphere in R^3 from 3 von Mises–Fisher
  components with concentrations 30, 60 and 120 (`directions.aug`).
"""

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent

rng = np.random.default_rng(20261201)
centers = np.array([[0, 0], [6, 0], [0, 6], [6, 6], [-6, 3], [3, -6]], float)
classes = np.repeat(np.arange(6), 100)
X = centers[classes] + rng.normal(size=(600, 2)) @ np.array([[1.0, 0.3], [0.0, 0.8]])
z = np.where((classes < 3) & (rng.uniform(size=600) < 0.3), classes, -1)
order = rng.permutation(600)
(HERE / "gcd.json").write_text(json.dumps({"X": np.round(X[order], 4).tolist(), "z": z[order].tolist()}) + "\n")
(HERE / "gcd_truth.json").write_text(json.dumps({"class": classes[order].tolist()}) + "\n")


def vmf_draws(mu, kappa, n):
    """Wood's (1994) sampler on S^2, where w = μᵀx has density ∝ exp(κw) on [−1, 1]."""
    u = rng.uniform(size=n)
    w = 1 + np.log(u + (1 - u) * np.exp(-2 * kappa)) / kappa
    v = rng.normal(size=(n, 3))
    v -= (v @ mu)[:, None] * mu
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return w[:, None] * mu + np.sqrt(1 - w ** 2)[:, None] * v


mus = np.array([[0, 0, 1], [1, 0, 0], [0, 0.6, -0.8]], float)
kappas = [30.0, 60.0, 120.0]
sizes = [150, 150, 100]
D = np.concatenate([vmf_draws(m, k, n) for m, k, n in zip(mus, kappas, sizes)])
D /= np.linalg.norm(D, axis=1, keepdims=True)
label = np.repeat(np.arange(3), sizes)
order = rng.permutation(len(D))
(HERE / "directions.json").write_text(json.dumps({"X": np.round(D[order], 6).tolist()}) + "\n")
(HERE / "directions_truth.json").write_text(json.dumps({"component": label[order].tolist()}) + "\n")

try:
    from sklearn.datasets import load_iris
except ImportError:  # the iris files are committed; only regenerating them needs scikit-learn
    load_iris = None
if load_iris is not None:
    iris = load_iris()
    (HERE / "iris.json").write_text(json.dumps({"X": iris.data.round(2).tolist()}) + "\n")
    (HERE / "iris_truth.json").write_text(json.dumps({"species": iris.target.tolist()}) + "\n")
