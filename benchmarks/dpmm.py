"""Split–merge (`augury.runtime.samplers.split_merge`) on dpmmpython's own example, and a
generalized-category-discovery (GCD) case.

    python benchmarks/dpmm.py                 # both tables (about a minute on 2 cores)
    python benchmarks/dpmm.py --seeds 0 1 2   # the dpmm example on several data seeds
    python benchmarks/dpmm.py --threads 2     # XLA/BLAS threads (set before JAX is imported)

1. dpmmpython's README example (github.com/BGU-CS-VIL/dpmmpython):

       data, gt = DPMMPython.generate_gaussian_data(10000, 2, 10, 100.0)
       prior = niw(1, np.zeros(2), 4, np.eye(2))
       labels, _, sub_labels = DPMMPython.fit(data, 100, prior=prior, verbose=True, gt=gt)

   `fit(data, alpha, ...)`: alpha = 100, 100 iterations (the default).  Their generator
   (DPMMSubClusters.jl, src/data_generators.jl, `generate_gaussian_data(N, D, K, MixtureVar)`),
   re-written here in NumPy: weights ~ Dirichlet(1, …, 1), counts ~ Multinomial(N, weights),
   means ~ N(0, 100 I), covariances ~ InverseWishart(D + 2, I), points drawn per component.
   Same prior: NIW(κ₀ = 1, m₀ = 0, ν₀ = 4, Ψ₀ = I), α = 100, 100 iterations, one chain, all points
   starting in one component; K = 64 slots (the cap on occupied components).
   Their published run (README): 100 iterations in 0.596 s, NMI 0.969, 9 clusters.  dpmmpython
   needs Julia and is not installed here, so their numbers are quoted, not re-measured.

   Times: the first `fit` call compiles (XLA) and runs; a second call on the same shapes reuses
   the compiled program: "run s" is the second call, "compile s" the first minus the second.
   NMI (sklearn's normalized_mutual_info_score) and the number of components of the last draw.

2. GCD on fixed features: 10 Gaussian classes in d = 16 (means ~ N(0, 9 I), unit covariance,
   200 points each); classes 0–4 are "old" with half their points labelled, classes 5–9 "new"
   and never labelled.  split_merge with the labels (NIW prior, α = 1, K = 32), 150 warmup
   iterations, 50 kept, one chain.  The prediction of a point is its most frequent component
   over the kept draws.  Accuracy as GCD papers compute it: one Hungarian matching
   (scipy.optimize.linear_sum_assignment) between predicted components and true classes over
   all unlabelled points, then the accuracy of that matching on All / Old / New unlabelled
   points; and the error in the number of classes found (components holding ≥ 1% of the points
   at the last draw, minus 10).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _pin(threads: int) -> str:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}").strip()
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(threads)
    return f"XLA_FLAGS={os.environ['XLA_FLAGS']!r} OMP/OPENBLAS/MKL_NUM_THREADS={threads}"


def _args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--K", type=int, default=64)
    ap.add_argument("--skip-gcd", action="store_true")
    return ap.parse_args()


ARGS = _args()
PINNED = _pin(ARGS.threads)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import augury  # noqa: E402,F401  (before JAX: augury sets XLA's CPU flags)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from scipy.stats import invwishart  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score  # noqa: E402

from augury.runtime.mixtures.problem import GaussianPrior, MixtureProblem, WeightPrior  # noqa: E402
from augury.runtime.samplers import split_merge  # noqa: E402


def generate_gaussian_data(n: int, d: int, k: int, mixture_var: float, rng):
    """DPMMSubClusters.jl's `generate_gaussian_data`, in NumPy (points ordered by component)."""
    w = rng.dirichlet(np.ones(k))
    counts = rng.multinomial(n, w)
    X, z = [], []
    for c in range(k):
        mean = rng.normal(0.0, np.sqrt(mixture_var), d)
        cov = np.atleast_2d(invwishart(df=d + 2, scale=np.eye(d)).rvs(random_state=rng))
        X.append(rng.multivariate_normal(mean, cov, counts[c]))
        z.append(np.full(counts[c], c))
    return np.concatenate(X), np.concatenate(z)


def timed_fit(problem, settings, seed):
    t0 = time.perf_counter()
    split_merge.fit(problem, jax.random.key(seed + 1000), settings)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = split_merge.fit(problem, jax.random.key(seed), settings)
    second = time.perf_counter() - t0
    return res, second, first - second


def dpmm_example(seed: int, K: int):
    rng = np.random.default_rng(seed)
    X, gt = generate_gaussian_data(10_000, 2, 10, 100.0, rng)
    problem = MixtureProblem(X=X, labels=-np.ones(len(X), np.int32), K=K, family="gaussian",
                             weights=WeightPrior("dp", K, alpha=100.0),
                             gaussian=GaussianPrior("niw", m0=np.zeros(2), kappa0=1.0, nu0=4.0, Psi0=np.eye(2)),
                             dtype=jnp.float64)
    res, run_s, compile_s = timed_fit(problem, {"sweeps": 100, "warmup": 0, "chains": 1}, seed)
    z = res.draws["assignment"][0, -1]
    return {"seed": seed, "run_s": run_s, "compile_s": compile_s, "nmi": normalized_mutual_info_score(gt, z),
            "clusters": int(res.stats["num_components"][0, -1]), "true": int(len(np.unique(gt))),
            "split_acc": float(res.stats["split_accept"][0]), "merge_acc": float(res.stats["merge_accept"][0]),
            "warnings": res.warnings}


def gcd_case(seed: int):
    rng = np.random.default_rng(seed + 7)
    C, d, per = 10, 16, 200
    means = rng.normal(0.0, 3.0, (C, d))
    y = np.repeat(np.arange(C), per)
    X = means[y] + rng.normal(size=(C * per, d))
    old = y < 5
    labelled = old & (rng.random(len(y)) < 0.5)
    labels = np.where(labelled, y, -1).astype(np.int32)
    K = 32
    problem = MixtureProblem(X=X, labels=labels, K=K, family="gaussian", weights=WeightPrior("dp", K, alpha=1.0),
                             gaussian=GaussianPrior("niw", m0=np.zeros(d), kappa0=0.01, nu0=d + 2.0,
                                                    Psi0=np.eye(d) * 2.0), dtype=jnp.float64)
    res, run_s, compile_s = timed_fit(problem, {"sweeps": 50, "warmup": 150, "chains": 1}, seed)
    pred = res.responsibilities.argmax(axis=1)
    un = ~labelled
    cm = np.zeros((K, C))
    np.add.at(cm, (pred[un], y[un]), 1)
    r, c = linear_sum_assignment(-cm)
    match = dict(zip(r, c))
    hit = np.array([match.get(p, -1) == t for p, t in zip(pred[un], y[un])])
    last = res.draws["assignment"][0, -1]
    sizes = np.bincount(last, minlength=K)
    found = int(np.sum(sizes >= 0.01 * len(y)))
    return {"all": hit.mean(), "old": hit[old[un]].mean(), "new": hit[~old[un]].mean(), "found": found,
            "k_error": found - C, "run_s": run_s, "compile_s": compile_s, "warnings": res.warnings}


def main():
    print(f"pinned threads: {PINNED}; jax {jax.__version__}, devices {jax.devices()}")
    with jax.enable_x64(True):
        print("\n1. dpmmpython's example: N = 10,000, d = 2, 10 components, NIW(1, 0, 4, I), alpha = 100, "
              "100 iterations, 1 chain")
        print(f"{'':22s}{'run s':>8s}{'compile s':>11s}{'NMI':>8s}{'clusters':>10s}{'split acc':>11s}{'merge acc':>11s}")
        print(f"{'dpmmpython (README)':22s}{0.596:8.3f}{'-':>11s}{0.969:8.3f}{9:10d}{'-':>11s}{'-':>11s}")
        for s in ARGS.seeds:
            r = dpmm_example(s, ARGS.K)
            print(f"{'augury seed ' + str(s):22s}{r['run_s']:8.3f}{r['compile_s']:11.2f}{r['nmi']:8.3f}"
                  f"{r['clusters']:10d}{r['split_acc']:11.3f}{r['merge_acc']:11.3f}"
                  + (f"   (true {r['true']})" if r["true"] != 10 else ""))
            for w in r["warnings"]:
                print("   warning:", w)
        if not ARGS.skip_gcd:
            print("\n2. GCD: 10 Gaussian classes in d = 16, 5 old (half labelled), 5 new; NIW, alpha = 1, K = 32")
            print(f"{'':12s}{'All':>7s}{'Old':>7s}{'New':>7s}{'found':>7s}{'K err':>7s}{'run s':>8s}{'compile s':>11s}")
            for s in ARGS.seeds:
                r = gcd_case(s)
                print(f"{'seed ' + str(s):12s}{r['all']:7.3f}{r['old']:7.3f}{r['new']:7.3f}{r['found']:7d}"
                      f"{r['k_error']:+7d}{r['run_s']:8.3f}{r['compile_s']:11.2f}")
                for w in r["warnings"]:
                    print("   warning:", w)


if __name__ == "__main__":
    main()
