"""Tempered SMC on a 10-dimensional conjugate Gaussian: Augury next to `particles` 0.4.

    python benchmarks/tempered_vs_particles.py                # N = 1000, 10 moves, 20 seeds

θ ∈ R^10, θ_d ~ N(0, 1), 20 observations y_{d,i} ~ N(θ_d, 1) per dimension (the `gauss10`
model of smc_vs_blackjax.py; the log evidence is known in closed form).  `particles` runs
`smc_samplers.AdaptiveTempering` with `len_chain = 10` (its defaults otherwise: waste-free
moves, adaptive random-walk scale) and N = 1000; Augury runs the model file with
`smc(particles = 1000, mcmc_steps = 10)`.  Reported: the log Ẑ error, mean ± sd over seeds,
and the median time of a run (Augury after compilation).  When Augury's run takes longer, an
equal-time row follows: Augury with fewer particles, so that a run takes as long as particles'.

`particles` 0.4 needs NumPy < 2: it runs in its own virtual environment (see
pf_vs_particles.py: `PARTICLES_PYTHON`, or `benchmarks/.venv-particles` made once).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pf_vs_particles import particles_python  # noqa: E402
from smc_vs_blackjax import gauss10  # noqa: E402

PARTICLES_SCRIPT = r"""
import json, sys, time
import numpy as np
import particles
from particles import distributions as dists
from particles import smc_samplers as ssp
cfg = json.loads(sys.stdin.read())
y = np.asarray(cfg["y"])
d = y.shape[1]

class Gauss(ssp.StaticModel):
    def logpyt(self, theta, t):
        th = theta["theta"]
        return -0.5 * np.sum((self.data[t] - th) ** 2, axis=1) - 0.5 * d * np.log(2 * np.pi)

prior = dists.StructDist({"theta": dists.MvNormal(loc=np.zeros(d), scale=1.0, cov=np.eye(d))})
times, logz = [], []
for seed in range(cfg["seeds"]):
    np.random.seed(seed)
    fk = ssp.AdaptiveTempering(model=Gauss(data=y, prior=prior), len_chain=cfg["moves"])
    alg = particles.SMC(fk=fk, N=cfg["particles"], verbose=False)
    t0 = time.perf_counter()
    alg.run()
    times.append(time.perf_counter() - t0)
    logz.append(float(alg.logLt))
print(json.dumps({"times": times, "logz": logz}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--moves", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    m = gauss10()
    cfg = dict(y=m["data"]["y"].tolist(), particles=args.particles, moves=args.moves, seeds=args.seeds)
    res = subprocess.run([particles_python(), "-c", PARTICLES_SCRIPT], input=json.dumps(cfg), text=True,
                         capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if res.returncode:
        raise SystemExit(f"particles failed:\n{res.stderr}")
    theirs = json.loads(res.stdout)

    import augury
    model = augury.compile(m["src"])

    def ours(n):
        t0 = time.perf_counter()
        model.sample(m["data"], method="smc", seed=10_000, particles=n, mcmc_steps=args.moves)
        compile_s = time.perf_counter() - t0
        times, logz = [], []
        for s in range(args.seeds):
            t0 = time.perf_counter()
            post = model.sample(m["data"], method="smc", seed=s, particles=n, mcmc_steps=args.moves)
            times.append(time.perf_counter() - t0)
            logz.append(post.log_evidence)
        return times, logz, compile_s

    rows = [("particles 0.4", theirs["times"], theirs["logz"], None)]
    times, logz, compile_s = ours(args.particles)
    rows.append(("augury smc", times, logz, compile_s))
    ratio = statistics.median(theirs["times"]) / statistics.median(times)
    if ratio < 0.9:  # the equal-time row: fewer particles, so that a run takes as long as particles' one
        fewer = max(100, int(round(args.particles * ratio, -1)))
        rows.append((f"augury (N = {fewer})",) + ours(fewer))

    print(f"10-D conjugate Gaussian, N = {args.particles}, {args.moves} moves, {args.seeds} seeds, "
          f"load average {os.getloadavg()[0]:.2f}; exact log Z = {m['log_z']:.3f}")
    header = f"{'library':<16} {'time s':>8} {'log Z err (mean ± sd)':>22} {'compile s':>9}"
    print(header)
    print("-" * len(header))
    for name, t, lz, comp in rows:
        e = np.asarray(lz) - m["log_z"]
        print(f"{name:<16} {statistics.median(t):8.3f} {e.mean():+10.3f} ± {e.std(ddof=1):<9.3f} "
              + (f"{comp:9.1f}" if comp is not None else ""))


if __name__ == "__main__":
    main()
