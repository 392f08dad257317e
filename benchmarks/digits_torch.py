"""A PyTorch port of the shipped `digits` prior's ε-network (augury/priors/digits.py).

Same architecture, same weights (augury/priors/digits.safetensors), same call:
`net(x, t)` with x (P, 8, 8) in the network's coordinates [-1, 1] and t (P,) the VP time in
[0, 1]; it returns ε̂ (P, 8, 8).  Used by benchmarks/diffusion_overhead.py and
benchmarks/vs_deepinv.py to run Augury's samplers (and deepinv's) on a PyTorch network that
is the JAX one, up to float32 rounding.

The safetensors file names its tensors by the Equinox leaves' `jax.tree_util.keystr` paths
(".blocks[0].lin1.weight", ...).  `load_digits_torch` maps each of them explicitly to a torch
parameter (`EQX_TO_TORCH`); an Equinox `Linear` stores its weight as (out, in), which is
torch's own layout, so no transpose is needed.  Equinox's `LayerNorm` (eps 1e-5, biased
variance, elementwise affine) is `torch.nn.LayerNorm(width)`.

    python benchmarks/digits_torch.py --check     # the port against the JAX network

needs JAX (augury) and torch in the same environment.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "augury" / "priors" / "digits.safetensors"

WIDTH, DEPTH, TIME_FEATURES = 256, 4, 128  # as in augury/priors/digits.py


def time_features(t: torch.Tensor, dim: int = TIME_FEATURES) -> torch.Tensor:
    """(P,) -> (P, dim): [sin(1000 t w_k), cos(1000 t w_k)], w_k = 10000^(-k / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    s = 1000.0 * t[:, None].to(torch.float32) * freqs[None]
    return torch.cat([torch.sin(s), torch.cos(s)], dim=-1)


class Block(nn.Module):
    """h + lin2(SiLU(lin1(norm(h)) + temb(temb)))."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=1e-5)
        self.lin1 = nn.Linear(width, width)
        self.temb = nn.Linear(width, width)
        self.lin2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        z = nn.functional.silu(self.lin1(self.norm(h)) + self.temb(temb))
        return h + self.lin2(z)


class DigitsEpsNetTorch(nn.Module):
    """ε prediction for 8x8 digits: `net(x (P, 8, 8), t (P,)) -> (P, 8, 8)`."""

    def __init__(self, width: int = WIDTH, depth: int = DEPTH):
        super().__init__()
        self.t_in = nn.Linear(TIME_FEATURES, width)
        self.t_hidden = nn.Linear(width, width)
        self.x_in = nn.Linear(64, width)
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.out_norm = nn.LayerNorm(width, eps=1e-5)
        self.x_out = nn.Linear(width, 64)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p = x.shape[0]
        t = torch.broadcast_to(torch.as_tensor(t, dtype=x.dtype, device=x.device), (p,))
        silu = nn.functional.silu
        temb = silu(self.t_hidden(silu(self.t_in(time_features(t).to(x.dtype)))))
        h = self.x_in(x.reshape(p, 64))
        for block in self.blocks:
            h = block(h, temb)
        return self.x_out(silu(self.out_norm(h))).reshape(p, 8, 8)


def _mapping(depth: int = DEPTH) -> dict[str, str]:
    """Equinox keystr name -> torch state_dict name, written out explicitly."""
    m = {}
    for layer in ("t_in", "t_hidden", "x_in", "x_out", "out_norm"):
        for p in ("weight", "bias"):
            m[f".{layer}.{p}"] = f"{layer}.{p}"
    for i in range(depth):
        for layer in ("norm", "lin1", "temb", "lin2"):
            for p in ("weight", "bias"):
                m[f".blocks[{i}].{layer}.{p}"] = f"blocks.{i}.{layer}.{p}"
    return m


EQX_TO_TORCH = _mapping()


def torch_state(path: str | Path = WEIGHTS) -> dict[str, torch.Tensor]:
    """The weights file's tensors under the torch module's names (every tensor mapped, none left)."""
    from safetensors.numpy import load_file
    tensors = load_file(str(path))
    if set(tensors) != set(EQX_TO_TORCH):
        raise ValueError(f"{path}: tensors {sorted(set(tensors) ^ set(EQX_TO_TORCH))} are not mapped both ways")
    return {EQX_TO_TORCH[k]: torch.from_numpy(np.array(v, np.float32)) for k, v in tensors.items()}


def load_digits_torch(path: str | Path = WEIGHTS, device="cpu", dtype=torch.float32) -> DigitsEpsNetTorch:
    net = DigitsEpsNetTorch()
    net.load_state_dict(torch_state(path), strict=True)  # strict: shapes and names must all match
    return net.to(device=device, dtype=dtype).eval()


def factory() -> DigitsEpsNetTorch:
    """The port with the shipped weights (for `torch("benchmarks.digits_torch:factory")`)."""
    return load_digits_torch()


def check(n: int = 256, seed: int = 0) -> float:
    """Max |torch − JAX| over random x ~ N(0, 1.5²) and t ~ U(0, 1) (plus t = 0, 1e-3, 1)."""
    sys.path.insert(0, str(ROOT))
    import jax.numpy as jnp
    from augury.priors import digits

    rng = np.random.default_rng(seed)
    x = (1.5 * rng.standard_normal((n, 8, 8))).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    t[:3] = [0.0, 1e-3, 1.0]
    jnet = digits.load()
    out_j = np.asarray(jnet(jnp.asarray(x), jnp.asarray(t)))
    tnet = load_digits_torch()
    with torch.no_grad():
        out_t = tnet(torch.from_numpy(x), torch.from_numpy(t)).numpy()
    diff = np.abs(out_j - out_t)
    print(f"digits network, PyTorch port vs JAX ({n} random inputs, float32): "
          f"max |diff| = {diff.max():.3e}, mean |diff| = {diff.mean():.3e}, max |eps| = {np.abs(out_j).max():.3f}")
    return float(diff.max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare against the JAX network")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args(argv)
    if not args.check:
        net = load_digits_torch()
        print(net)
        print(f"{sum(p.numel() for p in net.parameters())} parameters")
        return 0
    d = check(args.n)
    ok = d <= args.tol
    print("OK" if ok else "FAIL", f"(tolerance {args.tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
