"""Augury's `em` and `vi` (and `split_merge` with --with-split-merge) against scikit-learn's
GaussianMixture and BayesianGaussianMixture: N = 100,000 points in d = 10 from K = 10 components.

    python benchmarks/mixtures_vs_sklearn.py                  # 5 seeds, 2 threads
    python benchmarks/mixtures_vs_sklearn.py --seeds 1 --threads 4 --n 20000

Data (per seed, numpy default_rng(seed)): means ~ N(0, 5² I_d); covariances A Aᵀ/d + 0.5 I with
A ~ N(0, 1)^{d×d} (random SPD, eigenvalues roughly 0.5–4, so cluster sd ≈ 1–2 against mean
distances ≈ 5√2·√d ≈ 22: separable, yet not trivially: ~1% of the k-means++ starts merge two
clusters); weights ~ Dirichlet(5·1) so that cluster sizes differ; N points drawn from the mixture.

Every method gets the same threads: OMP/OpenBLAS/MKL threads and XLA's CPU intra-op threads are
set to --threads before numpy/JAX/scikit-learn are imported (oversubscription changes
scikit-learn's times several-fold). Augury runs in float64 like scikit-learn.

Augury's problem is built directly in Python: a NIW prior with weak hyperparameters
(m0 = data mean, κ0 = 0.01, ν0 = d + 2, Ψ0 = cov(X), so that E[Σ] = cov(X) a priori, with the weight of
a few points against thousands per cluster; scikit-learn's BayesianGaussianMixture defaults are
m0 = mean, κ0 = 1, ν0 = d, W0⁻¹ = cov(X)), and Dirichlet(1) weights.
Times: "time" is the second call (compiled); the first call's extra time is reported as
"compile". ARI (adjusted Rand index) of the MAP/most probable assignment against the truth.
"""

from __future__ import annotations

import argparse
import os
import sys


def _pin_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}").strip()


def _args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--restarts", type=int, default=1,
                    help="restarts of the `augury em` row (sklearn GaussianMixture: n_init=1); a second row "
                         "`augury em (default restarts)` runs em's default")
    ap.add_argument("--with-split-merge", action="store_true",
                    help="also run augury.runtime.samplers.split_merge.fit, when it exists")
    ap.add_argument("--skip-bgm", action="store_true", help="skip BayesianGaussianMixture (slow)")
    return ap.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None:
    _pin_threads(ARGS.threads)

import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_data(seed: int, n: int, d: int, k: int):
    """(X (n, d), z (n,)): the generator described in the module docstring."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 5.0, (k, d))
    A = rng.normal(size=(k, d, d))
    covs = A @ np.swapaxes(A, 1, 2) / d + 0.5 * np.eye(d)
    w = rng.dirichlet(np.full(k, 5.0))
    z = rng.choice(k, size=n, p=w)
    L = np.linalg.cholesky(covs)
    X = means[z] + np.einsum("nde,ne->nd", L[z], rng.normal(size=(n, d)))
    return X, z


def problem(X, k: int):
    from augury.runtime.mixtures.problem import GaussianPrior, MixtureProblem, WeightPrior
    d = X.shape[1]
    # weak NIW: E[Σ] = Ψ0/(ν0 − d − 1) = cov(X), worth ν0 = d + 2 points
    prior = GaussianPrior("niw", m0=X.mean(0), kappa0=0.01, nu0=d + 2.0, Psi0=np.cov(X.T))
    return MixtureProblem(X=X, labels=-np.ones(X.shape[0], np.int32), K=k, family="gaussian",
                          weights=WeightPrior("dirichlet", k, concentration=np.ones(k)), gaussian=prior)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run_augury(method: str, prob, seed: int, settings: dict):
    import jax
    from importlib import import_module
    fit = import_module(f"augury.runtime.samplers.{method}").fit
    key = jax.random.PRNGKey(seed)
    with jax.enable_x64(True):
        first, t_first = _timed(lambda: fit(prob, key, settings))
        out, t = _timed(lambda: fit(prob, key, settings))
    R = out.responsibilities
    z = np.argmax(R, axis=1) if R is not None else np.asarray(out.draws["assignment"]).reshape(-1, prob.N)[-1]
    return z, t, max(t_first - t, 0.0), bool(out.info.get("converged", True)), out


def main() -> None:
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
    from sklearn.exceptions import ConvergenceWarning

    a = ARGS
    print(f"threads: {a.threads} (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"XLA_FLAGS={os.environ['XLA_FLAGS']!r})")
    print(f"N = {a.n}, d = {a.d}, K = {a.k}, seeds 0..{a.seeds - 1}, em restarts = {a.restarts}\n")
    from augury.dsl.signatures import METHODS
    default_restarts = dict(METHODS["em"].defaults)["restarts"]
    em_default = f"augury em (restarts={default_restarts})"
    methods = ["augury em"] + ([em_default] if default_restarts != a.restarts else []) + ["augury vi"]
    if a.with_split_merge:
        try:
            from augury.runtime.samplers.split_merge import fit as _sm_fit  # noqa: F401
            methods.append("augury split_merge")
        except ImportError:
            print("(split_merge not available: skipped)")
    methods += ["sklearn GaussianMixture"] + ([] if a.skip_bgm else ["sklearn BayesianGaussianMixture"])
    rows = []
    for seed in range(a.seeds):
        X, z = make_data(seed, a.n, a.d, a.k)
        prob = problem(X, a.k)
        for m in methods:
            compile_s = float("nan")
            if m == "augury em":
                zh, t, compile_s, conv, _ = run_augury("em", prob, seed, {"restarts": a.restarts})
            elif m == em_default:
                zh, t, compile_s, conv, _ = run_augury("em", prob, seed, {"restarts": default_restarts})
            elif m == "augury vi":
                zh, t, compile_s, conv, _ = run_augury("vi", prob, seed, {"samples": 10})
            elif m == "augury split_merge":
                zh, t, compile_s, conv, _ = run_augury("split_merge", prob, seed, {})
            else:
                est = (GaussianMixture(a.k, random_state=seed) if m.endswith("GaussianMixture") and "Bayes" not in m
                       else BayesianGaussianMixture(n_components=a.k, max_iter=2000, random_state=seed))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    _, t = _timed(lambda: est.fit(X))
                zh, conv = est.predict(X), bool(est.converged_)
            ari = adjusted_rand_score(z, zh)
            rows.append((m, seed, t, compile_s, ari, conv))
            print(f"  {m:34s} seed {seed}: {t:7.2f} s  ARI {ari:.4f}  converged {conv}", flush=True)
    print("\n| method | seed | time (s) | compile (s) | ARI | converged |\n|---|---|---|---|---|---|")
    for m, seed, t, c, ari, conv in rows:
        print(f"| {m} | {seed} | {t:.2f} | {'' if c != c else f'{c:.1f}'} | {ari:.4f} | {conv} |")
    print("\nsummary (over seeds)\n| method | median time (s) | total time (s) | min ARI | all converged |\n"
          "|---|---|---|---|---|")
    summ, total = {}, {}
    for m in methods:
        ts = [r[2] for r in rows if r[0] == m]
        summ[m], total[m] = float(np.median(ts)), float(np.sum(ts))
        print(f"| {m} | {summ[m]:.2f} | {total[m]:.2f} | {min(r[4] for r in rows if r[0] == m):.4f} | "
              f"{all(r[5] for r in rows if r[0] == m)} |")
    gm = "sklearn GaussianMixture"
    bgm = "sklearn BayesianGaussianMixture"
    print()
    for m in [x for x in methods if x.startswith("augury")]:
        line = f"{m}: {summ[gm] / summ[m]:.2f}x GaussianMixture's speed"
        if bgm in summ:
            line += (f", {summ[bgm] / summ[m]:.1f}x BayesianGaussianMixture's by median time, "
                     f"{total[bgm] / total[m]:.1f}x by total time")
        print(line + " (> 1 = faster)")


if __name__ == "__main__":
    main()
