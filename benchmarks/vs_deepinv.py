"""deepinv's DPS and DDRM against Augury's dps and ddrm: same network, same data, same problem.

Problem: inpainting of 8x8 digits from scikit-learn's `load_digits` (pixels / 16, in [0, 1]):
the bottom three rows are hidden (the mask of examples/inpaint_digits.aug), the other 40
pixels are seen with Gaussian noise of sd 0.05; y = mask * (x + 0.05 n), 0 where hidden.
`--images` (20) digits drawn with a fixed seed; NOT held out: the network was trained on all
1797 images (scripts/train_digits.py), so this measures the samplers, not generalization.

Network: the PyTorch port of the shipped `digits` ε-network (benchmarks/digits_torch.py),
one instance, shared by every sampler below; torch with `--torch-threads` threads (1).

- Augury: `augury.compile(text, bind={"unet": net})`.  A bound torch module declares no data
  range, so the model is written in the network's coordinates [-1, 1]: x_net = 2 x − 1, so
  y_net = 2 y − mask = A x_net + 0.1 n (what Augury does itself for a network that declares
  its range, compiler/inverse.py); draws are mapped back by (x_net + 1) / 2.
  `--jax` adds the same runs with the shipped JAX network (`net = "digits"`, model in [0, 1]).
- deepinv (0.5.0): its samplers take a `deepinv.models.Denoiser`, D(x, σ) ≈ E[x₀ | x₀ + σ n]
  on images in [0, 1] (VE convention, σ the noise sd in [0, 1] units).  `EpsDenoiser` wraps the
  ε-network: in network coordinates u = 2x − 1 the noise sd is σ̃ = 2σ; the VP time with the same
  signal-to-noise ratio has σ_vp(t)/α(t) = σ̃, i.e. B(t) = log(1 + σ̃²) with
  B(t) = 0.1 t + (20 − 0.1) t²/2, solved for t; then x_t = α(t) u is a VP state at time t,
  ε̂ = net(x_t, t), û₀ = (x_t − σ_vp ε̂)/α = u − σ̃ ε̂, and D returns (û₀ + 1)/2.
  deepinv's DPS (PosteriorDiffusion, `minus_one_one=True`) carries its state in [-1, 1] and
  wraps D by `MinusOneOneDenoiserWrapper` (σ/2, (x+1)/2), so that its VP SDE with β = (0.1, 20)
  is then exactly the network's own.  Its DDRM calls D directly on [0, 1] images.

Settings (each library's own defaults, except the step counts, which are matched):
- dps: Augury `dps(particles = P, steps = 1000, zeta = 1)` (Algorithm 1 of Chung et al.: an
  ancestral step, then x −= ζ ∇‖y − A x̂₀‖, norm per chain, in network units); deepinv
  `DPS(denoiser, num_steps = 1000)` (its default "ddpm" solver on linspace(1, 0, 1000), guidance
  weight 1 on the norm in [0, 1] units, entered into the score; the denoised estimate clipped
  to [-1, 1]; norm per sample).  The two guidance steps are parametrized differently, so
  "weight 1" and "ζ = 1" are each library's default, not the same step size: deepinv's
  guidance moves the state by about λ β(t) Δt per step (the DDPM step's s₀s₁(σ̃₀² − σ̃₁²)
  factor on the score), i.e. λ = 1 is ≈ 100× weaker than ζ = 1 at 1000 steps.  Both are
  therefore swept: `--dps-zetas` (1, 0.3, 3) and `--dps-weights` (1, 10, 100, 1000).
- ddrm: Augury `ddrm(particles = P, steps = 100, eta = 0.85)` (VP grid t = 1 … 1e-3); deepinv
  `DDRM(denoiser, sigmas, eta = 0.85, etab = 1)` with (a) its default sigmas
  `np.linspace(1, 0, 100)` ([0, 1] units) and (b) Augury's grid: sigmas = σ̃(t_i)/2 for the
  same 100 times.  Note: deepinv 0.5.0's DDRM draws its iterates with sd σ_i/√2 (`randn_like(.)
  / np.sqrt(2.0)`) while it tells the denoiser σ_i; (c) a third row (skip it with `--no-ddrm-sqrt2`) uses a
  denoiser told σ/√2, to show what that mismatch costs.
- P = `--particles` samples per image for every method: Augury's particles, deepinv's batch of
  P copies of y (every deepinv sampler treats batch items independently).

Reported per method: steps, network evaluations (counted by a wrapper around the network:
batched calls per image), time per image (the mean over the images; the first, warm-up image
is excluded from every figure): Augury samples each image twice, and reports the second
call's `sampling_s` (steady) and the first call's wall time (bind + measurement + for JAX a
trace and XLA compile, since y is a constant of the compiled step); deepinv's one call, PSNR of the posterior mean (over P samples) to the ground truth in [0, 1]
(10 log10(1 / MSE) over the 64 pixels, averaged over images; no clipping), and the mean
posterior sd (per-pixel sd over samples, averaged over the hidden rows and over the seen
pixels).  Reference rows: "exact, Gaussian prior": the closed-form posterior under a Gaussian
prior fitted to the 1797 digits (not the network's prior: a floor the network should beat);
"y, hidden filled with the data mean": no prior at all.

    benchmarks/.venv-deepinv/bin/python benchmarks/vs_deepinv.py                 # everything
    benchmarks/.venv-deepinv/bin/python benchmarks/vs_deepinv.py --images 5 --dps-steps 200
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import augury  # noqa: E402,F401  (before JAX starts: augury sets its XLA flags)

try:
    import deepinv as dinv
    import torch
except ImportError as ex:  # pragma: no cover
    sys.exit(f"{ex}: run this with the deepinv venv's python (see benchmarks/README.md, `vs_deepinv.py`)")

from digits_torch import load_digits_torch  # noqa: E402

HIDDEN_ROWS = (5, 6, 7)
NOISE = 0.05
BMIN, BMAX = 0.1, 20.0

TORCH_TEXT = """
model inpaint_digits_torch
data  y : real[8, 8]
param x : real[8, 8]
const noise = {noise}
x ~ diffusion(net = unet, sde = vp(0.1, 20), predicts = "eps")
op A = mask(box_mask(top = 5, left = 0, height = 3, width = 8))
y ~ normal(A(x), noise)
"""

JAX_TEXT = """
model inpaint_digits
data  y : real[8, 8]
param x : real(lower = 0, upper = 1)[8, 8]
const noise = {noise}
x ~ diffusion(net = "digits")
op A = mask(box_mask(top = 5, left = 0, height = 3, width = 8))
y ~ normal(A(x), noise)
"""


def vp_B(t):
    return BMIN * t + 0.5 * (BMAX - BMIN) * t * t


def vp_sigma_over_alpha(t):
    return math.sqrt(math.expm1(vp_B(t)))


class CountingNet(torch.nn.Module):
    """The ε-network, counting its (batched) calls."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        return self.net(x, t)


class EpsDenoiser(dinv.models.Denoiser):
    """deepinv's denoiser convention on [0, 1] images from the VP ε-network (module docstring)."""

    def __init__(self, net, sigma_factor: float = 1.0):
        super().__init__()
        self.net = net
        self.sigma_factor = sigma_factor  # 1/√2: the third DDRM variant

    def forward(self, x, sigma, *args, **kwargs):
        b = x.shape[0]
        sig = torch.as_tensor(sigma, dtype=torch.float32, device=x.device).reshape(-1)
        sig = (sig.expand(b) if sig.numel() == 1 else sig) * self.sigma_factor
        u = 2.0 * x.reshape(b, 8, 8).to(torch.float32) - 1.0
        s_net = 2.0 * sig                                     # noise sd in network units = σ_vp / α
        big_b = torch.log1p(s_net * s_net)                    # B(t) = log(1 + σ̃²)
        t = (-BMIN + torch.sqrt(BMIN * BMIN + 2.0 * (BMAX - BMIN) * big_b)) / (BMAX - BMIN)
        t = t.clamp(0.0, 1.0)
        alpha = torch.exp(-0.5 * vp_B(t))
        eps = self.net(alpha[:, None, None] * u, t)
        u0 = u - s_net[:, None, None] * eps
        return ((u0 + 1.0) / 2.0).reshape(x.shape).to(x.dtype)


def load_problem(n_images: int, seed: int):
    from sklearn.datasets import load_digits
    X = load_digits().images / 16.0                           # (1797, 8, 8) in [0, 1]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(X), n_images, replace=False))
    mask = np.ones((8, 8))
    mask[list(HIDDEN_ROWS)] = 0.0
    x = X[idx]
    y = mask * (x + NOISE * rng.standard_normal(x.shape))
    return X, idx, x, y, mask


def psnr(mean, truth):
    mse = np.mean((mean - truth) ** 2, axis=(-2, -1))
    return 10 * np.log10(1.0 / mse)


def summarize(samples, truth, mask):
    """samples (n_images, P, 8, 8) in [0, 1]: PSNR of the means, sd on hidden and seen pixels."""
    mean = samples.mean(axis=1)
    sd = samples.std(axis=1, ddof=1)
    hidden = mask == 0
    return {"psnr": float(np.mean(psnr(mean, truth))), "psnr_images": psnr(mean, truth).tolist(),
            "sd_hidden": float(sd[:, hidden].mean()), "sd_seen": float(sd[:, ~hidden].mean())}


def exact_gaussian(X, y, mask):
    """Closed-form posterior under N(m, Σ) fitted to all digits (Σ + 1e-4 I), seen pixels only."""
    flat = X.reshape(len(X), 64)
    m, S = flat.mean(0), np.cov(flat, rowvar=False) + 1e-4 * np.eye(64)
    obs = mask.reshape(64) > 0
    A = np.eye(64)[obs]
    K = A @ S @ A.T + NOISE ** 2 * np.eye(obs.sum())
    G = S @ A.T @ np.linalg.inv(K)
    means = np.array([m + G @ (yy.reshape(64)[obs] - A @ m) for yy in y]).reshape(-1, 8, 8)
    cov = S - G @ A @ S
    sd = np.sqrt(np.clip(np.diag(cov), 0, None)).reshape(8, 8)
    return means, sd, m.reshape(8, 8)


def run_augury(model, y_for, n_img, method, P, steps, counter, to01, **settings):
    """Per image: samples (P, 8, 8) in [0, 1], sampling seconds, network calls, first-call seconds.

    Each image is sampled twice: a new y is a new binding, whose first call builds the
    measurement (and, on JAX, traces and compiles the step: y is a constant of the compiled
    program); the second call (another seed) is the steady state, whose draws are scored."""
    out, secs, calls, firsts = [], [], [], []
    for i in range(n_img):
        t0 = time.perf_counter()
        model.sample({"y": y_for(i)}, method=method, particles=P, steps=steps, seed=5000 + i, **settings)
        firsts.append(time.perf_counter() - t0)
        c0 = counter.calls if counter is not None else 0
        post = model.sample({"y": y_for(i)}, method=method, particles=P, steps=steps, seed=1000 + i, **settings)
        secs.append(post.timing["sampling_s"])
        calls.append((counter.calls - c0) if counter is not None else post.settings["network_calls"])
        # weighted draws (the particle methods) resampled to P equally weighted ones: scored like the rest
        out.append(to01(np.asarray(post.resampled("x", seed=i), np.float64).reshape(P, 8, 8)))
    return np.array(out), secs, calls, firsts


def run_deepinv(make, physics, y, P, counter):
    out, secs, calls = [], [], []
    for i in range(len(y)):
        yb = torch.as_tensor(np.repeat(y[i][None, None], P, axis=0), dtype=torch.float32)
        sampler = make(i)
        c0 = counter.calls
        t0 = time.perf_counter()
        x = sampler(yb, physics)
        secs.append(time.perf_counter() - t0)
        calls.append(counter.calls - c0)
        out.append(x.detach().to(torch.float64).numpy().reshape(P, 8, 8))
    return np.array(out), secs, calls, secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--particles", type=int, default=32)
    ap.add_argument("--dps-steps", type=int, default=1000)
    ap.add_argument("--ddrm-steps", type=int, default=100)
    ap.add_argument("--dps-zetas", default="1,0.3,3", help="Augury's dps step sizes (the JAX row: the first)")
    ap.add_argument("--dps-weights", default="1,10,100,1000", help="deepinv's DPS guidance weights")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--no-jax", action="store_true", help="skip Augury with the shipped JAX network")
    ap.add_argument("--no-ddrm-sqrt2", action="store_true", help="skip the deepinv DDRM row with D told σ/√2")
    ap.add_argument("--particle-steps", type=int, default=100, help="steps of tds, mcgdiff and ensemble")
    ap.add_argument("--only", default="", help="comma list among dps, ddrm, tds, mcgdiff, ensemble")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    import jax
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average {os.getloadavg()}; cpus {os.cpu_count()}; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads); deepinv {dinv.__version__}; "
          f"jax {jax.__version__}; python {sys.executable}", flush=True)

    X, idx, truth, y, mask = load_problem(args.images + 1, args.seed)  # image 0: warm-up, not scored
    print(f"images (load_digits indices): {idx.tolist()} (the first is the warm-up)")
    P = args.particles
    counter = CountingNet(load_digits_torch())
    den = EpsDenoiser(counter)
    model_t = augury.compile(TORCH_TEXT.format(noise=2 * NOISE), bind={"unet": counter})
    y_net = [2 * y[i] - mask for i in range(len(y))]
    model_j = None if args.no_jax else augury.compile(JAX_TEXT.format(noise=NOISE))
    physics = dinv.physics.Inpainting(img_size=(1, 8, 8), mask=torch.as_tensor(mask[None, None], dtype=torch.float32),
                                      noise_model=dinv.physics.GaussianNoise(sigma=NOISE))
    only = set(filter(None, args.only.split(","))) or {"dps", "ddrm", "tds", "mcgdiff", "ensemble"}

    results = []

    def record(method, library, steps, samples, secs, calls, firsts, note=""):
        s = summarize(samples[1:], truth[1:], mask)
        row = {"method": method, "library": library, "steps": steps, "nfe": float(np.mean(calls[1:])),
               "s_per_image": float(np.mean(secs[1:])), "first_call_s": float(np.mean(firsts[1:])),
               "first_s": float(secs[0]), "note": note, **s}
        results.append(row)
        print(f"{method:5s} {library:34s} steps {steps:5d}  NFE {row['nfe']:7.1f}  {row['s_per_image']:.3f} s/image "
              f"(first call per image {row['first_call_s']:.3f})  PSNR {row['psnr']:.2f}  sd hidden {row['sd_hidden']:.3f} seen "
              f"{row['sd_seen']:.3f} {note}", flush=True)

    to01_net = lambda u: (u + 1.0) / 2.0  # noqa: E731
    ident = lambda u: u  # noqa: E731
    grid = np.linspace(1.0, 1e-3, args.ddrm_steps)  # Augury's VP grid: t_max = 1 to t_eps = 1e-3, uniform
    if "ddrm" in only:
        smp, secs, calls, firsts = run_augury(model_t, lambda i: y_net[i], len(y), "ddrm", P, args.ddrm_steps, counter, to01_net)
        record("ddrm", "augury (torch port)", args.ddrm_steps, smp, secs, calls, firsts)
        if model_j is not None:
            smp, secs, calls, firsts = run_augury(model_j, lambda i: y[i], len(y), "ddrm", P, args.ddrm_steps, None, ident)
            record("ddrm", "augury (shipped JAX network)", args.ddrm_steps, smp, secs, calls, firsts)
        sig_default = np.linspace(1, 0, args.ddrm_steps)
        sig_aug = np.array([vp_sigma_over_alpha(t) / 2.0 for t in grid])
        variants = [("deepinv, default sigmas linspace(1,0,N)", sig_default, 1.0),
                    ("deepinv, Augury's grid", sig_aug, 1.0)]
        if not args.no_ddrm_sqrt2:
            variants.append(("deepinv, Augury's grid, D told σ/√2", sig_aug, 1 / math.sqrt(2)))
        for name, sig, fac in variants:
            d = EpsDenoiser(counter, fac)

            def make(i, sig=sig, d=d):
                torch.manual_seed(2000 + i)
                return dinv.sampling.DDRM(denoiser=d, sigmas=sig, eta=0.85, etab=1.0)
            smp, secs, calls, firsts = run_deepinv(make, physics, y, P, counter)
            record("ddrm", name, len(sig), smp, secs, calls, firsts)
    if "dps" in only:
        zetas = [float(z) for z in args.dps_zetas.split(",")]
        for k, z in enumerate(zetas):
            smp, secs, calls, firsts = run_augury(model_t, lambda i: y_net[i], len(y), "dps", P, args.dps_steps, counter,
                                                  to01_net, zeta=z)
            record("dps", f"augury (torch port), zeta {z:g}" + (" (default)" if z == 1 else ""), args.dps_steps,
                   smp, secs, calls, firsts)
            if model_j is not None and k == 0:
                smp, secs, calls, firsts = run_augury(model_j, lambda i: y[i], len(y), "dps", P, args.dps_steps, None,
                                                      ident, zeta=z)
                record("dps", f"augury (shipped JAX network), zeta {z:g}", args.dps_steps, smp, secs, calls, firsts)
        for w in [float(w) for w in args.dps_weights.split(",")]:
            def make_dps(i, w=w):
                return dinv.sampling.DPS(den, num_steps=args.dps_steps, weight=w,
                                         rng=torch.Generator().manual_seed(3000 + i))
            smp, secs, calls, firsts = run_deepinv(make_dps, physics, y, P, counter)
            record("dps", f"deepinv, weight {w:g}" + (" (default)" if w == 1 else ""), args.dps_steps,
                   smp, secs, calls, firsts)

    for method in [m for m in ("tds", "mcgdiff", "ensemble") if m in only]:  # Augury's particle methods: no deepinv row
        steps = args.particle_steps
        smp, secs, calls, firsts = run_augury(model_t, lambda i: y_net[i], len(y), method, P, steps, counter, to01_net)
        record(method, "augury (torch port)", steps, smp, secs, calls, firsts, note="(weighted, resampled)")
        if model_j is not None:
            smp, secs, calls, firsts = run_augury(model_j, lambda i: y[i], len(y), method, P, steps, None, ident)
            record(method, "augury (shipped JAX network)", steps, smp, secs, calls, firsts, note="(weighted, resampled)")

    means, sd, m = exact_gaussian(X, y, mask)
    hidden = mask == 0
    exact = {"method": "exact", "library": "closed form, Gaussian prior fitted to the digits", "steps": 0, "nfe": 0,
             "s_per_image": 0.0, "first_call_s": 0.0, "psnr": float(np.mean(psnr(means[1:], truth[1:]))),
             "sd_hidden": float(sd[hidden].mean()), "sd_seen": float(sd[~hidden].mean()), "note": ""}
    fill = np.where(mask > 0, y, m[None])
    base = {"method": "none", "library": "y, hidden rows filled with the data mean", "steps": 0, "nfe": 0,
            "s_per_image": 0.0, "first_call_s": 0.0, "psnr": float(np.mean(psnr(fill[1:], truth[1:]))), "sd_hidden": float("nan"),
            "sd_seen": float("nan"), "note": ""}
    results += [exact, base]

    print(f"\nload average at the end {os.getloadavg()}")
    print(f"\n{args.images} images, P = {P} samples each, noise sd {NOISE}, rows {HIDDEN_ROWS} hidden\n")
    print("| method | library | steps | NFE / image | s / image (steady) | s / image (first call on a new y) | "
          "PSNR (dB) | mean sd, hidden | mean sd, seen |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        t = f"{r['s_per_image']:.3f}" if r["nfe"] else "–"
        f1 = f"{r['first_call_s']:.3f}" if r["nfe"] else "–"
        print(f"| {r['method']} | {r['library']} | {r['steps'] or '–'} | {r['nfe']:.0f} | {t} | {f1} | {r['psnr']:.2f} | "
              f"{r['sd_hidden']:.3f} | {r['sd_seen']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": idx.tolist(), "rows": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
