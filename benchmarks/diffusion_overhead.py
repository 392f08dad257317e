"""Wall time of Augury's diffusion samplers against NFE x one network evaluation.

For each backend (the JAX `digits` network, and its PyTorch port benchmarks/digits_torch.py
bound as a torch.nn.Module), each method (ddrm: one forward per step; dps and pigdm: one
forward + one VJP through the network per step) and each particle count P:

(a) `call`: one batched network call (P, 8, 8) in a tight loop in its own framework: for JAX
    `jax.jit(net)` with `block_until_ready` after every call; for torch the module under
    `torch.no_grad()`.  For dps/pigdm, one forward + VJP (`jax.jit` of `jax.vjp` applied to a
    cotangent; torch: `autograd.grad` with grad_outputs).  The mean over `--calls` calls, the
    fastest of `--repeats` loops.  For JAX also `call (xla loop)`: the same call repeated
    inside one jitted `fori_loop` (no per-call dispatch at all), the pure compute floor.
(b) `sample`: `model.sample(...)` with `steps` steps; the first call (parse, bind, trace, XLA
    compile + one run) is `first s`; then `--repeats` further calls with new seeds (cache hot),
    `post.timing["sampling_s"]`, the fastest reported.  The repeats of (a) and (b) are
    interleaved, so that a change in the machine's load hits both alike.  A method whose run
    ends in NaN (Augury raises) is timed by the loop replica below instead, and flagged.
overhead = sampling_s / (NFE x call) - 1 (NFE = post.settings["network_calls"]).

With `--profile`, where the rest of the time goes, per step (µs), by rebuilding the method's
step (`make_step`) for the same inverse problem and timing loops over it (100 steps, from a
fixed start; the fastest of the repeats):
  loop in blocks:          runtime/reverse.py's loop since steps run in blocks (one compiled
                           `lax.scan` of `block_size` steps per block on JAX, a Python loop on
                           torch), a host sync per block, the residuals fetched at the end;
  blocks, network 0:       the same with the network replaced by a zero prediction (x̂₀ = x/α):
                           the sampler's own arithmetic (SVD maps, RNG, DDIM, residual) and the
                           loop's costs;
  loop per step:           the loop before the blocks: one compiled step per step, its 8
                           coefficients turned into device scalars per step, a host sync every
                           steps/50 steps, one host transfer per step's residual at the end;
  per step, network 0:     that loop with the zero network;
  8 scalars:               building one step's coefficients as device scalars, alone.

    python benchmarks/diffusion_overhead.py                          # both backends, P = 64 and 256
    python benchmarks/diffusion_overhead.py --backends jax --particles 64 --profile
    python benchmarks/diffusion_overhead.py --json /tmp/overhead.json

Needs JAX, Equinox and torch in one environment (the project's, with `pip install torch`);
run it from the repository root.  On a busy machine every number is noisy: the script prints
the load average; compare runs with similar loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MASK_ROWS = (5, 6, 7)  # box_mask(top = 5, height = 3, width = 8): the bottom three rows are hidden

JAX_TEXT = """
model inpaint_digits
data  y : real[8, 8]
param x : real(lower = 0, upper = 1)[8, 8]
const noise = 0.05
x ~ diffusion(net = "digits")
op A = mask(box_mask(top = 5, left = 0, height = 3, width = 8))
y ~ normal(A(x), noise)
"""

# A bound torch.nn.Module declares no data range, so the model is written in the network's
# coordinates [-1, 1]: y_net = 2 y - mask, noise 2 x 0.05 (what the JAX model does internally).
TORCH_TEXT = """
model inpaint_digits_torch
data  y : real[8, 8]
param x : real[8, 8]
const noise = 0.1
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
op A = mask(box_mask(top = 5, left = 0, height = 3, width = 8))
y ~ normal(A(x), noise)
"""

NEEDS_VJP = {"ddrm": False, "dps": True, "pigdm": True}


def data01() -> np.ndarray:
    return np.asarray(json.loads((ROOT / "examples" / "inpaint_digits.json").read_text())["y"], np.float64)


def mask01() -> np.ndarray:
    m = np.ones((8, 8))
    m[list(MASK_ROWS)] = 0.0
    return m


# ----------------------------------------------------------------------------- per-call times


def timed_loop(fn, calls: int) -> float:
    """Mean seconds per call of `calls` calls of fn (fn blocks itself)."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def jax_call_fns(P: int, calls: int) -> dict:
    """name -> (fn, calls per timing): one call blocks on its result."""
    import jax
    import jax.numpy as jnp
    from augury.priors import digits
    net = digits.load()
    x = jax.random.normal(jax.random.PRNGKey(0), (P, 8, 8), jnp.float32)
    t = jnp.full((P,), 0.5, jnp.float32)
    g = jnp.ones_like(x)
    fwd = jax.jit(lambda x, t: net(x, t))

    def vjp_fn(x, t, g):
        out, pull = jax.vjp(lambda v: net(v, t), x)
        return out, pull(g)[0]
    vjp = jax.jit(vjp_fn)

    def loop_of(f):
        @jax.jit
        def run(x):
            # a data dependence between calls, so that XLA keeps (and orders) every call
            return jax.lax.fori_loop(0, calls, lambda i, c: c + 1e-6 * f(c), x)
        return run
    fwd_loop, vjp_loop = loop_of(lambda v: net(v, t)), loop_of(lambda v: vjp_fn(v, t, g)[1])
    fns = {"fwd": (lambda: fwd(x, t).block_until_ready(), calls),
           "vjp": (lambda: jax.block_until_ready(vjp(x, t, g)), calls),
           "fwd_xla": (lambda: fwd_loop(x).block_until_ready(), 1),
           "vjp_xla": (lambda: vjp_loop(x).block_until_ready(), 1)}
    for f, _ in fns.values():
        f()  # compile
    return fns


def torch_call_fns(P: int, calls: int) -> dict:
    import torch
    from digits_torch import load_digits_torch
    net = load_digits_torch()
    x = torch.randn((P, 8, 8), generator=torch.Generator().manual_seed(0))
    t = torch.full((P,), 0.5)
    g = torch.ones_like(x)

    def fwd():
        with torch.no_grad():
            net(x, t)

    def vjp():
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            out = net(leaf, t)
            torch.autograd.grad(out, leaf, grad_outputs=g)
    fwd(), vjp()
    return {"fwd": (fwd, calls), "vjp": (vjp, calls)}


# ----------------------------------------------------------------------------- sampling


def make_model(backend: str):
    import augury
    if backend == "jax":
        return augury.compile(JAX_TEXT), {"y": data01()}
    from digits_torch import load_digits_torch
    model = augury.compile(TORCH_TEXT, bind={"unet": load_digits_torch()})
    return model, {"y": 2 * data01() - mask01()}


def sample_once(model, data, method: str, P: int, steps: int, seed: int):
    """(sampling_s, wall_s, NFE, None) or (None, wall_s, None, error message)."""
    from augury.errors import AuguryError
    t0 = time.perf_counter()
    try:
        post = model.sample(data, method=method, particles=P, steps=steps, seed=seed)
    except AuguryError as ex:
        return None, time.perf_counter() - t0, None, str(ex).splitlines()[0]
    return post.timing["sampling_s"], time.perf_counter() - t0, int(post.settings["network_calls"]), None


def loop_pieces(model, data, method: str, P: int, steps: int) -> dict:
    """Callables that rerun runtime/reverse.py's loop, and variants of it, on the method's own
    `make_step` for this model's inverse problem (see the module docstring); each returns its
    wall time in seconds."""
    import jax
    from augury.runtime import reverse
    from augury.runtime.samplers import SAMPLERS
    bound, _ = model.bind(data, None, "float32", inverse=True)
    inv = bound.compiled_runs[("problem", method)].inverse
    bk = inv.backend
    settings = dict(model._settings(method, {"particles": P, "steps": steps}))
    make_step = SAMPLERS[method].load().make_step
    # the same step with a free network: the prediction is 0 (x̂₀ = x/α, ε̂ = 0)
    inv0 = dataclasses.replace(inv, prior=dataclasses.replace(inv.prior, predict=lambda x, t, a, s: 0.0 * x))
    coeffs = reverse.coefficients(inv.prior.schedule, steps)
    key = jax.random.PRNGKey(7)
    x0 = bk.asarray(np.random.default_rng(0).standard_normal((P, 8, 8)))

    def timed(f):
        def run():
            t0 = time.perf_counter()
            f()
            return time.perf_counter() - t0
        return run

    def blocks(the_inv):
        """runtime/reverse.py's loop since the blocks (one compiled block of `block_size` steps)."""
        size = reverse.block_size(steps)
        run_block = bk.compile_steps(make_step(the_inv, settings))

        def run():
            x, rng, infos = x0, bk.rng(key), []
            for b in range(0, steps, size):
                rows = coeffs[b:b + size]
                x, rng, info = run_block(x, rng, {k: np.array([r[k] for r in rows]) for k in rows[0]})
                bk.block(x)
                infos.append(info)
            bk.to_numpy(x)
            [bk.to_numpy(i["residual"]) for i in infos]
        return timed(run)

    def per_step(the_inv):
        """The loop before the blocks: one compiled step per step, its 8 scalars built per step,
        a host sync every steps/50 steps, one host transfer per step's residual at the end."""
        step = bk.compile(make_step(the_inv, settings))
        block_every = max(1, steps // 50)

        def run():
            x, rng, infos = x0, bk.rng(key), []
            for i in range(steps):
                x, rng, info = step(x, rng, {k: bk.scalar(v) for k, v in coeffs[i].items()})
                infos.append(info)
                if (i + 1) % block_every == 0:
                    bk.block(x)
            bk.block(x)
            bk.to_numpy(x)
            [float(bk.to_numpy(i["residual"])) for i in infos]
        return timed(run)

    def scalars():
        for i in range(steps):
            {k: bk.scalar(v) for k, v in coeffs[i].items()}

    pieces = {"blocks": blocks(inv), "blocks_without_network": blocks(inv0),
              "per_step": per_step(inv), "per_step_without_network": per_step(inv0), "scalars": timed(scalars)}
    if not hasattr(bk, "compile_steps"):  # before the blocks: nothing to compare
        pieces = {k: v for k, v in pieces.items() if not k.startswith("blocks")}
    for f in pieces.values():
        f()  # compile / warm
    return pieces


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", default="jax,torch")
    ap.add_argument("--methods", default="ddrm,dps,pigdm")
    ap.add_argument("--particles", default="64,256")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--calls", type=int, default=200, help="network calls per timing loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="break the per-step time down (see the docstring)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch.set_num_threads (default 1: on a loaded 2-core machine 2 threads make torch's "
                         "times erratic); 0 keeps torch's default")
    args = ap.parse_args(argv)

    import augury  # noqa: F401  (before JAX starts: augury sets its XLA flags)
    import jax
    import torch
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average {os.getloadavg()}; cpus {os.cpu_count()}; "
          f"jax {jax.__version__} ({jax.default_backend()}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    rows, profiles = [], []
    methods = args.methods.split(",")
    for backend in args.backends.split(","):
        model, data = make_model(backend)
        for P in map(int, args.particles.split(",")):
            fns = (jax_call_fns if backend == "jax" else torch_call_fns)(P, args.calls)
            first, errors = {}, {}
            for m in methods:  # the first call: parse, bind, trace, compile, run
                _, first[m], _, err = sample_once(model, data, m, P, args.steps, 0)
                if err:
                    errors[m] = err
                    print(f"  [{backend} P={P}] {m}: {err} (its sampling time is taken from the loop replica "
                          "`blocks` instead)", flush=True)
            pieces = {m: loop_pieces(model, data, m, P, args.steps) for m in methods} \
                if args.profile or errors else {}
            calls = {k: [] for k in fns}
            samp = {m: [] for m in methods}
            prof = {m: {k: [] for k in pieces.get(m, {})} for m in methods}
            nfe = {}
            for r in range(args.repeats):  # interleaved, so that a change of load hits every figure alike
                for k, (f, n) in fns.items():
                    calls[k].append(timed_loop(f, n) / (args.calls if n == 1 else 1))
                for m in methods:
                    s_, _, n_, err = sample_once(model, data, m, P, args.steps, r + 1)
                    if err:
                        s_, n_ = pieces[m]["blocks" if "blocks" in pieces[m] else "per_step"](), args.steps
                    samp[m].append(s_)
                    nfe[m] = n_
                    if args.profile:
                        for k, f in pieces[m].items():
                            prof[m][k].append(f())
            best = {k: min(v) for k, v in calls.items()}
            print(f"[{backend} P={P}] per call (fastest of {args.repeats}): "
                  + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in best.items()), flush=True)
            for m in methods:
                per = best["vjp"] if NEEDS_VJP[m] else best["fwd"]
                smin = min(samp[m])
                row = {"backend": backend, "method": m, "P": P, "steps": args.steps, "nfe": nfe[m],
                       "call_kind": "fwd+vjp" if NEEDS_VJP[m] else "fwd", "call_ms": per * 1e3,
                       "call_runs_ms": [c * 1e3 for c in calls["vjp" if NEEDS_VJP[m] else "fwd"]],
                       "nfe_x_call_s": nfe[m] * per, "sampling_s": smin, "runs_s": samp[m], "first_s": first[m],
                       "overhead": smin / (nfe[m] * per) - 1, "error": errors.get(m)}
                if backend == "jax":
                    xla = best["vjp_xla"] if NEEDS_VJP[m] else best["fwd_xla"]
                    row["call_xla_ms"] = xla * 1e3
                    row["overhead_vs_xla"] = smin / (nfe[m] * xla) - 1
                rows.append(row)
                print(f"  {m:6s} sampling {smin:.3f} s (runs {', '.join(f'{r:.3f}' for r in samp[m])}), "
                      f"first {first[m]:.2f} s, NFE x call {row['nfe_x_call_s']:.3f} s, "
                      f"overhead {100 * row['overhead']:+.1f}%" + (" [NaN run]" if m in errors else ""), flush=True)
                if args.profile:
                    us = 1e6 / args.steps
                    pr = {k: min(v) * us for k, v in prof[m].items()}
                    pr.update(backend=backend, method=m, P=P, call_us=per * 1e6, sampling_us_per_step=smin * us)
                    profiles.append(pr)
                    print("    profile (µs/step): " + ", ".join(
                        f"{k} {v:.0f}" for k, v in pr.items() if isinstance(v, float)), flush=True)

    print(f"\nload average at the end {os.getloadavg()}")
    print("\n| backend | method | P | steps | NFE | per call (ms) | NFE × call (s) | sampling (s) | overhead | "
          "first call (s) | overhead vs XLA-loop call |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        xla = f"{100 * r['overhead_vs_xla']:+.0f}% ({r['call_xla_ms']:.3f} ms)" if "overhead_vs_xla" in r else "–"
        flag = " (NaN; timed by the loop replica)" if r["error"] else ""
        print(f"| {r['backend']} | {r['method']}{flag} | {r['P']} | {r['steps']} | {r['nfe']} | {r['call_ms']:.3f} "
              f"({r['call_kind']}) | {r['nfe_x_call_s']:.3f} | {r['sampling_s']:.3f} | {100 * r['overhead']:+.0f}% | "
              f"{r['first_s']:.2f} | {xla} |")
    if profiles:
        print("\nper step, µs (each the fastest of the repeats):\n")
        print("| backend | method | P | network call | sampling / step | loop in blocks (as run_reverse) | "
              "blocks, network replaced by 0 | loop per step (before the blocks) | per step, network replaced by 0 | "
              "8 scalars (per-step loop) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        g = lambda p, k: f"{p[k]:.0f}" if k in p else "–"  # noqa: E731
        for p in profiles:
            print(f"| {p['backend']} | {p['method']} | {p['P']} | {p['call_us']:.0f} | {p['sampling_us_per_step']:.0f} | "
                  f"{g(p, 'blocks')} | {g(p, 'blocks_without_network')} | {g(p, 'per_step')} | "
                  f"{g(p, 'per_step_without_network')} | {g(p, 'scalars')} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "profiles": profiles}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
