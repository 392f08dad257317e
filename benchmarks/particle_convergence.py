"""Convergence of the particle diffusion samplers (tds, mcgdiff, ensemble) on the MCGdiff
Gaussian-mixture inverse problem: sliced Wasserstein-2 to the exact posterior against the
particle count, and against the number of steps with and without teleport.

    python benchmarks/particle_convergence.py                          # both panels, PNG + tables
    python benchmarks/particle_convergence.py --quick                  # fewer counts / problems
    python benchmarks/particle_convergence.py --png /tmp/conv.png --json /tmp/conv.json

The problem generator, the exact draws and the metric are those of benchmarks/gmm_inverse.py
(`make_problem`, `Exact`, `sw_ours`: 100 random directions, mean over directions).  Weighted
draws are resampled to equal weights (systematic) before they are scored; beside each count N
the floor is the distance of N exact draws to the same reference (the Monte Carlo error of N
perfect draws).  Median over `--problems` problems of d_x = `--dx`, d_y = `--dy`.

Panel 1: particles N = 64 … 4096 at `--steps` steps.  Panel 2: steps 10 … 200 at N =
`--particles`, teleport 0 and `--teleport` (teleport starts from the posterior of the prior's
moment-matched Gaussian, skipping that fraction of the steps).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gmm_inverse import MODEL, Exact, make_problem, sw_ours, to_data  # noqa: E402

VARIANTS = {"tds": ("tds", {}), "mcgdiff": ("mcgdiff", {}), "ensemble (sde)": ("ensemble", {"variant": "sde"}),
            "ensemble (ode)": ("ensemble", {"variant": "ode"}),
            "ensemble-rescaled (sde)": ("ensemble", {"variant": "sde", "likelihood_at": "rescaled"}),
            "ddrm (guidance)": ("ddrm", {})}


def score(model, data, ex, ref, method, settings, seed) -> tuple[float, float]:
    """(sliced W₂ of the resampled draws to `ref`, run seconds after compilation)."""
    model.sample(data, method=method, seed=seed + 7, **settings)  # binds and compiles
    t0 = time.perf_counter()
    post = model.sample(data, method=method, seed=seed, **settings)
    secs = time.perf_counter() - t0
    x = np.asarray(post.resampled("x", seed=seed), np.float64)
    return (sw_ours(x, ref, seed) if np.all(np.isfinite(x)) else float("nan")), secs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dx", type=int, default=8)
    ap.add_argument("--dy", type=int, default=2)
    ap.add_argument("--problems", type=int, default=3)
    ap.add_argument("--counts", default="64,128,256,512,1024,2048,4096")
    ap.add_argument("--step-grid", default="10,25,50,100,200")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--particles", type=int, default=1024)
    ap.add_argument("--teleport", type=float, default=0.5)
    ap.add_argument("--ref", type=int, default=4096)
    ap.add_argument("--methods", default=",".join(VARIANTS))
    ap.add_argument("--png", default="particle_convergence.png")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.quick:
        args.counts, args.step_grid, args.problems = "64,256,1024", "25,100", 2
    counts = [int(v) for v in args.counts.split(",")]
    step_grid = [int(v) for v in args.step_grid.split(",")]
    names = [m.strip() for m in args.methods.split(",") if m.strip()]

    import jax

    import augury
    model = augury.compile(MODEL)
    print(f"# particle_convergence {time.strftime('%Y-%m-%d %H:%M')} jax {jax.__version__}, cpus {os.cpu_count()}, "
          f"load {tuple(round(v, 2) for v in os.getloadavg())}; d_x {args.dx}, d_y {args.dy}, {args.problems} problems, "
          f"reference {args.ref} exact draws", flush=True)
    problems = []
    for i in range(args.problems):
        rng = np.random.default_rng([4, args.dx, args.dy, i])
        prob = make_problem(rng, args.dx, args.dy)
        ex = Exact(prob)
        problems.append((to_data(prob), ex, ex.posterior(rng, args.ref), rng))

    out = {"counts": counts, "step_grid": step_grid, "by_count": {}, "by_steps": {}, "floor": {}}
    print(f"\n## sliced W₂ against particles ({args.steps} steps), median over {args.problems} problems\n")
    print("| N | floor | " + " | ".join(names) + " | " + " | ".join(f"{n} s" for n in names) + " |")
    print("|" + "---|" * (2 + 2 * len(names)))
    for n in counts:
        floor = statistics.median(sw_ours(ex.posterior(rng, n), ref, i) for i, (_, ex, ref, rng) in enumerate(problems))
        out["floor"][n] = floor
        row, secs = [], []
        for name in names:
            method, extra = VARIANTS[name]
            res = [score(model, data, ex, ref, method, dict(particles=n, steps=args.steps, **extra), 100 * i)
                   for i, (data, ex, ref, _) in enumerate(problems)]
            d, s = statistics.median(r[0] for r in res), statistics.median(r[1] for r in res)
            out["by_count"].setdefault(name, []).append(d)
            row.append(d)
            secs.append(s)
        print(f"| {n} | {floor:.3f} | " + " | ".join(f"{v:.3f}" for v in row) + " | "
              + " | ".join(f"{v:.2f}" for v in secs) + " |", flush=True)

    print(f"\n## sliced W₂ against steps ({args.particles} particles), teleport 0 / {args.teleport}\n")
    print("| steps | " + " | ".join(f"{n} | {n} teleported" for n in names) + " |")
    print("|" + "---|" * (1 + 2 * len(names)))
    for steps in step_grid:
        row = []
        for name in names:
            method, extra = VARIANTS[name]
            for tel in (0.0, args.teleport):
                res = [score(model, data, ex, ref, method,
                             dict(particles=args.particles, steps=steps, teleport=tel, **extra), 100 * i)[0]
                       for i, (data, ex, ref, _) in enumerate(problems)]
                out["by_steps"].setdefault(f"{name}|{tel}", []).append(statistics.median(res))
                row.append(statistics.median(res))
        print(f"| {steps} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.loglog(counts, [out["floor"][n] for n in counts], "k--", label="exact draws (floor)")
    for name in names:
        a1.loglog(counts, out["by_count"][name], "o-", label=name)
    a1.set_xlabel("particles N")
    a1.set_ylabel("sliced Wasserstein-2 to the exact posterior")
    a1.set_title(f"d_x = {args.dx}, d_y = {args.dy}, {args.steps} steps")
    a1.legend(fontsize=8)
    for k, name in enumerate(names):
        color = f"C{k}"
        a2.semilogx(step_grid, out["by_steps"][f"{name}|0.0"], "o-", color=color, label=name)
        a2.semilogx(step_grid, out["by_steps"][f"{name}|{args.teleport}"], "s--", color=color,
                    label=f"{name}, teleport {args.teleport:g}")
    a2.axhline(out["floor"].get(args.particles, np.nan), color="k", ls=":", label="floor")
    a2.set_xlabel("steps")
    a2.set_ylabel("sliced Wasserstein-2")
    a2.set_title(f"N = {args.particles}")
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"\n# wrote {args.png}; load {tuple(round(v, 2) for v in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
