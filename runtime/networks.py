"""Score networks for `diffusion(net = NET, ...)`: what NET may be, and how its weights load.

NET is one of
- `"digits"`: the prior that ships with Augury (augury/priors/digits.py, trained by
  scripts/train_digits.py); it needs no permission;
- a name bound from Python (`bind = {"unet": module}`): a `torch.nn.Module`, or a JAX callable
  (a function or an Equinox module);
- `torch("pkg.module:factory", weights = "file.safetensors")`: `factory()` returns a
  `torch.nn.Module`, whose state is loaded from the file;
- `jax("pkg.module:fn")`: `fn(x, t)` is the network; with `weights = "file.safetensors"`,
  `fn` is a factory returning a callable pytree (an Equinox module) or a pair
  `(apply, params)` with `apply(params, x, t)`, whose array leaves are filled from the file by
  name (`jax.tree_util.keystr` of each leaf's path).

Every network is called on a batch, `net(x, t)` with x of shape (P, *shape) and t of shape
(P,): the process's time (VP and VE: t in [0, 1]; EDM: t = σ).  Weights load through
safetensors only (no pickle); a missing file, or a tensor missing, unexpected or of the wrong
shape, is an error naming the file and the tensor.  A weights file's metadata may declare
`sde`, `predicts` and `data_range` (and `data_mean`, `data_var` for teleport); the model may
repeat them but not contradict them.  A value that is not one of these keys' valid values (a
`predicts` other than "eps", "x0", "score", "v"; a `data_range` that is not "[lo, hi]" with
lo < hi; a non-numeric or non-positive moment) is an error naming the file and the key; `sde`
is parsed, and refused the same way, by the compiler (compiler/inverse.py).  A network that
raises when the sampler calls it is reported as that network's error (`NetworkError`).  `torch(...)` and `jax(...)` resolve only when the user
allows Python (`allow_python=True`, `--allow-python`), which the compiler checks first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .denoisers import DiffusionPrior
from .schedules import Schedule

SHIPPED = ("digits",)
PREDICTS = ("eps", "x0", "score", "v")


class NetworkError(ValueError):
    """The user's network raised when a sampler called it; the message names the network."""


@dataclass(frozen=True)
class Network:
    framework: str                       # "jax" or "torch"
    fn: Callable                         # fn(x, t) on a batch
    metadata: dict = field(default_factory=dict)
    description: str = ""
    device: Any = None                   # torch only
    dtype: Any = None                    # torch only
    weights: str = ""                    # the weights file its metadata came from, if any

    @property
    def data_range(self) -> Optional[tuple[float, float]]:
        r = self.metadata.get("data_range")
        if r is None:
            return None
        lo, hi = json.loads(r)
        return float(lo), float(hi)

    def backend(self, dtype):
        if self.framework == "torch":
            from .backends.torch import TorchBackend
            return TorchBackend(self.device, self.dtype)
        from .backends.jax import JaxBackend
        return JaxBackend(dtype)


def _is_torch_module(obj) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


def _weights_file(path: str, base_dir: Path) -> Path:
    p = Path(path)
    p = p if p.is_absolute() else base_dir / p
    if not p.is_file():
        raise ValueError(f"weights file `{path}` does not exist" + ("" if Path(path).is_absolute() else
                                                                  f" (looked in `{base_dir}`)"))
    if p.suffix != ".safetensors":
        raise ValueError(f"weights file `{path}` is not a .safetensors file: Augury loads weights through "
                         "safetensors only (never pickles)")
    return p


def _metadata(path: Path) -> dict:
    """The file's metadata, checked by `check_metadata`; a file safetensors cannot read is an
    error naming it."""
    from safetensors import safe_open
    try:
        with safe_open(str(path), "np") as f:
            meta = dict(f.metadata() or {})
    except Exception as ex:  # safetensors raises its own error type for a corrupt header
        raise ValueError(f"cannot read weights file `{path.name}`: {str(ex).splitlines()[0] if str(ex) else type(ex).__name__}"
                         "\nis it a complete .safetensors file?") from None
    check_metadata(meta, path.name)
    return meta


def _number(meta: dict, key: str, file: str, positive: bool = False) -> float:
    try:
        v = float(meta[key])
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"weights file `{file}`: metadata `{key}` is {meta[key]!r}, not a "
                         f"{'positive ' if positive else ''}finite number")
    return v


def check_metadata(meta: dict, file: str) -> None:
    """Refuse a `predicts`, `data_range`, `data_mean` or `data_var` that is not one of the key's
    valid values, naming the file, the key and what it may be (`sde` is the compiler's)."""
    if "predicts" in meta and meta["predicts"] not in PREDICTS:
        raise ValueError(f"weights file `{file}`: metadata `predicts` is {meta['predicts']!r}, which is not one of "
                         + ", ".join(f'"{p}"' for p in PREDICTS))
    if "data_range" in meta:
        try:
            r = json.loads(meta["data_range"])
            lo, hi = (float(v) for v in r) if isinstance(r, list) and len(r) == 2 else (np.nan, np.nan)
        except (ValueError, TypeError):
            lo, hi = np.nan, np.nan
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"weights file `{file}`: metadata `data_range` is {meta['data_range']!r}, not "
                             "\"[lo, hi]\" with finite lo < hi (e.g. \"[-1, 1]\")")
    if "data_mean" in meta:
        _number(meta, "data_mean", file)
    if "data_var" in meta:
        _number(meta, "data_var", file, positive=True)


def load_torch_state(module, path: Path) -> None:
    """Fill `module` from a safetensors file, refusing any missing, unexpected or misshapen tensor."""
    from safetensors.torch import load_file
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as ex:  # a corrupt file
        raise ValueError(f"cannot read weights file `{path.name}`: {ex}") from None
    expected = module.state_dict()
    for name, value in expected.items():
        if name not in tensors:
            raise ValueError(f"weights file `{path.name}` has no tensor `{name}`, which the network needs")
        if tuple(tensors[name].shape) != tuple(value.shape):
            raise ValueError(f"weights file `{path.name}`: tensor `{name}` has shape {tuple(tensors[name].shape)}, "
                             f"the network expects {tuple(value.shape)}")
    extra = [n for n in tensors if n not in expected]
    if extra:
        raise ValueError(f"weights file `{path.name}` has a tensor `{extra[0]}` that the network does not have")
    module.load_state_dict(tensors, strict=True)


def load_jax_leaves(tree, path: Path):
    """`tree` with each array leaf replaced by the file's tensor of the same name (the leaf's
    `jax.tree_util.keystr` path), refusing any missing, unexpected or misshapen tensor."""
    import jax
    import jax.numpy as jnp
    from safetensors.numpy import load_file
    try:
        tensors = load_file(str(path))
    except Exception as ex:
        raise ValueError(f"cannot read weights file `{path.name}`: {ex}") from None
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    out, seen = [], set()
    for key_path, leaf in leaves:
        if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype") or np.asarray(leaf).dtype.kind not in "fc":
            out.append(leaf)
            continue
        name = jax.tree_util.keystr(key_path)
        if name not in tensors:
            raise ValueError(f"weights file `{path.name}` has no tensor `{name}`, which the network needs")
        if tuple(tensors[name].shape) != tuple(np.shape(leaf)):
            raise ValueError(f"weights file `{path.name}`: tensor `{name}` has shape {tuple(tensors[name].shape)}, "
                             f"the network expects {tuple(np.shape(leaf))}")
        seen.add(name)
        out.append(jnp.asarray(tensors[name], np.asarray(leaf).dtype))
    extra = [n for n in tensors if n not in seen]
    if extra:
        raise ValueError(f"weights file `{path.name}` has a tensor `{extra[0]}` that the network does not have")
    return jax.tree_util.tree_unflatten(treedef, out)


def _torch_network(module, metadata: dict, description: str) -> Network:
    import torch
    module.eval()
    p = next(iter(module.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    return Network("torch", module, metadata, description, device, dtype)


def _jax_network(obj, metadata: dict, description: str) -> Network:
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[0]):
        apply, params = obj
        return Network("jax", lambda x, t: apply(params, x, t), metadata, description)
    if not callable(obj):
        raise ValueError(f"{description} is not callable: a JAX network is `fn(x, t)`, a callable pytree, "
                         "or a pair (apply, params)")
    return Network("jax", obj, metadata, description)


def resolve_network(value: Any, base_dir: Path, allow_python: bool) -> Network:
    """The network a model's `net = ...` names (see the module docstring)."""
    if isinstance(value, str):
        if value == "digits":
            from augury.priors import digits
            return _jax_network(digits.load(), dict(digits.METADATA), "the shipped `digits` prior")
        raise ValueError(f"unknown network \"{value}\"\nthe shipped priors are {', '.join(map(repr, SHIPPED))}; "
                         "bind your own with `bind={\"name\": net}` or name it with torch(\"pkg.module:factory\", "
                         "weights = \"file.safetensors\") / jax(\"pkg.module:fn\")")
    if isinstance(value, tuple) and value and value[0] in ("torch", "jax"):
        framework, args, kwargs = value
        path = args[0] if args else dict(kwargs).get("path")
        weights = dict(kwargs).get("weights")
        if not allow_python:  # the compiler refuses earlier; never import without permission
            raise ValueError(f"`{framework}(\"{path}\")` imports Python code, which runs only when you allow it")
        from .operators import import_path
        obj = import_path(path)
        file = _weights_file(weights, base_dir) if weights is not None else None
        meta = _metadata(file) if file is not None else {}
        desc = f"`{framework}(\"{path}\")`"
        if framework == "torch":
            module = obj() if not _is_torch_module(obj) else obj
            if not _is_torch_module(module):
                raise ValueError(f"{desc} did not give a torch.nn.Module (got {type(module).__name__})")
            if file is not None:
                load_torch_state(module, file)
            return replace(_torch_network(module, meta, desc), weights=file.name if file else "")
        if file is None:
            return _jax_network(obj, meta, desc)
        built = obj()
        if isinstance(built, tuple) and len(built) == 2 and callable(built[0]):
            return replace(_jax_network((built[0], load_jax_leaves(built[1], file)), meta, desc), weights=file.name)
        return replace(_jax_network(load_jax_leaves(built, file), meta, desc), weights=file.name)
    if _is_torch_module(value):
        return _torch_network(value, {}, "the bound PyTorch network")
    if callable(value) or (isinstance(value, tuple) and len(value) == 2 and callable(value[0])):
        return _jax_network(value, {}, "the bound network")
    raise ValueError(f"`net` must name a network (\"digits\", a bound name, torch(...) or jax(...)), "
                     f"not a {type(value).__name__}")


def check_network(net: Network, shape: tuple, backend) -> None:
    """Call the network once on a batch of two zero inputs and refuse an output of another
    shape, or a failure, with what it was given (rather than a traceback mid-sampling)."""
    x = backend.asarray(np.zeros((2,) + tuple(shape)))
    t = backend.full((2,), 0.5)
    try:
        if net.framework == "jax":
            import jax
            out_shape = tuple(jax.eval_shape(net.fn, x, t).shape)
        else:
            with backend.no_grad():
                out_shape = tuple(net.fn(x, t).shape)
    except Exception as ex:  # the user's network: any failure is reported, not raised raw
        msg = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise ValueError(f"{net.description} fails on a batch of inputs of shape {(2,) + tuple(shape)} "
                         f"with times of shape (2,): {type(ex).__name__}: {msg}\n"
                         "a network is called as net(x, t) with x of shape (P, *shape) and t of shape (P,)") from None
    if out_shape != (2,) + tuple(shape):
        raise ValueError(f"{net.description} returns shape {out_shape} for inputs of shape {(2,) + tuple(shape)}: "
                         f"its prediction must have the input's shape")


def _failure(net: Network, x_shape: tuple, ex: Exception) -> str:
    msg = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
    return (f"{net.description} fails when the sampler calls it on a batch of inputs of shape {tuple(x_shape)}: "
            f"{type(ex).__name__}: {msg}\nthe error is the network's own (it passed the check on a batch of two)")


def network_prior(net: Network, schedule: Schedule, predicts: str, shape: tuple, backend,
                  on_error: Optional[Callable[[str], Exception]] = None) -> DiffusionPrior:
    """The network as a denoiser: called as net(x, t · 1_P).  An exception the network raises
    mid-sampling becomes `on_error(message)` (the compiler places it at `net = ...`), by default
    a `NetworkError`: the user's code failed, not the sampler."""
    check_network(net, shape, backend)
    fn = net.fn
    report = on_error or NetworkError

    def predict(x, t, alpha, sigma):
        try:
            return fn(x, backend.full((x.shape[0],), t))
        except Exception as ex:  # the user's network: report it as theirs, not as an internal error
            raise report(_failure(net, x.shape, ex)) from None

    meta = net.metadata
    mean = float(meta["data_mean"]) if "data_mean" in meta else None
    var = float(meta["data_var"]) if "data_var" in meta else None
    return DiffusionPrior(schedule, predict, predicts, tuple(shape), backend, mean, var, False, net.description)
