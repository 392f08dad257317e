"""Diffusion posterior samplers on the MCGdiff Gaussian-mixture inverse problem, against the
exact posterior.

    python benchmarks/gmm_inverse.py                  # both tables (several minutes on 2 cores)
    python benchmarks/gmm_inverse.py --quick          # d_x = 8 only, 3 problems
    python benchmarks/gmm_inverse.py --methods ddrm,dps --particles 1000 --steps 100 --json /tmp/g.json

The problem (Cardoso, Janati, Le Corff & Moulines, "Monte Carlo guided diffusion for Bayesian
linear inverse problems", ICLR 2024, section 4; the generator of their benchmark,
github.com/gabrielvc/benchopts_inverse_problem_diffusion_prior, datasets/gaussian_mixture.py,
re-written here in NumPy):

* prior: 25 components N(m_k, I) on R^{d_x}, m = (-8i, -8j) for i, j in {-2, ..., 2}, the 2-D
  pattern repeated d_x / 2 times; weights ε_k² / Σ ε², ε ~ N(0, I_25);
* A = U diag(s) V_{:d_y}ᵀ from the SVD of a d_y × d_x N(0, 1) draw, with s replaced by d_y
  U(0, 1) draws sorted in decreasing order;
* σ_y = u · max(s), u ~ U(0, 1) (σ_y is the noise standard deviation; the variance is σ_y²);
* y = A x* + σ_y n with x* a draw from the prior.

The exact posterior is a mixture with one shared covariance I − Aᵀ(AAᵀ + σ_y² I)⁻¹A; its weights
and means come from `augury.oracle.gmm_posterior`, and exact draws are
m̃_k + ε − K(Aε − σ_y n), K = Aᵀ(AAᵀ + σ_y² I)⁻¹ (which has exactly that covariance).

Table 1 (our metric): sliced Wasserstein-2 (`augury.oracle.sliced_wasserstein`, 100 random
directions, mean over directions) between P sampler draws and `--ref` exact draws; beside it
the floor (P further exact draws against the same reference) and the prior (P prior draws).
P is `--draws` (default `--particles`): weighted particles are resampled to P equally weighted
draws.  With `--repeats R` each method's SW and the floor are means over R runs (seeds) and R
sets of exact draws: one set's SW swings by up to 10x with how many draws land in each mode.
Median over `--problems` problems per (d_x, d_y).

Table 2 (the authors' metric): POT's `ot.max_sliced_wasserstein_distance(X_s = reference,
X_t = samples, n_projections = 100)` (p = 2: the largest 1-D W₂ over 100 random directions) of
1,000 draws against 10,000 exact draws, d_x = 8, median over `--problems-authors` problems,
next to the numbers of the authors' benchmark run.  Also, when PyTorch is installed, the
authors' own instance (their generator with `torch.manual_seed(27)`, regenerated here through
torch's public API, the same draws in the same order), median over repeated runs as in their
benchopt run.

Times: the first `sample()` call on a new data dict binds the data and compiles the method's
step (XLA); a second call with another seed on the same data reuses the compiled step.  The
second call's wall time is the run time ("run s"); first minus second is "compile s".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL = """
model gmm_inverse
data y : real[DY]
data M : real[DY, DX]
data means : real[K, DX]
data w : real[K]
data noise : real
param x : real[DX]
x ~ gmm(w, means, 1.0)
op A = matrix(M)
y ~ normal(A(x), noise)
"""

METHODS = ("ddrm", "pigdm", "dps", "pc", "tds", "mcgdiff", "ensemble")
PARTICLE_METHODS = ("tds", "mcgdiff", "ensemble", "mcgdiff-paper", "tds-tweedie")  # weighted: scored on `--draws` draws resampled
# a column that is a method with other settings than its defaults: name -> (method, settings)
VARIANTS = {"mcgdiff-paper": ("mcgdiff", {"potentials": "paper"}), "tds-tweedie": ("tds", {"twist_variance": "tweedie"}),
            "ensemble-rescaled": ("ensemble", {"likelihood_at": "rescaled"}),
            "ensemble-ode-rescaled": ("ensemble", {"likelihood_at": "rescaled", "variant": "ode"})}
# the authors' benchopt run (gabrielvc/benchopts_inverse_problem_diffusion_prior, outputs/
# benchopt_run_2024-03-15_18h27m33: 8-thread i7-1185G7, one problem (seed 27), median of 5-10 runs)
AUTHORS = {"ddrm": ({1: 29.7, 2: 13.4, 4: 0.45}, 0.3), "dps": ({1: 27.8, 2: 19.3, 4: 12.4}, 2.2)}


# ---------------------------------------------------------------------------------------------
# the problem

def mixture_means(dx: int) -> np.ndarray:
    pts = [(-8.0 * i, -8.0 * j) for i in range(-2, 3) for j in range(-2, 3)]
    return np.array([list(p) * (dx // 2) for p in pts], np.float64)  # (25, dx)


def make_problem(rng: np.random.Generator, dx: int, dy: int) -> dict:
    means = mixture_means(dx)
    eps = rng.normal(size=len(means))
    w = eps ** 2 / np.sum(eps ** 2)
    g = rng.normal(size=(dy, dx))
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    s = np.sort(rng.uniform(size=dy))[::-1]
    A = (u * s) @ vt
    sigma = float(rng.uniform() * s.max())
    k = rng.choice(len(w), p=w)
    x_true = means[k] + rng.normal(size=dx)
    y = A @ x_true + sigma * rng.normal(size=dy)
    return {"w": w, "means": means, "A": A, "sigma": sigma, "y": y, "x_true": x_true}


def authors_instance(dx: int, dy: int, seed: int = 27):
    """The authors' generator with torch's RNG (`torch.manual_seed(seed)` then their draws in
    their order), through torch's public API; None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    means = torch.tensor(mixture_means(dx), dtype=torch.float32)
    w = torch.randn(len(means)) ** 2
    w = w / w.sum()
    prior = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(w, validate_args=False),
        torch.distributions.MultivariateNormal(means, torch.eye(dx).repeat(len(means), 1, 1), validate_args=False),
        validate_args=False)
    g = torch.randn((dy, dx))
    u, s, vh = torch.linalg.svd(g, full_matrices=True)
    s = torch.sort(torch.rand_like(s), descending=True).values
    A = u @ (torch.diag(s) @ vh[:dy])
    x_true = prior.sample()
    std = torch.rand((1,))[0] * s.max()
    y = A @ x_true
    y = y + torch.randn_like(y) * std
    f = lambda t: np.asarray(t.detach().numpy(), np.float64)  # noqa: E731
    return {"w": f(w) / f(w).sum(), "means": f(means), "A": f(A), "sigma": float(std), "y": f(y), "x_true": f(x_true)}


class Exact:
    """Exact posterior and prior draws of a problem (float64, NumPy)."""

    def __init__(self, prob: dict):
        import jax

        from augury.oracle import gmm_posterior
        A, sigma = prob["A"], prob["sigma"]
        with jax.enable_x64(True):
            post = gmm_posterior(prob["w"], prob["means"], 1.0, A, prob["y"], sigma)
            self.weights = np.asarray(post.weights, np.float64)
            self.post_means = np.asarray(post.means, np.float64)
        self.weights = self.weights / self.weights.sum()
        S = A @ A.T + sigma ** 2 * np.eye(A.shape[0])
        self.K = np.linalg.solve(S, A).T  # Aᵀ S⁻¹, (dx, dy)
        self.prob = prob

    def posterior(self, rng, n: int) -> np.ndarray:
        A, sigma = self.prob["A"], self.prob["sigma"]
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        eps = rng.normal(size=(n, A.shape[1]))
        nn = rng.normal(size=(n, A.shape[0]))
        return self.post_means[comp] + eps - (eps @ A.T - sigma * nn) @ self.K.T

    def prior(self, rng, n: int) -> np.ndarray:
        p = self.prob
        w = p["w"] / p["w"].sum()
        comp = rng.choice(len(w), size=n, p=w)
        return p["means"][comp] + rng.normal(size=(n, p["means"].shape[1]))


# ---------------------------------------------------------------------------------------------
# metrics

def sw_ours(x, ref, seed: int) -> float:
    import jax

    from augury.oracle import sliced_wasserstein
    with jax.enable_x64(True):
        return float(sliced_wasserstein(np.asarray(x, np.float64), ref, jax.random.PRNGKey(seed), projections=100))


def msw_pot(x, ref, seed: int) -> float:
    import ot
    return float(ot.max_sliced_wasserstein_distance(X_s=ref, X_t=np.asarray(x, np.float64), n_projections=100,
                                                    seed=seed))


# ---------------------------------------------------------------------------------------------
# running a method

def method_settings(method: str, args) -> dict:
    out = {"particles": args.particles, "steps": args.steps, **VARIANTS.get(method, (method, {}))[1]}
    if args.teleport:
        out["teleport"] = args.teleport
    return out


def run_method(model, data: dict, method: str, settings: dict, seed: int, timed_repeats: int = 1,
               draws: int | None = None):
    """First call (bind + compile + run), then `timed_repeats` calls with other seeds (run only).
    Returns (`draws` equally weighted samples of the last call, first s, [run s...], error or None);
    with `timed_repeats` > 1 the first item is the list of each timed call's samples."""
    try:
        t0 = time.perf_counter()
        method = VARIANTS.get(method, (method, {}))[0]
        post = model.sample(data, method=method, seed=seed, **settings)
        first = time.perf_counter() - t0
        runs, xs = [], []
        for r in range(timed_repeats):
            t0 = time.perf_counter()
            post = model.sample(data, method=method, seed=seed + 1 + r, **settings)
            runs.append(time.perf_counter() - t0)
            xs.append(scored_draws(post, draws, seed + r))
            if not np.all(np.isfinite(xs[-1])):
                return None, first, runs, "non-finite draws"
        return (xs if timed_repeats > 1 else xs[-1]), first, runs, None
    except Exception as e:  # noqa: BLE001  (a sampler failing is a result here)
        return None, float("nan"), [], f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"


def scored_draws(post, draws: int | None, seed: int) -> np.ndarray:
    """`draws` equally weighted draws of x: weighted particles resampled by their weights
    (systematic), unweighted draws the first `draws` of them."""
    if post.log_weights is None:
        return np.asarray(post.samples("x")[:draws], np.float64)
    return np.asarray(post.resampled("x", n=draws, seed=seed), np.float64)


def to_data(prob: dict) -> dict:
    return {"y": prob["y"], "M": prob["A"], "means": prob["means"], "w": prob["w"], "noise": prob["sigma"]}


def med(v):
    v = [a for a in v if a is not None and not (isinstance(a, float) and math.isnan(a))]
    return statistics.median(v) if v else float("nan")


def fmt(v, nd=2):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


# ---------------------------------------------------------------------------------------------
# tables

def table_ours(model, args, records: list):
    dxs = (8,) if args.quick else tuple(int(v) for v in args.dx.split(","))
    dys = tuple(int(v) for v in args.dy.split(","))
    print("\n## Table 1: sliced Wasserstein-2 (ours: mean over 100 directions), "
          f"{args.draws} draws vs {args.ref} exact, median over {args.problems} problems\n", flush=True)
    head = "| d_x | d_y | floor | prior | " + " | ".join(args.methods) + " | " + \
        " | ".join(f"{m} run s" for m in args.methods) + " | " + " | ".join(f"{m} compile s" for m in args.methods) + " |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1), flush=True)
    for dx in dxs:
        for dy in dys:
            rows = []
            for i in range(args.problems):
                rng = np.random.default_rng([1, dx, dy, i])
                prob = make_problem(rng, dx, dy)
                t0 = time.perf_counter()
                ex = Exact(prob)
                ref = ex.posterior(rng, args.ref)
                # SW of one set of draws swings by up to 10x with the mixture's mode counts: average
                # `--repeats` sets (exact draws for the floor, seeds for the methods)
                floor = float(np.mean([sw_ours(ex.posterior(rng, args.draws), ref, i) for _ in range(args.repeats)]))
                prior = sw_ours(ex.prior(rng, args.draws), ref, i)
                exact_s = time.perf_counter() - t0
                data = to_data(prob)
                rec = {"table": 1, "dx": dx, "dy": dy, "problem": i, "sigma": prob["sigma"], "floor": floor,
                       "prior": prior, "exact_s": exact_s, "methods": {}}
                for m in args.methods:
                    xs, first, runs, err = run_method(model, data, m, method_settings(m, args), seed=100 * i,
                                                      timed_repeats=args.repeats, draws=args.draws)
                    xs = [xs] if args.repeats == 1 and xs is not None else xs
                    run_s = min(runs) if runs else float("nan")
                    rec["methods"][m] = {"sw": float(np.mean([sw_ours(x, ref, i) for x in xs])) if xs else float("nan"),
                                         "first_s": first, "run_s": run_s, "compile_s": first - run_s, "error": err}
                    if err:
                        print(f"  ! d_x={dx} d_y={dy} problem {i} {m}: {err}", flush=True)
                records.append(rec)
                rows.append(rec)
            mm = lambda m, k: med([r["methods"][m][k] for r in rows])  # noqa: E731
            print(f"| {dx} | {dy} | {fmt(med([r['floor'] for r in rows]))} | {fmt(med([r['prior'] for r in rows]))} | "
                  + " | ".join(fmt(mm(m, "sw")) for m in args.methods) + " | "
                  + " | ".join(fmt(mm(m, "run_s"), 3) for m in args.methods) + " | "
                  + " | ".join(fmt(mm(m, "compile_s"), 1) for m in args.methods) + " |", flush=True)


def table_authors(model, args, records: list):
    dx, n_ref = 8, 10_000
    n = args.problems_authors
    print(f"\n## Table 2: max-sliced Wasserstein (POT, p = 2, 100 directions), {args.draws} draws vs {n_ref} "
          f"exact, d_x = {dx}, median over {n} problems\n", flush=True)
    head = "| d_y | floor | prior | " + " | ".join(args.methods) + " | " + \
        " | ".join(f"{m} run s" for m in args.methods) + " | authors DDRM (0.3 s) | authors DPS (2.2 s) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1), flush=True)
    for dy in (1, 2, 4):
        rows = []
        for i in range(n):
            rng = np.random.default_rng([2, dx, dy, i])
            prob = make_problem(rng, dx, dy)
            ex = Exact(prob)
            ref = ex.posterior(rng, n_ref)
            rec = {"table": 2, "dx": dx, "dy": dy, "problem": i, "sigma": prob["sigma"],
                   "floor": msw_pot(ex.posterior(rng, args.draws), ref, i),
                   "prior": msw_pot(ex.prior(rng, args.draws), ref, i), "methods": {}}
            data = to_data(prob)
            for m in args.methods:
                x, first, runs, err = run_method(model, data, m, method_settings(m, args), seed=100 * i,
                                                 draws=args.draws)
                run_s = min(runs) if runs else float("nan")
                rec["methods"][m] = {"msw": msw_pot(x, ref, i) if x is not None else float("nan"),
                                     "first_s": first, "run_s": run_s, "compile_s": first - run_s, "error": err}
                if err:
                    print(f"  ! d_y={dy} problem {i} {m}: {err}", flush=True)
            records.append(rec)
            rows.append(rec)
        mm = lambda m, k: med([r["methods"][m][k] for r in rows])  # noqa: E731
        print(f"| {dy} | {fmt(med([r['floor'] for r in rows]))} | {fmt(med([r['prior'] for r in rows]))} | "
              + " | ".join(fmt(mm(m, "msw")) for m in args.methods) + " | "
              + " | ".join(fmt(mm(m, "run_s"), 3) for m in args.methods)
              + f" | {AUTHORS['ddrm'][0][dy]} | {AUTHORS['dps'][0][dy]} |", flush=True)


def table_authors_instance(model, args, records: list):
    dx, n_ref, reps = 8, 10_000, args.repeats_instance
    probs = {dy: authors_instance(dx, dy) for dy in (1, 2, 4)}
    if any(p is None for p in probs.values()):
        print("\n(table 2b skipped: PyTorch is not installed)")
        return
    print(f"\n## Table 2b: the authors' instance (torch seed 27), max-sliced W (POT), {args.draws} draws vs "
          f"{n_ref} exact, median over {reps} runs (seeds) of each method\n", flush=True)
    head = "| d_y | σ_y | floor | prior | " + " | ".join(args.methods) + " | " + \
        " | ".join(f"{m} run s" for m in args.methods) + " | authors DDRM | authors DPS |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1), flush=True)
    for dy, prob in probs.items():
        rng = np.random.default_rng([3, dy])
        ex = Exact(prob)
        ref = ex.posterior(rng, n_ref)
        rec = {"table": "2b", "dx": dx, "dy": dy, "sigma": prob["sigma"],
               "floor": [msw_pot(ex.posterior(rng, args.draws), ref, r) for r in range(reps)],
               "prior": [msw_pot(ex.prior(rng, args.draws), ref, r) for r in range(reps)], "methods": {}}
        data = to_data(prob)
        for m in args.methods:
            vals, times, err = [], [], None
            x, first, runs, err = run_method(model, data, m, method_settings(m, args), seed=0, draws=args.draws)
            for r in range(reps if err is None else 0):
                t0 = time.perf_counter()
                post = model.sample(data, method=VARIANTS.get(m, (m, {}))[0], seed=1000 + r, **method_settings(m, args))
                times.append(time.perf_counter() - t0)
                vals.append(msw_pot(scored_draws(post, args.draws, r), ref, r))
            rec["methods"][m] = {"msw": vals, "run_s": times, "first_s": first, "error": err}
        records.append(rec)
        print(f"| {dy} | {prob['sigma']:.3f} | {fmt(med(rec['floor']))} | {fmt(med(rec['prior']))} | "
              + " | ".join(fmt(med(rec["methods"][m]["msw"])) for m in args.methods) + " | "
              + " | ".join(fmt(med(rec["methods"][m]["run_s"]), 3) for m in args.methods)
              + f" | {AUTHORS['ddrm'][0][dy]} | {AUTHORS['dps'][0][dy]} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="d_x = 8 only, 3 problems (both tables)")
    ap.add_argument("--problems", type=int, default=5, help="problems per (d_x, d_y) in table 1")
    ap.add_argument("--problems-authors", type=int, default=20, help="problems per d_y in table 2")
    ap.add_argument("--repeats-instance", type=int, default=10, help="runs per method on the authors' instance")
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=None,
                    help="draws scored per run (default: --particles); weighted particles are resampled to this many, "
                         "unweighted methods keep their first DRAWS, the floor uses DRAWS exact draws")
    ap.add_argument("--repeats", type=int, default=1,
                    help="table 1: average SW over this many runs (seeds) per method and exact-draw sets for the floor")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--teleport", type=float, default=0.0, help="every method's teleport fraction")
    ap.add_argument("--ref", type=int, default=1000, help="exact reference draws in table 1")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--dx", default="8,80,800", help="the d_x of table 1 (even)")
    ap.add_argument("--dy", default="1,2,4", help="the d_y of table 1")
    ap.add_argument("--tables", default="1,2,2b", help="which tables: 1, 2, 2b")
    ap.add_argument("--json", default=None, help="write every problem's numbers here")
    args = ap.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.draws = args.particles if args.draws is None else min(args.draws, args.particles)
    if args.quick:
        args.problems, args.problems_authors, args.repeats_instance = 3, 3, 3
    tables = set(args.tables.split(","))

    t_import = time.perf_counter()
    import jax

    import augury
    from augury.dsl.signatures import METHODS as SIGS
    model = augury.compile(MODEL)
    t_import = time.perf_counter() - t_import
    try:
        import ot
        pot = ot.__version__
    except ImportError:
        pot = None
        tables.discard("2")
        tables.discard("2b")
    print(f"# gmm_inverse  {time.strftime('%Y-%m-%d %H:%M')}  python {platform.python_version()}, jax {jax.__version__}, "
          f"POT {pot}, augury {getattr(augury, '__version__', '?')}, devices {jax.devices()}, cpus {os.cpu_count()}, "
          f"load average {tuple(round(v, 2) for v in os.getloadavg())}, import + compile(model) {t_import:.1f} s")
    print(f"# command: {' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}")
    print(f"# settings: particles {args.particles}, scored draws {args.draws}, repeats (table 1) {args.repeats}, steps {args.steps}, methods {args.methods}, tables {sorted(tables)}, "
          f"problems (table 1) {args.problems}, problems (table 2) {args.problems_authors}, "
          f"runs on the authors' instance {args.repeats_instance}, reference draws (table 1) {args.ref}, quick {args.quick}, "
          f"teleport {args.teleport}")
    for m in args.methods:
        sig = SIGS.get(VARIANTS.get(m, (m, {}))[0])
        defaults = getattr(sig, "defaults", None)
        print(f"#   {m}: particles {args.particles}, steps {args.steps}"
              + (" (2 score calls per step)" if m == "pc" else "") + (f", method defaults {dict(defaults)}" if defaults else "")
              + (f", here with {VARIANTS[m][1]}" if m in VARIANTS else ""))
    print("# precision float32 (the diffusion methods' default); sde vp(0.1, 20) (the gmm prior's default)", flush=True)

    records: list = []
    t0 = time.perf_counter()
    if "1" in tables:
        table_ours(model, args, records)
    if "2" in tables:
        table_authors(model, args, records)
    if "2b" in tables:
        table_authors_instance(model, args, records)
    print(f"\n# total {time.perf_counter() - t0:.0f} s, load average {tuple(round(v, 2) for v in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "records": records}, indent=1, default=float))
        print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()
