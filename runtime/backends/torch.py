"""The PyTorch backend of the diffusion samplers (see `augury.runtime.backends`).

Everything stays on the network's device in its dtype; steps run eagerly under
`torch.no_grad()`, and `value_and_vjp` turns gradients back on for the one call that needs
them.  PyTorch is optional: this module is imported only when a PyTorch network runs."""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np
import torch


class TorchBackend:
    name = "torch"

    def __init__(self, device: Any = "cpu", dtype: Any = torch.float32):
        self.device = torch.device(device)
        self.dtype = dtype

    def asarray(self, x) -> torch.Tensor:
        a = np.asarray(x)
        if not a.flags.writeable:  # torch warns on read-only memory (a JAX array's view): copy it
            a = a.copy()
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        # (a resumed run's earlier infos come back from its checkpoint as NumPy arrays)
        return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)

    def scalar(self, value: float) -> float:
        return float(value)

    def rng(self, key) -> torch.Generator:
        import jax
        seed = int(jax.random.randint(key, (), 0, 2 ** 31 - 1))
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        return gen

    def normal(self, rng: torch.Generator, shape: tuple) -> tuple:
        return rng, torch.randn(tuple(shape), generator=rng, device=self.device, dtype=self.dtype)

    def full(self, shape: tuple, value) -> torch.Tensor:
        return torch.full(tuple(shape), float(value), device=self.device, dtype=self.dtype)

    def sqrt(self, x):
        return torch.sqrt(x) if isinstance(x, torch.Tensor) else float(x) ** 0.5

    def where(self, cond, a, b):
        if isinstance(cond, bool):  # a Python condition (JAX traces it; here it is known)
            return a if cond else b
        return torch.where(cond, a, b)

    def pad(self, x, length: int) -> torch.Tensor:
        """(P, R) -> (P, length), zeros after the first R columns."""
        return torch.nn.functional.pad(x, (0, length - x.shape[1]))

    def per_particle_sum(self, x) -> torch.Tensor:
        return x.reshape(x.shape[0], -1).sum(dim=1)

    def value_and_vjp(self, f: Callable, x) -> tuple:
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            out = f(leaf)

        def vjp(v):
            with torch.enable_grad():
                # kept for more than one call (tds's Tweedie variances take one per measured direction)
                (g,) = torch.autograd.grad(out, leaf, grad_outputs=v, retain_graph=True)
            return (g,)

        return out.detach(), vjp

    def value_and_jvp(self, f: Callable, x, v) -> tuple:
        """(f(x), (∂f/∂x) v) by forward-mode AD (`torch.func.jvp`)."""
        out, tangent = torch.func.jvp(f, (x,), (v,))
        return out.detach(), tangent.detach()

    def logsumexp(self, v) -> torch.Tensor:
        return torch.logsumexp(v, 0)

    def exp(self, v):
        return torch.exp(v)

    def log(self, v):
        return torch.log(v)

    def arange(self, n: int) -> torch.Tensor:
        return torch.arange(n, device=self.device)

    def resample(self, rng, log_W, n: int, scheme: str, due) -> tuple:
        """(rng, indices): `scheme`'s ancestors from normalized log weights when `due`, else the
        identity; on the device, in float64 (the cumulative weights of many particles)."""
        if not bool(due):
            return rng, self.arange(n)
        w = torch.exp(log_W.to(torch.float64))
        w = w / w.sum()
        if scheme == "multinomial":
            return rng, torch.multinomial(w, n, replacement=True, generator=rng)
        if scheme == "residual":
            counts = torch.floor(n * w).to(torch.int64)
            rest = n - int(counts.sum())
            fixed = torch.repeat_interleave(torch.arange(w.shape[0], device=self.device), counts)
            if rest == 0:
                return rng, fixed
            extra = torch.multinomial(n * w - counts, rest, replacement=True, generator=rng)
            return rng, torch.cat([fixed, extra])
        shape = () if scheme == "systematic" else (n,)
        u = torch.rand(shape, generator=rng, device=self.device, dtype=torch.float64)
        points = (torch.arange(n, device=self.device, dtype=torch.float64) + u) / n
        idx = torch.searchsorted(torch.cumsum(w, 0), points)
        return rng, torch.clamp(idx, max=w.shape[0] - 1)

    def gather(self, tree, idx):
        """Every array of `tree` indexed by `idx` along its leading (particle) axis."""
        return {k: (self.gather(v, idx) if isinstance(v, dict) else v[idx]) for k, v in tree.items()}

    def compile_steps(self, step: Callable, particles: int | None = None) -> Callable:
        """`run(x, rng, block, data) -> (x, rng, infos)`: `step` over the rows of `block` (a dict of (B,)
        host arrays) in a Python loop, with the scalars as Python floats; `infos` stacked."""
        def run(x, rng, block, data):
            infos = []
            with torch.no_grad():
                for i in range(len(next(iter(block.values())))):
                    x, rng, info = step(x, rng, {k: float(v[i]) for k, v in block.items()}, data)
                    infos.append(info)
            return x, rng, {k: torch.stack([torch.as_tensor(i[k]) for i in infos]) for k in infos[0]}
        return run

    def block(self, x) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def no_grad(self):
        return torch.no_grad() if torch.is_grad_enabled() else contextlib.nullcontext()
