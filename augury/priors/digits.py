"""A small diffusion prior for scikit-learn's 8x8 digits (`sklearn.datasets.load_digits`).

Conventions (also in `METADATA` and in the weights file's metadata):

* data: x = pixels / 16 * 2 - 1, in [-1, 1], shape (8, 8);
* noise process: VP SDE with beta_min = 0.1, beta_max = 20 on t in [0, 1]:
  B(t) = 0.1 t + (20 - 0.1) t^2 / 2, alpha(t) = exp(-B(t) / 2), sigma(t) = sqrt(1 - alpha(t)^2),
  x_t = alpha(t) x_0 + sigma(t) eps with eps ~ N(0, I);
* the network predicts eps: `model(x_t, t)` ~ E[eps | x_t], so the score is
  -model(x_t, t) / sigma(t) and Tweedie's mean is
  E[x_0 | x_t] = (x_t - sigma(t) model(x_t, t)) / alpha(t).

The network is an MLP on the 64 flattened pixels with residual blocks; the time enters through
a sinusoidal embedding of 1000 t (as in DDPM), added inside every block.  Trained by
`scripts/train_digits.py`; the weights it ships are an exponential moving average.
"""

from __future__ import annotations

import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

WEIGHTS = Path(__file__).with_name("digits.safetensors")

WIDTH = 256  # hidden width of the MLP
DEPTH = 4  # residual blocks
TIME_FEATURES = 128  # sinusoidal features of 1000 t (half sines, half cosines)

METADATA: dict[str, str] = {
    "sde": "vp(0.1, 20)",
    "predicts": "eps",
    "data_range": "[-1, 1]",
    "shape": "[8, 8]",
    "time": "vp t in [0, 1]",
    # over the 1797 images of load_digits(), in network coordinates (pixels / 16 * 2 - 1):
    # the mean pixel value, and the per-pixel variance across images averaged over the 64 pixels
    "data_mean": "-0.3894794275180857",
    "data_var": "0.2933297698639201",
    "trained_by": "scripts/train_digits.py",
    "architecture": (
        f"residual MLP on the 64 pixels: Linear(64, {WIDTH}); {DEPTH} blocks "
        "h + Linear(SiLU(Linear(LayerNorm(h)) + Linear(temb))); "
        f"LayerNorm, SiLU, Linear({WIDTH}, 64); "
        f"temb = MLP(SiLU) of {TIME_FEATURES} sinusoidal features of 1000 t; EMA weights"
    ),
}


def time_features(t: Float[Array, ""], dim: int = TIME_FEATURES) -> Float[Array, " dim"]:
    """DDPM's sinusoidal embedding of s = 1000 t: [sin(s w_k), cos(s w_k)],
    w_k = 10000^(-k / (dim/2)), k = 0 .. dim/2 - 1.

    Finite at t = 0 (unlike an embedding of the log-SNR, which is +inf there)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / half)
    s = 1000.0 * t * freqs
    return jnp.concatenate([jnp.sin(s), jnp.cos(s)])


class _Block(eqx.Module):
    """h + Linear(SiLU(Linear(LayerNorm(h)) + Linear(temb))): the time enters every block."""

    norm: eqx.nn.LayerNorm
    lin1: eqx.nn.Linear
    temb: eqx.nn.Linear
    lin2: eqx.nn.Linear

    def __init__(self, width: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.norm = eqx.nn.LayerNorm(width)
        self.lin1 = eqx.nn.Linear(width, width, key=k1)
        self.temb = eqx.nn.Linear(width, width, key=k2)
        self.lin2 = eqx.nn.Linear(width, width, key=k3)

    def __call__(self, h: Float[Array, " w"], temb: Float[Array, " w"]) -> Float[Array, " w"]:
        z = jax.nn.silu(self.lin1(self.norm(h)) + self.temb(temb))
        return h + self.lin2(z)


class DigitsEpsNet(eqx.Module):
    """eps prediction for 8x8 digits: `model(x, t)` with x (P, 8, 8), t (P,) returns (P, 8, 8)."""

    t_in: eqx.nn.Linear
    t_hidden: eqx.nn.Linear
    x_in: eqx.nn.Linear
    blocks: tuple[_Block, ...]
    out_norm: eqx.nn.LayerNorm
    x_out: eqx.nn.Linear

    def __init__(self, *, key: PRNGKeyArray, width: int = WIDTH, depth: int = DEPTH):
        keys = jax.random.split(key, depth + 4)
        self.t_in = eqx.nn.Linear(TIME_FEATURES, width, key=keys[0])
        self.t_hidden = eqx.nn.Linear(width, width, key=keys[1])
        self.x_in = eqx.nn.Linear(64, width, key=keys[2])
        self.blocks = tuple(_Block(width, key=k) for k in keys[3:-1])
        self.out_norm = eqx.nn.LayerNorm(width)
        self.x_out = eqx.nn.Linear(width, 64, key=keys[-1])

    def single(self, x: Float[Array, "8 8"], t: Float[Array, ""]) -> Float[Array, "8 8"]:
        """The prediction for one image x (8, 8) at one time t (a scalar)."""
        temb = jax.nn.silu(self.t_hidden(jax.nn.silu(self.t_in(time_features(t)))))
        h = self.x_in(x.reshape(64))
        for block in self.blocks:
            h = block(h, temb)
        return self.x_out(jax.nn.silu(self.out_norm(h))).reshape(8, 8)

    def __call__(self, x: Float[Array, "P 8 8"], t: Float[Array, " P"]) -> Float[Array, "P 8 8"]:
        x = jnp.asarray(x, jnp.float32)
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:1])
        return jax.vmap(self.single)(x, t)


def factory() -> DigitsEpsNet:
    """The network with arbitrary (PRNGKey(0)) weights: the skeleton that `load` fills."""
    return DigitsEpsNet(key=jax.random.PRNGKey(0))


def _is_array(x: object) -> bool:
    # arrays, or their shapes in a skeleton from eqx.filter_eval_shape (same tree, same names)
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def tensor_names(model: eqx.Module) -> dict[str, Array]:
    """The array leaves of `model` by name: keystr(path) over eqx.filter(model, eqx.is_array).

    `model` may also be a skeleton from `eqx.filter_eval_shape(factory)`: same names, shapes."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(eqx.filter(model, _is_array))
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def load(path: str | Path = WEIGHTS) -> DigitsEpsNet:
    """`factory()` with its array leaves replaced by the tensors of the same name in `path`."""
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    # only the skeleton's shapes are needed: eval_shape skips the eager random initialization,
    # whose many small XLA compilations take seconds
    params, static = eqx.partition(eqx.filter_eval_shape(factory), _is_array)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    names = [jax.tree_util.keystr(p) for p, _ in leaves]
    if set(names) != set(tensors):
        raise ValueError(f"{path}: tensors {sorted(tensors)} do not match the network's {names}")
    new = []
    for name, (_, leaf) in zip(names, leaves):
        value = np.asarray(tensors[name])
        if value.shape != leaf.shape:
            raise ValueError(f"{path}: {name} has shape {value.shape}, the network {leaf.shape}")
        new.append(jnp.asarray(value, leaf.dtype))
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, new), static)
