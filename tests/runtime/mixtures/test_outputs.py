"""From a method's result to the model's draws: names and shapes, prototypes split into class
and within-class weights, relabelling against label switching, and `predict`."""

from __future__ import annotations

import numpy as np
import pytest

from augury.runtime.mixtures.outputs import mixture_draws, relabel_permutations
from augury.runtime.mixtures.problem import GaussianPrior, MixtureProblem, VMFPrior, WeightPrior
from augury.runtime.mixtures.result import MixtureResult
from augury.runtime.posterior import Posterior

SEED = int(__import__("os").environ.get("AUGURY_TEST_SEED", "0"))


def _gaussian_problem(labels, K=3, D=2):
    X = np.zeros((len(labels), D))
    return MixtureProblem(X, np.asarray(labels), K, "gaussian", WeightPrior("dirichlet", K, concentration=np.ones(K)),
                          gaussian=GaussianPrior("niw", np.zeros(D), kappa0=1.0, nu0=D + 2.0, Psi0=np.eye(D)),
                          names={"data": "X", "assignment": "z", "weights": "w", "means": "mu", "covariances": "S"},
                          shapes={"mu": (K, D), "S": (K, D, D), "w": (K,), "z": (len(labels),)})


def test_permutations_undo_a_known_label_switch_and_leave_pinned_components():
    rng = np.random.default_rng(SEED)
    ref = rng.integers(0, 4, size=50)
    perms = [rng.permutation(4) for _ in range(6)]
    z = np.stack([p[ref] for p in perms])  # draw s calls reference component k "p[k]"
    got = relabel_permutations(z, ref, 4)
    for s, p in enumerate(perms):
        np.testing.assert_array_equal(got[s][p], np.arange(4))
    pinned = np.array([True, False, False, False])
    got = relabel_permutations(z, ref, 4, pinned)
    assert (got[:, 0] == 0).all()


def test_mcmc_draws_are_relabelled_consistently_across_roles():
    rng = np.random.default_rng(SEED)
    N, K, D = 30, 3, 2
    truth = rng.integers(0, K, size=N)
    means = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    chains, draws = 2, 5
    z = np.empty((chains, draws, N), np.int32)
    mu = np.empty((chains, draws, K, D))
    w = np.empty((chains, draws, K))
    S = np.broadcast_to(np.eye(D), (chains, draws, K, D, D)).copy()
    for c in range(chains):
        for d in range(draws):
            p = rng.permutation(K)
            z[c, d] = p[truth]
            mu[c, d, p] = means
            w[c, d, p] = [0.2, 0.3, 0.5]
    res = MixtureResult({"assignment": z, "weights": w, "means": mu, "covariances": S}, chains=chains,
                        stats={"num_components": np.full((chains, draws), 3)})
    out = mixture_draws(_gaussian_problem(-np.ones(N, int)), res, "gibbs", {"sweeps": 5})
    ref = out.draws["z"][-1, -1]
    for c in range(chains):
        for d in range(draws):
            np.testing.assert_array_equal(out.draws["z"][c, d], ref)
            np.testing.assert_allclose(out.draws["mu"][c, d], out.draws["mu"][-1, -1])
            np.testing.assert_allclose(out.draws["w"][c, d], out.draws["w"][-1, -1])
    assert out.sample_stats["relabel"].shape == (chains, draws, K)
    # the responsibilities are the frequencies of the relabelled labels
    freq = np.stack([(out.draws["z"] == k).mean(axis=(0, 1)) for k in range(K)], axis=1)
    np.testing.assert_allclose(out.sample_stats["responsibilities"], freq)
    assert out.settings["mixture"]["family"] == "gaussian"


def test_prototypes_report_class_weights_within_weights_and_the_class_of_each_point():
    groups = np.array([0, 0, 1, 1])
    prob = MixtureProblem(np.zeros((3, 2)), np.array([-1, -1, -1]), 4, "vmf",
                          WeightPrior("dirichlet", 2, concentration=np.ones(2), groups=groups, within=np.ones(4)),
                          vmf=VMFPrior(np.array([1.0, 0.0]), kappa=5.0),
                          names={"data": "X", "assignment": "z", "weights": "w", "within": "v", "means": "mu"},
                          shapes={"mu": (2, 2, 2), "v": (2, 2), "w": (2,)})
    pi = np.array([[0.1, 0.3, 0.2, 0.4]])
    res = MixtureResult({"assignment": np.array([[0, 3, 2]]), "weights": pi, "means": np.ones((1, 4, 2))})
    out = mixture_draws(prob, res, "em", {})
    np.testing.assert_allclose(out.draws["w"], [[0.4, 0.6]])
    np.testing.assert_allclose(out.draws["v"], [[[0.25, 0.75], [1 / 3, 2 / 3]]])
    np.testing.assert_array_equal(out.draws["z"], [[0, 1, 1]])
    np.testing.assert_array_equal(out.draws["z_prototype"], [[0, 1, 0]])
    assert out.draws["mu"].shape == (1, 2, 2, 2)


def test_predict_gives_the_exact_responsibilities_of_one_draw():
    from scipy.stats import multivariate_normal as mvn
    K, D = 2, 2
    mu = np.array([[0.0, 0.0], [2.0, 1.0]])
    S = np.stack([np.eye(D), np.diag([2.0, 0.5])])
    w = np.array([0.3, 0.7])
    post = Posterior({"mu": mu[None], "S": S[None], "w": w[None], "z": np.zeros((1, 4), np.int32)}, method="em",
                     settings={"mixture": {"family": "gaussian", "K": K, "groups": None,
                                           "names": {"data": "X", "means": "mu", "covariances": "S", "weights": "w",
                                                     "assignment": "z"}}})
    Xn = np.array([[0.0, 0.1], [1.0, 1.0], [3.0, 1.0]])
    dens = np.stack([w[k] * mvn(mu[k], S[k]).pdf(Xn) for k in range(K)], axis=1)
    np.testing.assert_allclose(post.predict(Xn, proba=True), dens / dens.sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_array_equal(post.predict(Xn), (dens[:, 1] > dens[:, 0]).astype(int))
    from augury.errors import AuguryError
    with pytest.raises(AuguryError, match=r"shape \(M, 2\)"):
        post.predict(np.zeros((3, 3)))
    for empty in ([], np.zeros((0, 2))):  # no points is a user error (as scikit-learn's), not a shape (1, 0)
        with pytest.raises(AuguryError, match="at least one new point"):
            post.predict(empty)
    with pytest.raises(AuguryError, match="array of numbers"):
        post.predict([[0.0, 1.0], [2.0]])


def test_predict_refuses_a_posterior_that_is_not_a_mixture():
    from augury.errors import AuguryError
    post = Posterior({"mu": np.zeros((3,))}, method="nuts")
    with pytest.raises(AuguryError, match="mixture posteriors"):
        post.predict(np.zeros((2, 1)))
