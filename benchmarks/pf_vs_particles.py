"""Bootstrap particle filter on a stochastic-volatility model: Augury next to `particles` 0.4.

    python benchmarks/pf_vs_particles.py                    # N = 100, 1000, 10000; 20 seeds each
    python benchmarks/pf_vs_particles.py --seeds 5 --sizes 1000

The model (`particles.state_space_models.StochVol`, written as an Augury model file below):
x[0] ~ N(μ, σ²/(1−ρ²)), x[t] = μ + ρ (x[t−1] − μ) + σ ε, y[t] ~ N(0, exp(x[t])), with μ = −1,
ρ = 0.95, σ = 0.2 and T = 1000 observations simulated once (seed 0).  Both sides run a
bootstrap filter with systematic resampling when the ESS falls below N/2, and report:

* **µs/step**: the wall time of one whole filter divided by T, after compilation (the median
  over the seeds; Augury's first run, which compiles, is timed apart as `compile s`);
* **sd log Z**: the standard deviation of the log-likelihood estimate over the seeds;
* **mean log Z**: its mean (both sides estimate the same number).

Augury runs the model file through `Model.sample(method="particle_filter", smoothing="none")`
(the public path: binding is cached, the compiled filter reused) and, as `augury (kernel)`,
`augury.runtime.filtering.run_filter` jitted on the compiled state-space callables (no driver,
no progress blocks).

`particles` 0.4 needs NumPy < 2, which JAX cannot run with, so it runs in its own virtual
environment: set `PARTICLES_PYTHON` to its interpreter, or let the script make one in
`benchmarks/.venv-particles` (`python3 -m venv` + `pip install particles==0.4`, once).
Run it on an otherwise idle machine; one run's ratios are what to report.
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

MU, RHO, SIGMA, T = -1.0, 0.95, 0.2, 1000

MODEL = f"""
model stochastic_volatility
data  y : real[T]
param x : real[T]
const mu = {MU}
const rho = {RHO}
const sigma = {SIGMA}
x[0] ~ normal(mu, sigma / sqrt(1 - rho ** 2))
for t in range(1, T) {{ x[t] ~ normal(mu + rho * (x[t - 1] - mu), sigma) }}
for t in range(T)    {{ y[t] ~ normal(0, exp(x[t] / 2)) }}
"""

PARTICLES_SCRIPT = r"""
import json, sys, time
import numpy as np
import particles
from particles import state_space_models as ssm
cfg = json.loads(sys.stdin.read())
y = np.asarray(cfg["y"])
model = ssm.StochVol(mu=cfg["mu"], rho=cfg["rho"], sigma=cfg["sigma"])
out = {}
for N in cfg["sizes"]:
    times, logz = [], []
    for seed in range(cfg["seeds"]):
        np.random.seed(seed)
        fk = ssm.Bootstrap(ssm=model, data=y)
        alg = particles.SMC(fk=fk, N=N, resampling="systematic", ESSrmin=0.5, store_history=False,
                            collect=None, verbose=False)
        t0 = time.perf_counter()
        alg.run()
        times.append(time.perf_counter() - t0)
        logz.append(float(alg.logLt))
    out[str(N)] = {"times": times, "logz": logz}
print(json.dumps(out))
"""


def simulate() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.empty(T)
    x[0] = MU + SIGMA / np.sqrt(1 - RHO ** 2) * rng.normal()
    for t in range(1, T):
        x[t] = MU + RHO * (x[t - 1] - MU) + SIGMA * rng.normal()
    return np.exp(x / 2) * rng.normal(size=T)


def particles_python() -> str:
    env = os.environ.get("PARTICLES_PYTHON")
    if env:
        return env
    venv = ROOT / "benchmarks" / ".venv-particles"
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"making {venv} with particles==0.4 (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "particles==0.4"], check=True)
    return str(py)


def run_particles(y, sizes, seeds) -> dict:
    cfg = dict(y=y.tolist(), mu=MU, rho=RHO, sigma=SIGMA, sizes=sizes, seeds=seeds)
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
    res = subprocess.run([particles_python(), "-c", PARTICLES_SCRIPT], input=json.dumps(cfg), text=True,
                         capture_output=True, env=env)
    if res.returncode:
        raise SystemExit(f"particles failed:\n{res.stderr}")
    return json.loads(res.stdout)


def run_augury(y, sizes, seeds) -> tuple[dict, dict]:
    import jax

    import augury
    from augury.compiler.problem import problem_for
    from augury.model import precision_scope
    from augury.runtime import filtering as F

    model = augury.compile(MODEL)
    data = {"y": y}
    public, kernel = {}, {}
    for N in sizes:
        times, logz = [], []
        t0 = time.perf_counter()
        model.sample(data, method="particle_filter", seed=10_000, particles=N, smoothing="none")
        compile_s = time.perf_counter() - t0
        for seed in range(seeds):
            t0 = time.perf_counter()
            post = model.sample(data, method="particle_filter", seed=seed, particles=N, smoothing="none")
            times.append(time.perf_counter() - t0)
            logz.append(post.log_evidence)
        public[str(N)] = {"times": times, "logz": logz, "compile": compile_s}
    with precision_scope("float64"):
        lowered, _ = model.bind(data, precision="float64", with_prior=True)
        ss = problem_for("particle_filter", lowered).state_space
        for N in sizes:
            run = jax.jit(lambda k, N=N: F.run_filter(ss, {}, k, N, resample="systematic", ess_threshold=0.5,
                                                       proposal="bootstrap").log_evidence)
            t0 = time.perf_counter()
            run(jax.random.PRNGKey(10_000)).block_until_ready()
            compile_s = time.perf_counter() - t0
            times, logz = [], []
            for seed in range(seeds):
                t0 = time.perf_counter()
                lz = float(run(jax.random.PRNGKey(seed)))
                times.append(time.perf_counter() - t0)
                logz.append(lz)
            kernel[str(N)] = {"times": times, "logz": logz, "compile": compile_s}
    return public, kernel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--json", help="also write the raw numbers here")
    args = ap.parse_args()
    y = simulate()
    print(f"stochastic volatility, T = {T}, seeds = {args.seeds}, load average {os.getloadavg()[0]:.2f}", flush=True)
    theirs = run_particles(y, args.sizes, args.seeds)
    public, kernel = run_augury(y, args.sizes, args.seeds)
    rows = []
    header = f"{'N':>6}  {'library':<16} {'µs/step':>9} {'sd log Z':>9} {'mean log Z':>11} {'compile s':>9}  speed-up"
    print(header)
    print("-" * len(header))
    for N in args.sizes:
        base = statistics.median(theirs[str(N)]["times"]) / T * 1e6
        for name, res in (("particles 0.4", theirs), ("augury", public), ("augury (kernel)", kernel)):
            r = res[str(N)]
            us = statistics.median(r["times"]) / T * 1e6
            comp = f"{r['compile']:9.1f}" if "compile" in r else " " * 9
            print(f"{N:>6}  {name:<16} {us:9.1f} {np.std(r['logz'], ddof=1):9.3f} {np.mean(r['logz']):11.3f} "
                  f"{comp}  {base / us:6.1f}x")
            rows.append(dict(N=N, library=name, us_per_step=us, sd_logz=float(np.std(r["logz"], ddof=1)),
                             mean_logz=float(np.mean(r["logz"]))))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
