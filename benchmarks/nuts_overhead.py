#!/usr/bin/env python
"""NUTS overhead of a compiled Augury model against the same model hand-written in NumPyro.

For each benchmark model (eight schools, non-centered; logistic regression N x D) this measures

  * compile + first run: wall time of the first `MCMC.run` (tracing, XLA compilation and
    sampling).  For Augury it also includes `augury.compile` + `bind` (parse, check, lower).
  * steady state: a full `MCMC.run` on the same `MCMC` object after the first run, so JAX's
    caches are hot for both.  The Augury side is `LoweredModel.numpyro_model` inside an MCMC
    with exactly the settings of the hand-written one.  Hand and Augury runs are interleaved
    (`--repeats` of each) and the fastest run is reported (noise on a shared machine only adds time).
  * the public path `augury.compile(...).sample(...)` end to end (each call binds, lowers and
    builds a fresh NUTS/MCMC, so it pays tracing and XLA compilation again every call).
  * posterior-mean agreement: max over all parameter elements of
    |mean_aug - mean_hand| / sd_hand (Monte Carlo noise alone gives ~ sqrt(2 / ESS)).
  * the cost of one potential-energy + gradient evaluation, on the same unconstrained point:
    per jitted call (dispatch included, `block_until_ready` after each call) and per evaluation
    inside one jitted `fori_loop` (no dispatch; closer to what NUTS sees).
  * the size of both potential functions: jaxpr equation counts (top level and recursive) of
    the potential and of its value-and-gradient, and the instruction count of the optimized HLO.

Run from the repository root:  python benchmarks/nuts_overhead.py [--chains 1 --warmup 500 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

_T_IMPORT = time.perf_counter()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402
from numpyro.infer.util import initialize_model  # noqa: E402

import augury  # noqa: E402

IMPORT_S = time.perf_counter() - _T_IMPORT

# ----------------------------------------------------------------------------- models

LOGREG_AUG = """\
# Logistic regression with an intercept.
model logreg
data  X : real[N, D]
data  y : bool[N]
param alpha : real
param beta : real[D]

alpha ~ normal(0, 5)
beta ~ normal(0, 1)
y ~ bernoulli(logits = alpha + X @ beta)
"""


def eight_schools_hand(J, sigma, y):
    """The same model as examples/eight_schools.aug, written directly in NumPyro."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    theta_trans = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0).expand([J]).to_event(1))
    theta = numpyro.deterministic("theta", mu + tau * theta_trans)
    numpyro.sample("y", dist.Normal(theta, sigma).to_event(1), obs=y)


def logreg_hand(X, y):
    D = X.shape[1]
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 5.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([D]).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=alpha + X @ beta).to_event(1), obs=y)


def make_benchmarks(args) -> list[dict]:
    out = []
    if "eight_schools" in args.only:
        data = json.loads((ROOT / "examples" / "eight_schools.json").read_text())
        y = jnp.asarray(np.asarray(data["y"], np.float32))
        sigma = jnp.asarray(np.asarray(data["sigma"], np.float32))
        out.append(dict(
            name="eight_schools",
            aug_source=(ROOT / "examples" / "eight_schools.aug").read_text(),
            aug_data=data,
            hand_model=eight_schools_hand,
            hand_args=(int(y.shape[0]), sigma, y),
            params=["mu", "tau", "theta_trans"],
            site_map={},  # hand site -> augury site, where the names differ
        ))
    if "logreg" in args.only:
        rng = np.random.default_rng(args.data_seed)
        n, d = args.n, args.d
        X = rng.normal(size=(n, d)).astype(np.float32)
        beta = rng.normal(size=d)
        alpha = 0.5
        p = 1.0 / (1.0 + np.exp(-(alpha + X.astype(np.float64) @ beta)))
        yv = (rng.random(n) < p).astype(np.int32)
        out.append(dict(
            name=f"logreg_N{n}_D{d}",
            aug_source=LOGREG_AUG,
            aug_data={"X": X, "y": yv.astype(bool)},
            hand_model=logreg_hand,
            hand_args=(jnp.asarray(X), jnp.asarray(yv)),
            params=["alpha", "beta"],
            site_map={},
        ))
    return out


# ----------------------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_mcmc(model, args) -> MCMC:
    """The settings `augury.runtime.samplers.nuts.sample_nuts` uses (defaults target_accept 0.8,
    max_tree_depth 10; one CPU device, so chains run 'sequential')."""
    chain_method = "parallel" if jax.local_device_count() >= args.chains > 1 else "sequential"
    kernel = NUTS(model, target_accept_prob=0.8, max_tree_depth=10)
    return MCMC(kernel, num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains,
                chain_method=chain_method, progress_bar=False)


def timed_run(mcmc: MCMC, seed: int, margs: tuple) -> float:
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), *margs, extra_fields=("diverging", "num_steps"))
    jax.block_until_ready(mcmc.get_samples())
    return time.perf_counter() - t0


def run_stats(mcmc: MCMC) -> dict:
    ex = mcmc.get_extra_fields()
    return {"mean_steps": float(np.mean(np.asarray(ex["num_steps"]))),
            "divergences": int(np.sum(np.asarray(ex["diverging"])))}


def max_mean_diff(hand: dict, aug: dict, params: list[str], site_map: dict) -> tuple[float, str]:
    """max over parameter elements of |mean_aug - mean_hand| / sd_hand (draws pooled over chains)."""
    worst, where = -1.0, ""
    for p in params:
        h = np.asarray(hand[p], np.float64)  # (draws, *shape), chains pooled
        a = np.asarray(aug[site_map.get(p, p)], np.float64).reshape((-1,) + h.shape[1:])
        z = np.abs(a.mean(0) - h.mean(0)) / h.std(0, ddof=1)
        k = int(np.argmax(z))
        if float(np.ravel(z)[k]) > worst:
            worst = float(np.ravel(z)[k])
            where = p if z.ndim == 0 else f"{p}[{k}]"
    return worst, where


def posterior_draws(post, params, site_map) -> dict:
    return {site_map.get(p, p): np.asarray(post.samples(site_map.get(p, p))) for p in params}


# ---------------------------------------------------------------- jaxpr / HLO sizes

def _subjaxprs(v):
    if hasattr(v, "eqns"):
        yield v
    elif hasattr(v, "jaxpr") and hasattr(v, "consts"):
        yield v.jaxpr
    elif isinstance(v, (tuple, list)):
        for x in v:
            yield from _subjaxprs(x)


def count_eqns(jaxpr, prims: Counter | None = None) -> int:
    """Equations of a jaxpr, counting those of nested jaxprs (pjit, while, cond, custom_jvp ...)."""
    n = 0
    for eqn in jaxpr.eqns:
        n += 1
        if prims is not None:
            prims[eqn.primitive.name] += 1
        for v in eqn.params.values():
            for sub in _subjaxprs(v):
                n += count_eqns(sub, prims)
    return n


def hlo_instructions(fn, *xs) -> int:
    text = jax.jit(fn).lower(*xs).compile().as_text()
    return sum(1 for line in text.splitlines() if re.match(r"\s*(ROOT\s+)?%?[\w.\-]+ = ", line))


def size_report(fn, z) -> dict:
    closed = jax.make_jaxpr(fn)(z)
    closed_g = jax.make_jaxpr(jax.value_and_grad(fn))(z)
    prims = Counter()
    total_g = count_eqns(closed_g.jaxpr, prims)
    return {
        "pot_top": len(closed.jaxpr.eqns), "pot_total": count_eqns(closed.jaxpr),
        "vg_top": len(closed_g.jaxpr.eqns), "vg_total": total_g,
        "consts": len(closed_g.consts),
        "const_elems": int(sum(np.size(c) for c in closed_g.consts)),
        "hlo_vg": hlo_instructions(jax.value_and_grad(fn), z),
        "prims": prims,
    }


# ----------------------------------------------------------------- gradient timing

def map_point(z_hand: dict, z_aug_proto: dict, site_map: dict) -> dict:
    """The hand model's unconstrained point, renamed/reshaped to the Augury model's sites."""
    out = {}
    for name, v in z_hand.items():
        target = site_map.get(name, name)
        if target not in z_aug_proto:
            raise KeyError(f"hand site `{name}` has no Augury counterpart (Augury sites: {sorted(z_aug_proto)})")
        want = jnp.shape(z_aug_proto[target])
        if jnp.size(v) != int(np.prod(want, dtype=np.int64)):
            raise ValueError(f"site `{name}`: hand shape {jnp.shape(v)} vs Augury shape {want}")
        out[target] = jnp.reshape(v, want).astype(jnp.asarray(z_aug_proto[target]).dtype)
    extra = set(z_aug_proto) - set(out)
    if extra:
        raise KeyError(f"Augury sites with no hand counterpart: {sorted(extra)}")
    return out


def time_calls(f, z, n_calls: int, repeats: int) -> float:
    """Median over `repeats` batches of seconds per call, blocking after every call."""
    for _ in range(max(10, n_calls // 20)):
        jax.block_until_ready(f(z))
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_calls):
            jax.block_until_ready(f(z))
        per.append((time.perf_counter() - t0) / n_calls)
    return min(per)


def looped(vg, n_calls: int):
    """`n_calls` value-and-gradient evaluations inside one jitted fori_loop; each point depends on
    the previous gradient, so nothing can be hoisted or skipped (as in a leapfrog trajectory)."""
    def body(_, carry):
        z, acc = carry
        v, g = vg(z)
        z = jax.tree.map(lambda a, b: a - 1e-7 * b, z, g)
        return z, acc + v
    return jax.jit(lambda z: jax.lax.fori_loop(0, n_calls, body, (z, jnp.zeros((), jnp.float32))))


def grad_bench(b: dict, lowered, args) -> dict:
    key = jax.random.PRNGKey(args.seed)
    info_h = initialize_model(key, b["hand_model"], model_args=b["hand_args"])
    info_a = initialize_model(key, lowered.numpyro_model)
    z_h = info_h.param_info.z
    z_a = map_point(z_h, info_a.param_info.z, b["site_map"])
    pot_h, pot_a = info_h.potential_fn, info_a.potential_fn
    vg_h, vg_a = jax.jit(jax.value_and_grad(pot_h)), jax.jit(jax.value_and_grad(pot_a))
    vh, gh = vg_h(z_h)
    va, ga = vg_a(z_a)
    inv = {v: k for k, v in b["site_map"].items()}
    gdiff = max(float(jnp.max(jnp.abs(jnp.ravel(ga[k]) - jnp.ravel(gh[inv.get(k, k)])))) for k in ga)
    gscale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(gh))
    out = {"potential_hand": float(vh), "potential_aug": float(va), "grad_max_abs_diff": gdiff,
           "grad_max_abs": gscale}
    # per call (dispatch + execution), interleaved by repeat to share the machine's load fairly
    ch, ca = [], []
    for _ in range(args.repeats):
        ch.append(time_calls(vg_h, z_h, args.calls, 1))
        ca.append(time_calls(vg_a, z_a, args.calls, 1))
    out["call_hand_s"], out["call_aug_s"] = min(ch), min(ca)
    # per evaluation inside one compiled loop
    lh, la = looped(jax.value_and_grad(pot_h), args.calls), looped(jax.value_and_grad(pot_a), args.calls)
    jax.block_until_ready(lh(z_h))
    jax.block_until_ready(la(z_a))
    th, ta = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(lh(z_h))
        th.append((time.perf_counter() - t0) / args.calls)
        t0 = time.perf_counter()
        jax.block_until_ready(la(z_a))
        ta.append((time.perf_counter() - t0) / args.calls)
    out["loop_hand_s"], out["loop_aug_s"] = min(th), min(ta)
    # sizes
    out["size_hand"] = size_report(pot_h, z_h)
    out["size_aug"] = size_report(pot_a, z_a)
    # model tracing (paid by every initialize_model, i.e. by every MCMC.run's kernel init)
    tr_h, tr_a = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        initialize_model(key, b["hand_model"], model_args=b["hand_args"])
        tr_h.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        initialize_model(key, lowered.numpyro_model)
        tr_a.append(time.perf_counter() - t0)
    out["init_hand_s"], out["init_aug_s"] = statistics.median(tr_h), statistics.median(tr_a)
    return out


# ------------------------------------------------- steady state without MCMC's caches

def compiled_runner(model, margs: tuple, args):
    """All chains (init + warmup + sampling) as the single jitted function of the key that
    `model.sample` runs (`augury.runtime.samplers.nuts.build_run`), on either model: the hand
    one with its data bound as arguments, or Augury's lowered one.  Calling it again runs no
    Python and compiles nothing, so its time is the sampler's compute alone."""
    from functools import partial

    from augury.runtime.samplers.nuts import build_run, resolve_chain_method
    bound = partial(model, *margs) if margs else model
    return build_run(bound, method="nuts", warmup=int(args.warmup), samples=int(args.samples),
                     chains=int(args.chains), target_accept=0.8, max_tree_depth=10, num_steps=None,
                     trajectory_length=2 * np.pi, thinning=1, chain_method=resolve_chain_method("auto"))


def compiled_steady(b: dict, lowered, args, r: dict) -> None:
    """First call (compile) and steady-state time of `compiled_runner` for both sides, with the
    same key; hand and Augury calls take turns."""
    run_h = compiled_runner(b["hand_model"], b["hand_args"], args)
    run_a = compiled_runner(lowered.numpyro_model, (), args)
    key = jax.random.PRNGKey(args.seed)

    def go(run):
        t0 = time.perf_counter()
        out = run(key)
        jax.block_until_ready(out)
        return time.perf_counter() - t0, out

    r["loop_first_hand_s"], _ = go(run_h)
    r["loop_first_aug_s"], _ = go(run_a)
    th, ta = [], []
    for _ in range(args.repeats):
        t, oh = go(run_h)
        th.append(t)
        t, oa = go(run_a)
        ta.append(t)
    r["loop_hand_runs"], r["loop_aug_runs"] = th, ta
    r["loop_steady_hand_s"], r["loop_steady_aug_s"] = min(th), min(ta)
    r["loop_steps_hand"] = float(np.mean(np.asarray(oh[1][2])))
    r["loop_steps_aug"] = float(np.mean(np.asarray(oa[1][2])))


# ----------------------------------------------------------------------------- main

def bench_one(b: dict, args) -> dict:
    r: dict = {"name": b["name"]}
    name = b["name"]

    log(f"{name}: hand-written, compile + first run")
    mh = make_mcmc(b["hand_model"], args)
    r["first_hand_s"] = timed_run(mh, args.seed, b["hand_args"])

    log(f"{name}: augury, compile + bind + first run")
    t0 = time.perf_counter()
    model = augury.compile(b["aug_source"])
    lowered, data_warnings = model.bind(b["aug_data"])
    r["aug_frontend_s"] = time.perf_counter() - t0
    if data_warnings or model.warnings:
        log(f"{name}: augury warnings: {list(map(str, model.warnings)) + list(data_warnings)}")
    ma = make_mcmc(lowered.numpyro_model, args)
    r["first_aug_s"] = r["aug_frontend_s"] + timed_run(ma, args.seed, ())

    log(f"{name}: repeated mcmc.run on the same MCMC objects, {args.mcmc_repeats} interleaved repeats")
    th, ta = [], []
    for i in range(args.mcmc_repeats):
        th.append(timed_run(mh, args.seed, b["hand_args"]))
        ta.append(timed_run(ma, args.seed, ()))
        log(f"{name}:   repeat {i}: hand {th[-1]:.3f} s, augury {ta[-1]:.3f} s")
    r["steady_hand_runs"], r["steady_aug_runs"] = th, ta
    nan = float("nan")
    r["steady_hand_s"] = statistics.median(th) if th else nan
    r["steady_aug_s"] = statistics.median(ta) if ta else nan
    r["stats_hand"], r["stats_aug"] = run_stats(mh), run_stats(ma)
    hand_draws = mh.get_samples()
    r["max_mean_diff"], r["max_mean_diff_at"] = max_mean_diff(hand_draws, ma.get_samples(), b["params"],
                                                              b["site_map"])

    log(f"{name}: steady state of one jitted NUTS loop (no MCMC object), {args.repeats} repeats")
    try:
        compiled_steady(b, lowered, args, r)
        log(f"{name}:   hand {r['loop_hand_runs']}, augury {r['loop_aug_runs']}")
    except Exception as ex:
        r["loop_error"] = f"{type(ex).__name__}: {ex}"
        log(f"{name}: jitted-loop steady state failed: {r['loop_error']}")

    try:
        _public_path(b, args, r, hand_draws)
    except Exception as ex:  # keep the other measurements
        r["public_error"] = f"{type(ex).__name__}: {ex}"
        log(f"{name}: public path failed: {r['public_error']}")

    log(f"{name}: potential + gradient, {args.calls} calls x {args.repeats}")
    try:
        r["grad"] = grad_bench(b, lowered, args)
    except Exception as ex:
        r["grad_error"] = f"{type(ex).__name__}: {ex}"
        log(f"{name}: gradient benchmark failed: {r['grad_error']}")
    return r


def _public_path(b: dict, args, r: dict, hand_draws: dict) -> None:
    name = b["name"]
    log(f"{name}: public path, model.sample(...) x {args.public_repeats}")
    pub = []
    post = None
    m2 = augury.compile(b["aug_source"])
    for _ in range(args.public_repeats):
        t0 = time.perf_counter()
        post = m2.sample(data=b["aug_data"], method="nuts", seed=args.seed, chains=args.chains,
                         warmup=args.warmup, samples=args.samples, progress=False, precision=args.precision)
        pub.append((time.perf_counter() - t0, float(post.timing.get("sampling_s", float("nan")))))
        log(f"{name}:   sample(): {pub[-1][0]:.2f} s (of which sampling {pub[-1][1]:.2f} s)")
    r["public_runs"] = pub
    if post is not None:
        r["public_max_mean_diff"], _ = max_mean_diff(hand_draws, posterior_draws(post, b["params"], b["site_map"]),
                                                     b["params"], b["site_map"])


def fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def report(results: list[dict], args) -> str:
    nan = float("nan")
    out = []
    out.append(f"NUTS: chains={args.chains} warmup={args.warmup} samples={args.samples} seed={args.seed}. "
               f"hand s / augury s = steady state: fastest of {args.repeats} calls of one jitted NUTS run "
               f"(init + warmup + samples, all chains) after a first call; first = what a user waits for the first "
               f"time: hand-written NumPyro MCMC.run vs augury.compile(text).sample() (parse, check, bind, compile, "
               f"sample)")
    rows = []
    for r in results:
        lh, la = r.get("loop_steady_hand_s", nan), r.get("loop_steady_aug_s", nan)
        first_pub = r["public_runs"][0][0] if r.get("public_runs") else nan
        rows.append([r["name"], f"{lh:.3f}", f"{la:.3f}", f"{la / lh:.3f}", f"{r['first_hand_s']:.1f}",
                     f"{first_pub:.1f}", f"{first_pub / r['first_hand_s']:.2f}", f"{r['max_mean_diff']:.3f}"])
    out.append(fmt_table(["model", "hand s", "augury s", "ratio", "first MCMC.run hand s",
                          "first sample() augury s", "ratio", "max mean diff (sd units)"], rows))
    out.append("")
    rows = []
    for r in results:
        sh, sa = r["stats_hand"], r["stats_aug"]
        rows.append([r["name"], " ".join(f"{x:.2f}" for x in r.get("loop_hand_runs", [])),
                     " ".join(f"{x:.2f}" for x in r.get("loop_aug_runs", [])),
                     f"{r.get('loop_first_hand_s', nan):.1f} / {r.get('loop_first_aug_s', nan):.1f}",
                     f"{r.get('loop_steps_hand', nan):.1f} / {r.get('loop_steps_aug', nan):.1f}",
                     f"{sh['mean_steps']:.1f} / {sa['mean_steps']:.1f}", f"{sh['divergences']} / {sa['divergences']}",
                     f"{r['aug_frontend_s']:.2f}", r["max_mean_diff_at"]])
    out.append(fmt_table(["model", "loop runs hand s", "loop runs augury s", "loop first call h/a s",
                          "loop leapfrogs/iter h/a", "MCMC leapfrogs/iter h/a", "MCMC divergent h/a",
                          "augury parse+bind s", "worst param"], rows))
    out.append("")
    rows = []
    for r in results:
        if r["steady_hand_runs"]:
            rows.append([r["name"], " ".join(f"{x:.1f}" for x in r["steady_hand_runs"]),
                         " ".join(f"{x:.1f}" for x in r["steady_aug_runs"]),
                         f"{r['steady_aug_s'] / r['steady_hand_s']:.3f}"])
    if rows:
        out.append("mcmc.run called again on the same MCMC object (numpyro re-traces and XLA recompiles its "
                   "sampling loop each time, so these are compile-dominated):")
        out.append(fmt_table(["model", "hand s", "augury s", "ratio"], rows))
        out.append("")
    rows = []
    for r in (r for r in results if "grad" in r):
        g = r["grad"]
        rows.append([r["name"], f"{g['call_hand_s'] * 1e6:.1f}", f"{g['call_aug_s'] * 1e6:.1f}",
                     f"{g['call_aug_s'] / g['call_hand_s']:.3f}", f"{g['loop_hand_s'] * 1e6:.2f}",
                     f"{g['loop_aug_s'] * 1e6:.2f}", f"{g['loop_aug_s'] / g['loop_hand_s']:.3f}",
                     f"{g['grad_max_abs_diff']:.2e} (of {g['grad_max_abs']:.1e})",
                     f"{g['potential_aug'] - g['potential_hand']:+.4f}"])
    out.append(f"potential energy + gradient, same unconstrained point ({args.calls} evaluations, "
               f"fastest of {args.repeats}):")
    out.append(fmt_table(["model", "hand us/call", "augury us/call", "ratio", "hand us/eval in loop",
                          "augury us/eval in loop", "ratio", "max |grad diff|", "U_aug - U_hand"], rows))
    out.append("")
    rows = []
    for r in (r for r in results if "grad" in r):
        h, a = r["grad"]["size_hand"], r["grad"]["size_aug"]
        rows.append([r["name"], f"{h['pot_top']} / {a['pot_top']}", f"{h['pot_total']} / {a['pot_total']}",
                     f"{h['vg_top']} / {a['vg_top']}", f"{h['vg_total']} / {a['vg_total']}",
                     f"{h['hlo_vg']} / {a['hlo_vg']}", f"{h['consts']} / {a['consts']}",
                     f"{r['grad']['init_hand_s'] * 1e3:.1f} / {r['grad']['init_aug_s'] * 1e3:.1f}"])
    out.append("sizes, hand / augury (jaxpr equations: top level and counting nested jaxprs):")
    out.append(fmt_table(["model", "U eqns top", "U eqns total", "U+grad eqns top", "U+grad eqns total",
                          "U+grad HLO instrs", "jaxpr consts", "initialize_model ms"], rows))
    for r in (r for r in results if "grad" in r):
        h, a = r["grad"]["size_hand"]["prims"], r["grad"]["size_aug"]["prims"]
        diff = {k: a.get(k, 0) - h.get(k, 0) for k in set(h) | set(a) if a.get(k, 0) != h.get(k, 0)}
        items = sorted(diff.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        out.append(f"  {r['name']}: primitives in U+grad jaxpr, augury minus hand: "
                   + (", ".join(f"{k} {v:+d}" for k, v in items) or "none"))
    out.append("")
    rows = []
    for r in results:
        if not r.get("public_runs"):
            continue
        pub = r["public_runs"]
        last_total, last_run = pub[-1]
        rows.append([r["name"], " ".join(f"{t:.1f}" for t, _ in pub), f"{last_run:.3f}",
                     f"{last_total - r.get('loop_steady_aug_s', nan):.1f}",
                     f"{last_total / r.get('loop_steady_hand_s', nan):.1f}",
                     f"{r['public_max_mean_diff']:.3f}"])
    if rows:
        out.append("public path, augury.compile(text).sample(...) end to end (the first call compiles; later "
                   "calls with the same data reuse the compiled sampler):")
        out.append(fmt_table(["model", "sample() calls s", "of which sampling s (last)",
                              "overhead vs steady s (last)", "last / hand steady", "max mean diff (sd units)"],
                             rows))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3,
                    help="steady-state runs of the jitted NUTS loop (and gradient batches) per side")
    ap.add_argument("--mcmc-repeats", type=int, default=1,
                    help="extra mcmc.run calls on the same MCMC object per side (each recompiles its sampling "
                         "loop with numpyro 0.22 / jax 0.10, so these time compile + sampling)")
    ap.add_argument("--public-repeats", type=int, default=2, help="calls of model.sample(...) (0 to skip)")
    ap.add_argument("--precision", default="float32", choices=["float32", "float64"],
                    help="precision of the public path (float32 matches the hand-written NumPyro model)")
    ap.add_argument("--calls", type=int, default=1000, help="potential+gradient evaluations per batch")
    ap.add_argument("--seed", type=int, default=0, help="NUTS seed (same for both sides)")
    ap.add_argument("--data-seed", type=int, default=20240501, help="numpy seed of the simulated regression data")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--only", nargs="+", default=["eight_schools", "logreg"], choices=["eight_schools", "logreg"])
    ap.add_argument("--json", type=str, default=None, help="also write the raw results here")
    args = ap.parse_args(argv)

    log(f"python {platform.python_version()}, jax {jax.__version__}, numpyro {numpyro.__version__}, "
        f"augury {augury.__version__}, devices {jax.devices()}, cpus {os.cpu_count()}, "
        f"load {os.getloadavg() if hasattr(os, 'getloadavg') else '?'}, import {IMPORT_S:.1f} s")
    # one-time costs (backend start-up, numpyro's own jitted helpers) paid by neither side
    log("global warm-up: a tiny NUTS run")
    w = MCMC(NUTS(lambda: numpyro.sample("x", dist.Normal())), num_warmup=5, num_samples=5, progress_bar=False)
    w.run(jax.random.PRNGKey(0))

    results = []
    for b in make_benchmarks(args):
        results.append(bench_one(b, args))
        if args.json:
            _save(args, results)
        try:
            print("\n" + report(results, args) + "\n", flush=True)
        except Exception as ex:  # the raw numbers are in the log and in --json
            print(f"report failed: {type(ex).__name__}: {ex}; raw: {results!r}", flush=True)
    for r in results:
        for k in ("loop_error", "public_error", "grad_error"):
            if k in r:
                print(f"{r['name']}: {k}: {r[k]}")
    return 0


def _save(args, results) -> None:
    if args.json:
        def enc(o):
            if isinstance(o, Counter):
                return dict(o)
            if isinstance(o, (np.floating, np.integer)):
                return o.item()
            raise TypeError(type(o))
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2, default=enc))


if __name__ == "__main__":
    sys.exit(main())
