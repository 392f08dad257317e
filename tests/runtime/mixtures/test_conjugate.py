"""The conjugate pieces every mixture method builds on, against independent closed forms:
the chain rule (Σ log p(x_i | x_<i) = log p(X)), scipy's densities, and Monte Carlo moments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as st

from augury.runtime.mixtures import conjugate as cj
from augury.runtime.mixtures.problem import GaussianPrior, VMFPrior, WeightPrior
from augury.runtime.mixtures import weights as wt

SEED = int(__import__("os").environ.get("AUGURY_TEST_SEED", "0"))


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _one(X):
    X = jnp.asarray(X)
    return cj.stats(X, jnp.ones((X.shape[0], 1), X.dtype))


def _chain(logpred, X):
    """Σ_i log p(x_i | x_<i) from a predictive taking the statistics of the earlier points."""
    total = 0.0
    for i in range(X.shape[0]):
        n, s1, s2 = _one(X[:i]) if i else (jnp.zeros(1), jnp.zeros((1, X.shape[1])), jnp.zeros((1, X.shape[1], X.shape[1])))
        total += float(logpred(n, s1, s2, jnp.asarray(X[i:i + 1]))[0, 0])
    return total


@pytest.mark.slow
def test_niw_marginal_is_the_product_of_its_predictives_and_the_predictive_is_scipys_t():
    rng = np.random.default_rng(SEED)
    d = 3
    A = rng.normal(size=(d, d))
    prior = GaussianPrior("niw", m0=rng.normal(size=d), kappa0=0.7, nu0=d + 2.5, Psi0=A @ A.T + np.eye(d))
    X = rng.normal(size=(6, d)) * 2
    n, s1, s2 = _one(X)
    marg = float(cj.niw_log_marginal(prior, n, s1, s2)[0])
    assert marg == pytest.approx(_chain(lambda n, s1, s2, x: cj.niw_log_predictive(prior, n, s1, s2, x), X), abs=1e-9)
    # the predictive of a new point given X against scipy's multivariate t
    kn, mn, nun, psin = cj.niw_posterior(prior, n, s1, s2)
    df = float(nun[0]) - d + 1
    ref = st.multivariate_t(loc=np.asarray(mn[0]), shape=np.asarray(psin[0]) * (float(kn[0]) + 1) / (float(kn[0]) * df),
                            df=df).logpdf(X[:2])
    got = np.asarray(cj.niw_log_predictive(prior, n, s1, s2, jnp.asarray(X[:2]))[:, 0])
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_known_covariance_marginal_is_the_joint_gaussian():
    rng = np.random.default_rng(SEED + 1)
    d, m = 2, 5
    B = rng.normal(size=(d, d))
    cov = B @ B.T + 0.5 * np.eye(d)
    S0 = np.diag([4.0, 2.0])
    prior = GaussianPrior("known_cov", m0=np.array([1.0, -1.0]), S0=S0, cov=cov[None])
    X = rng.normal(size=(m, d))
    n, s1, s2 = _one(X)
    got = float(cj.known_cov_log_marginal(prior, n, s1, s2, jnp.asarray(cov)[None])[0])
    joint_cov = np.kron(np.eye(m), cov) + np.kron(np.ones((m, m)), S0)
    ref = st.multivariate_normal(np.tile(prior.m0, m), joint_cov).logpdf(X.reshape(-1))
    assert got == pytest.approx(ref, abs=1e-9)
    chain = _chain(lambda n, s1, s2, x: cj.known_cov_log_predictive(prior, n, s1, jnp.asarray(cov)[None], x), X)
    assert chain == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("tau0", [0.0, 3.0])
def test_vmf_marginal_is_the_product_of_its_predictives(tau0):
    rng = np.random.default_rng(SEED + 2)
    d = 5
    X = rng.normal(size=(6, d)) + 2.0
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    m0 = np.ones(d) / np.sqrt(d)
    prior = VMFPrior(m0=m0, tau0=tau0, kappa=8.0)
    n, s1, _ = _one(X)
    marg = float(cj.vmf_log_marginal(prior, n, s1, 8.0)[0])
    chain = _chain(lambda n, s1, s2, x: cj.vmf_log_predictive(prior, n, s1, 8.0, x), X)
    assert marg == pytest.approx(chain, abs=1e-9)
    if tau0 == 0.0:  # one point under a uniform mean direction is uniform on the sphere
        one = float(cj.vmf_log_marginal(prior, jnp.ones(1), jnp.asarray(X[:1]), 8.0)[0])
        assert one == pytest.approx(-float(np.log(2) + d / 2 * np.log(np.pi) - __import__("math").lgamma(d / 2)), abs=1e-10)


@pytest.mark.slow
def test_inverse_wishart_draws_have_the_right_mean_and_the_niw_draws_the_right_mean():
    rng = np.random.default_rng(SEED + 3)
    d, K, n = 3, 2, 20000
    A = rng.normal(size=(d, d))
    psi = A @ A.T + np.eye(d)
    df = d + 4.0
    keys = jax.random.split(jax.random.PRNGKey(SEED), n)
    draws = jax.vmap(lambda k: cj.sample_inv_wishart(k, jnp.full(K, df), jnp.broadcast_to(jnp.asarray(psi), (K, d, d))))(keys)
    draws = np.asarray(draws)
    mean = psi / (df - d - 1)
    # the variance of an inverse-Wishart entry (Press 1982): used for a 5-sigma tolerance
    i, j = np.indices((d, d))
    var = ((df - d + 1) * psi[i, j] ** 2 + (df - d - 1) * psi[i, i] * psi[j, j]) / \
        ((df - d) * (df - d - 1) ** 2 * (df - d - 3))
    se = np.sqrt(var / n)
    assert np.all(np.abs(draws.mean(axis=0) - mean[None]) < 5 * se[None])


@pytest.mark.slow
def test_weights_dirichlet_and_stick_breaking_expectations_and_draws():
    key = jax.random.PRNGKey(SEED)
    counts = jnp.array([3.0, 0.0, 7.5, 1.0])
    dirichlet = WeightPrior("dirichlet", 4, concentration=np.full(4, 0.5))
    dp = WeightPrior("dp", 4, alpha=1.5)
    n = 40000
    for prior in (dirichlet, dp):
        draws = jax.vmap(lambda k: wt.sample_weights(prior, counts, k))(jax.random.split(key, n))
        draws = np.asarray(draws)
        np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-12)
        logs = np.log(np.maximum(draws, 1e-300))
        e = np.asarray(wt.expected_log_weights(prior, counts))
        se = logs.std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(logs.mean(axis=0) - e) < 5 * se + 1e-9), (prior.kind, logs.mean(axis=0), e)
    # the Dirichlet mode, and the collapsed predictive of the CRP
    np.testing.assert_allclose(np.asarray(wt.map_weights(dirichlet, counts)), np.array([2.5, 0, 7, 0.5]) / 10.0)
    crp = np.asarray(wt.collapsed_log_predictive(dp, counts))
    np.testing.assert_allclose(crp, np.log([3.0, 1.5, 7.5, 1.0]))


@pytest.mark.slow
def test_prototype_weights_factorize_into_class_and_within_class():
    prior = WeightPrior("dirichlet", 2, concentration=np.array([1.0, 2.0]), groups=np.array([0, 0, 1, 1, 1]),
                        within=np.full(5, 0.5))
    counts = jnp.array([2.0, 1.0, 0.0, 4.0, 1.0])
    got = np.asarray(wt.collapsed_log_predictive(prior, counts))
    ref = np.log([(3 + 1) * 2.5 / 4, (3 + 1) * 1.5 / 4, (5 + 2) * 0.5 / 6.5, (5 + 2) * 4.5 / 6.5, (5 + 2) * 1.5 / 6.5])
    np.testing.assert_allclose(got, ref)
    draws = np.asarray(jax.vmap(lambda k: wt.sample_weights(prior, counts, k))(jax.random.split(jax.random.PRNGKey(SEED), 20000)))
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-12)
    cls = draws[:, :2].sum(axis=1)  # class 0's weight ~ Beta(1 + 3, 2 + 5)
    assert abs(cls.mean() - 4 / 11) < 5 * np.sqrt(4 * 7 / (11 ** 2 * 12) / 20000)


def test_vmf_posterior_draws_have_the_mean_resultant_of_their_concentration():
    """E[mu] = A_D(|r|) r/|r| for mu ~ vMF(r/|r|, |r|), A_D = I_{D/2}/I_{D/2-1}."""
    from scipy.special import ive
    from augury.runtime.mixtures.problem import MixtureProblem
    d, n = 4, 20000
    X = np.array([[1.0, 0, 0, 0], [0.8, 0.6, 0, 0]])
    prior = VMFPrior(m0=np.array([0, 0, 1.0, 0]), tau0=1.0, kappa=2.0)
    prob = MixtureProblem(jnp.asarray(X), -np.ones(2, int), 1, "vmf", WeightPrior("fixed", 1, fixed=np.ones(1)), vmf=prior)
    nn, s1, s2 = _one(X)
    keys = jax.random.split(jax.random.PRNGKey(SEED), n)
    mu = np.asarray(jax.vmap(lambda k: cj.posterior_sample(prob, nn, s1, s2, k)["means"][0])(keys))
    r = 1.0 * prior.m0 + 2.0 * X.sum(axis=0)
    rn = np.linalg.norm(r)
    expected = ive(d / 2, rn) / ive(d / 2 - 1, rn) * r / rn
    se = mu.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(mu.mean(axis=0) - expected) < 5 * se + 1e-12)
