"""The mode weights alone on `gmm_inverse.py`'s mixture problems: the total variation between
a particle method's weighted mass on each of the 25 modes and the exact posterior's, and the
same for 1000 exact draws (the floor).  Sliced Wasserstein mixes the mode weights with the
within-mode shape; this isolates the weights, which is where the particle methods differ.

    python benchmarks/mode_weights_tv.py --dx 80 --dy 1 --problems 0,1,2,3,4 --seeds 4 \
        --variants tds,tds-tweedie
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gmm_inverse as G  # noqa: E402


def mode_tv(post, ex) -> float:
    """½ Σ_k |Σ_{i in mode k} W_i − π_k|, each particle assigned to the nearest posterior mode mean."""
    w = np.asarray(post.weights, np.float64)
    x = np.asarray(post.samples("x"), np.float64).reshape(len(w), -1)
    comp = np.argmin(((x[:, None, :] - ex.post_means[None]) ** 2).sum(-1), 1)
    return 0.5 * float(np.abs(np.bincount(comp, weights=w, minlength=len(ex.weights)) - ex.weights).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dx", type=int, default=80)
    ap.add_argument("--dy", type=int, default=1)
    ap.add_argument("--problems", default="0,1,2,3,4", help="problem indices (table 1's generator)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--variants", default="tds,tds-tweedie", help="methods or gmm_inverse.VARIANTS names")
    args = ap.parse_args()
    import augury
    model = augury.compile(G.MODEL)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    print(f"# mode_weights_tv {time.strftime('%Y-%m-%d %H:%M')}  d_x {args.dx}, d_y {args.dy}, particles "
          f"{args.particles}, steps {args.steps}, seeds {args.seeds}")
    print("| problem | σ_y | modes over 1% | exact draws | " + " | ".join(variants) + " |")
    print("|" + "---|" * (4 + len(variants)))
    totals: dict = {v: [] for v in variants + ["exact"]}
    for i in (int(v) for v in args.problems.split(",")):
        rng = np.random.default_rng([1, args.dx, args.dy, i])
        prob = G.make_problem(rng, args.dx, args.dy)
        ex = G.Exact(prob)
        floor = np.mean([0.5 * np.abs(np.bincount(rng.choice(len(ex.weights), 1000, p=ex.weights),
                                                  minlength=len(ex.weights)) / 1000 - ex.weights).sum()
                         for _ in range(20)])
        totals["exact"].append(floor)
        row = []
        for v in variants:
            method, extra = G.VARIANTS.get(v, (v, {}))
            tvs = [mode_tv(model.sample(G.to_data(prob), method=method, particles=args.particles, steps=args.steps,
                                        seed=s, **extra), ex) for s in range(args.seeds)]
            totals[v].append(np.mean(tvs))
            row.append(f"{np.mean(tvs):.3f}")
        print(f"| {i} | {prob['sigma']:.2f} | {(ex.weights > 0.01).sum()} | {floor:.3f} | " + " | ".join(row) + " |",
              flush=True)
    print("| mean | | | " + " | ".join(f"{np.mean(totals[v]):.3f}" for v in ["exact"] + variants) + " |")


if __name__ == "__main__":
    main()
