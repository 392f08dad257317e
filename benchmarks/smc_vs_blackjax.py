"""Adaptive tempered SMC: a compiled Augury model next to hand-written BlackJAX, same particles.

    python benchmarks/smc_vs_blackjax.py                  # both models, N = 1000, 20 seeds
    python benchmarks/smc_vs_blackjax.py --seeds 5 --only gauss10

Two models with a closed-form evidence, so that the error of log Ẑ is known:

* `gauss10`: θ ∈ R^10, θ_d ~ N(0, 1), 20 observations y_{d,i} ~ N(θ_d, 1) per dimension;
* `regression5`: β ∈ R^5 ~ N(0, I), 50 observations y = X β + N(0, 0.5²), X with correlated
  columns (ρ = 0.9), so the posterior is correlated and narrow.

BlackJAX side, as its documentation writes it: `blackjax.adaptive_tempered_smc` with a
random-walk Metropolis kernel (`blackjax.additive_step_random_walk`, isotropic Gaussian
proposal whose scale is set to 2.38/√d times the true posterior sd: a scale the hand-written
version is given for free), systematic resampling, target ESS 0.5, `num_mcmc_steps` moves,
the whole run one jitted `lax.while_loop`.  Augury side: the model file through
`Model.sample(method="smc", particles=N, mcmc_steps=...)`, whose moves use the particles'
covariance and adapt their scale and number.

Reported per model and side: the median wall time of a run after compilation, the mean number
of temperatures, and the log Ẑ error (mean ± sd over seeds).  When Augury's run takes longer,
an equal-time row follows: Augury with fewer particles, so that its time matches BlackJAX's.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import augury  # noqa: E402,F401  (before JAX: its XLA flags)


def gauss10():
    rng = np.random.default_rng(1)
    d, n = 10, 20
    theta = rng.normal(size=d)
    y = theta[None, :] + rng.normal(size=(n, d))
    # per dimension the 20 observations are N(0, I + 11ᵀ): closed-form marginal
    cov = np.eye(n) + np.ones((n, n))
    from scipy.stats import multivariate_normal
    log_z = sum(multivariate_normal(np.zeros(n), cov).logpdf(y[:, j]) for j in range(d))
    post_sd = 1 / math.sqrt(n + 1)
    src = """
data y : real[N, D]
param theta : real[D]
theta ~ normal(0, 1)
for i in range(N) { y[i] ~ normal(theta, 1) }
"""

    def log_prior(th):
        import jax.numpy as jnp
        return -0.5 * jnp.sum(th ** 2) - 0.5 * d * math.log(2 * math.pi)

    def log_lik(th):
        import jax.numpy as jnp
        return -0.5 * jnp.sum((y - th) ** 2) - 0.5 * n * d * math.log(2 * math.pi)

    return dict(src=src, data={"y": y}, d=d, log_z=log_z, post_sd=post_sd, log_prior=log_prior, log_lik=log_lik)


def regression5():
    rng = np.random.default_rng(2)
    d, n, noise = 5, 50, 0.5
    c = 0.9 * np.ones((d, d)) + 0.1 * np.eye(d)
    X = rng.multivariate_normal(np.zeros(d), c, size=n)
    beta = rng.normal(size=d)
    y = X @ beta + noise * rng.normal(size=n)
    from scipy.stats import multivariate_normal
    log_z = multivariate_normal(np.zeros(n), X @ X.T + noise ** 2 * np.eye(n)).logpdf(y)
    post_cov = np.linalg.inv(np.eye(d) + X.T @ X / noise ** 2)
    post_sd = float(np.sqrt(np.diag(post_cov)).mean())
    src = """
data X : real[N, D]
data y : real[N]
param beta : real[D]
const noise = 0.5
beta ~ normal(0, 1)
y ~ normal(X @ beta, noise)
"""

    def log_prior(b):
        import jax.numpy as jnp
        return -0.5 * jnp.sum(b ** 2) - 0.5 * d * math.log(2 * math.pi)

    def log_lik(b):
        import jax.numpy as jnp
        r = y - X @ b
        return -0.5 * jnp.sum(r ** 2) / noise ** 2 - n * math.log(noise) - 0.5 * n * math.log(2 * math.pi)

    return dict(src=src, data={"X": X, "y": y}, d=d, log_z=log_z, post_sd=post_sd, log_prior=log_prior,
                log_lik=log_lik)


MODELS = {"gauss10": gauss10, "regression5": regression5}


def blackjax_runner(m: dict, n: int, moves: int):
    import blackjax
    import jax
    import jax.numpy as jnp
    from blackjax.smc.resampling import systematic

    d = m["d"]
    scale = 2.38 / math.sqrt(d) * m["post_sd"]
    rw = blackjax.additive_step_random_walk.build_kernel()

    def step_fn(key, state, logdensity_fn):
        return rw(key, state, logdensity_fn, lambda k, x: scale * jax.random.normal(k, x.shape, x.dtype))

    smc = blackjax.adaptive_tempered_smc(m["log_prior"], m["log_lik"], step_fn, blackjax.rmh.init,
                                         mcmc_parameters={}, resampling_fn=systematic, target_ess=0.5,
                                         num_mcmc_steps=moves)

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        state = smc.init(jax.random.normal(k0, (n, d), jnp.float64))

        def cond(c):
            return c[0].tempering_param < 1

        def body(c):
            state, k, log_z, steps = c
            k, sub = jax.random.split(k)
            state, info = smc.step(sub, state)
            return state, k, log_z + info.log_likelihood_increment, steps + 1

        state, _, log_z, steps = jax.lax.while_loop(cond, body, (state, k1, jnp.zeros((), jnp.float64), 0))
        return log_z, steps

    return run


def time_blackjax(m, n, moves, seeds):
    import jax
    run = blackjax_runner(m, n, moves)
    t0 = time.perf_counter()
    jax.block_until_ready(run(jax.random.PRNGKey(10_000)))
    compile_s = time.perf_counter() - t0
    times, errs, temps = [], [], []
    for s in range(seeds):
        t0 = time.perf_counter()
        lz, steps = jax.block_until_ready(run(jax.random.PRNGKey(s)))
        times.append(time.perf_counter() - t0)
        errs.append(float(lz) - m["log_z"])
        temps.append(int(steps))
    return dict(times=times, errs=errs, temps=temps, compile=compile_s)


def time_augury(m, n, moves, seeds, **extra):
    model = augury.compile(m["src"])
    t0 = time.perf_counter()
    model.sample(m["data"], method="smc", seed=10_000, particles=n, mcmc_steps=moves, **extra)
    compile_s = time.perf_counter() - t0
    times, errs, temps = [], [], []
    for s in range(seeds):
        t0 = time.perf_counter()
        post = model.sample(m["data"], method="smc", seed=s, particles=n, mcmc_steps=moves, **extra)
        times.append(time.perf_counter() - t0)
        errs.append(post.log_evidence - m["log_z"])
        temps.append(len(post.sample_stats["temperature"]))
    return dict(times=times, errs=errs, temps=temps, compile=compile_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--moves", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--only", nargs="+", choices=list(MODELS))
    args = ap.parse_args()
    import jax
    print(f"adaptive tempered SMC, N = {args.particles}, {args.seeds} seeds, load average {os.getloadavg()[0]:.2f}")
    header = f"{'model':<12} {'side':<24} {'time s':>8} {'temps':>6} {'log Z err (mean ± sd)':>22} {'compile s':>9}"
    print(header)
    print("-" * len(header))
    with jax.enable_x64(True):
        for name in args.only or list(MODELS):
            m = MODELS[name]()
            rows = [("blackjax (rw, tuned scale)", time_blackjax(m, args.particles, args.moves, args.seeds)),
                    ("augury smc", time_augury(m, args.particles, args.moves, args.seeds))]
            bj_time = statistics.median(rows[0][1]["times"])
            au_time = statistics.median(rows[1][1]["times"])
            if au_time > bj_time * 1.1:  # the equal-time row: fewer particles, the same settings otherwise
                fewer = max(100, int(round(args.particles * bj_time / au_time, -2)))
                rows.append((f"augury smc (N = {fewer})", time_augury(m, fewer, args.moves, args.seeds)))
            for side, r in rows:
                e = np.asarray(r["errs"])
                print(f"{name:<12} {side:<24} {statistics.median(r['times']):8.3f} {np.mean(r['temps']):6.1f} "
                      f"{e.mean():+10.3f} ± {e.std(ddof=1):<9.3f} {r['compile']:9.1f}")


if __name__ == "__main__":
    main()
