"""Checkpoints of long runs, and resuming them (`Model.sample(checkpoint=..., resume=...)`).

A checkpoint is one `.npz` file (numpy's zip of arrays, read back with `allow_pickle=False`:
no pickles) holding a sampler loop's state where it stopped: the state pytree's leaves, the
per-step infos kept so far (stacked over the steps), a few named extra arrays, and a JSON
header (`header`, a uint8 array) with what the run was: the model's and the data's hashes, the
method, its settings, the seed, the precision, the Augury version, the loop and its step.  A
resume compares that identity with the new run's and refuses, naming what differs.

The file is written atomically (a temporary file beside it, then `os.replace`): a run killed
while writing leaves the previous checkpoint whole.  It is written by the sampler's own loop
between compiled blocks: every `every` units of what the progress bar counts (iterations,
steps, sweeps) at the first block boundary past each multiple, or without `every` at most once
a minute; and always where Ctrl-C stops the run.

How the loops find it: `Model.sample` builds a `Checkpoint` (`request`), the driver makes it the
current one for the run (`active`), as `interrupts.deferred` does for Ctrl-C, and each loop that
can be resumed asks for it (`current()`): no sampler's signature changes.  Resumed draws equal
an uninterrupted run's with the same seed because every loop's randomness is a function of the
seed and its step index, or a key carried in the saved state.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import numpy as np

from augury.errors import AuguryError

FORMAT = 1
_DEFAULT_SECONDS = 60.0  # without `every`: at most one checkpoint a minute (and one on Ctrl-C)

# methods whose loops do not write checkpoints yet: asking for one is an error naming the method
NO_CHECKPOINTS = {
    "tweedie": "it is one denoiser call: there is nothing to resume",
}

# the identity a resume must match, in the order differences are reported
_IDENTITY = ("augury", "format", "method", "model", "data", "settings", "seed", "precision")
_WHAT = {"augury": "the Augury version", "format": "the checkpoint format", "method": "the method",
         "model": "the model (file text or consts)", "data": "the data", "settings": "the settings",
         "seed": "the seed", "precision": "the precision"}


def _json(value: Any) -> Any:
    """A settings value as JSON keeps it (numbers, strings, lists; anything else by its repr)."""
    return json.loads(json.dumps(value, default=repr, sort_keys=True))


def digest(mapping: Mapping, label: str) -> str:
    """A sha256 of a dict of arrays (or values), keys sorted: equal digests, equal data."""
    h = hashlib.sha256(label.encode())
    for k in sorted(mapping, key=str):
        v = mapping[k]
        a = np.asarray(v)
        if a.dtype == object:
            raise AuguryError(f"a checkpoint needs data it can hash, and `{k}` is not an array of numbers",
                              notes=["pass numbers or arrays of numbers, or run without a checkpoint"])
        h.update(f"|{k}:{a.dtype.str}:{a.shape}:".encode())
        h.update(np.ascontiguousarray(a).tobytes())
        if np.ma.isMaskedArray(v):
            h.update(np.ascontiguousarray(np.ma.getmaskarray(v)).tobytes())
    return h.hexdigest()


def identity(*, model_source: str, consts: Mapping, data: Mapping, method: str, settings: Mapping, seed: int,
             precision: str) -> dict:
    """What a checkpoint belongs to: a resume must match every entry (`_IDENTITY`)."""
    from augury import __version__
    model = hashlib.sha256(model_source.encode()).hexdigest()
    return {"augury": __version__, "format": FORMAT, "method": method,
            "model": digest({"__source__": np.frombuffer(model.encode(), np.uint8), **dict(consts)}, "model"),
            "data": digest(dict(data), "data"), "settings": _json(dict(settings)), "seed": int(seed),
            "precision": str(precision)}


# --------------------------------------------------------------------------- arrays in and out

def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _host_array(x) -> np.ndarray:
    """A JAX, NumPy or PyTorch array (on any device) as a NumPy array."""
    return x.detach().cpu().numpy() if _is_torch(x) else np.asarray(x)


def _to_host(leaf) -> tuple[np.ndarray, dict]:
    """A leaf as a numpy array numpy can store, and how to make it again (dtype, weak type, key)."""
    import jax
    if _is_torch(leaf):  # the PyTorch backend's tensors: restored onto the template's device
        a = _host_array(leaf)
        return a, {"weak": False, "dtype": a.dtype.name, "shape": list(a.shape), "torch": True}
    meta: dict = {"weak": bool(getattr(leaf, "weak_type", False))}
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        meta["key"] = str(jax.random.key_impl(leaf))
        leaf = jax.random.key_data(leaf)
    a = np.asarray(leaf)
    meta["dtype"], meta["shape"] = a.dtype.name, list(a.shape)
    if a.dtype.kind == "V" or np.dtype(a.dtype.str) != a.dtype:  # bfloat16 and friends: stored as raw bits
        a = a.view(np.dtype(f"u{a.dtype.itemsize}"))
    return a, meta


def _layout(leaf) -> tuple[str, list]:
    """(dtype name, shape) a leaf is stored with, read without moving its data."""
    import jax
    if _is_torch(leaf):
        return np.dtype(str(leaf.dtype).removeprefix("torch.")).name, list(leaf.shape)
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        leaf = jax.eval_shape(jax.random.key_data, leaf)
    elif dtype is None:
        leaf = np.asarray(leaf)
    return np.dtype(leaf.dtype).name, list(leaf.shape)


def _from_host(a: np.ndarray, meta: dict, like=None, device=None):
    """A stored array back as a JAX array of its own dtype (weak type and sharding as `like`'s),
    or, saved from a PyTorch tensor, as a tensor on `device` (the run's)."""
    if meta.get("torch"):
        import torch
        return torch.from_numpy(np.array(a)).to(device=device or "cpu")
    import jax
    import jax.numpy as jnp
    dtype = jnp.dtype(meta["dtype"])
    if a.dtype != dtype:
        a = a.view(dtype)
    sharding = getattr(like, "sharding", None)
    x = jax.device_put(a, sharding) if sharding is not None else jnp.asarray(a)
    if meta.get("key"):
        return jax.random.wrap_key_data(x, impl=meta["key"])
    if meta.get("weak"):
        from jax._src.lax.lax import _convert_element_type  # the one way to mark an array weakly typed
        x = _convert_element_type(x, dtype, True)
    return x


def _skeleton(info, leaves: list) -> dict:
    """A nested dict of arrays (the driver's `info`) as JSON: each array replaced by its index in
    `leaves`, to which it is appended (empty dicts stay)."""
    if not isinstance(info, Mapping):
        raise AuguryError(f"internal: a checkpoint keeps infos that are dicts of arrays, not {type(info).__name__}")
    out = {}
    for k in sorted(info):
        v = info[k]
        if isinstance(v, Mapping):
            out[str(k)] = _skeleton(v, leaves)
        else:
            out[str(k)] = len(leaves)
            leaves.append(v)
    return out


def _fill(skeleton: dict, values: list) -> dict:
    return {k: _fill(v, values) if isinstance(v, dict) else values[v] for k, v in skeleton.items()}


# --------------------------------------------------------------------------- the file

@dataclass
class Resumed:
    """What a checkpoint holds for its loop: `step`, `state(template)`, `infos()`, `extra`."""

    step: int
    header: dict
    arrays: dict
    path: Path

    def state(self, template):
        """The saved state in `template`'s structure (a fresh `init` of the same run): every leaf
        must have the template's shape and dtype, else the checkpoint is of another program."""
        import jax
        leaves, treedef = jax.tree_util.tree_flatten(template)
        metas = self.header["state"]
        if len(metas) != len(leaves):
            raise _unfit(self.path, f"it holds {len(metas)} state arrays, this run has {len(leaves)}")
        out = []
        device = next((leaf.device for leaf in leaves if _is_torch(leaf)), None)
        for i, (leaf, meta) in enumerate(zip(leaves, metas)):
            dtype, shape = _layout(leaf)
            # a PyTorch carry's scalar may start as a Python float and be a tensor after a step:
            # restored as it was saved, a tensor on the run's device
            if shape != meta["shape"] or (dtype != meta["dtype"] and not meta.get("torch")):
                raise _unfit(self.path, f"state array {i} is {meta['dtype']}{meta['shape']}, this run's "
                                        f"{dtype}{shape}")
            out.append(_from_host(self.arrays[f"state_{i}"], meta, leaf, device))
        return jax.tree_util.tree_unflatten(treedef, out)

    def infos(self) -> list:
        """The per-step infos saved, one nested dict of numpy arrays per step."""
        count, skeleton = int(self.header["info_count"]), self.header["infos"]
        stacked = [self.arrays[f"info_{j}"] for j in range(int(self.header["info_leaves"]))]
        return [_fill(skeleton, [a[i] for a in stacked]) for i in range(count)]

    @property
    def extra(self) -> dict:
        return {name: self.arrays[f"extra_{name}"] for name in self.header["extra"]}


def _unfit(path: Path, why: str) -> AuguryError:
    return AuguryError(f"the checkpoint `{path}` does not fit this run: {why}",
                       notes=["it was written by another version of this sampler or another model; "
                              "start afresh without resuming"])


def read(path: Path) -> tuple[dict, dict]:
    """(header, arrays) of a checkpoint file; a clear error when it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise AuguryError(f"no checkpoint `{path}` to resume" + (" (it is a folder)" if path.exists() else ""),
                          notes=["a checkpoint is written by a run given `checkpoint=PATH` (augury run --checkpoint "
                                 "PATH)"])
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if "header" not in arrays:
            raise ValueError("no Augury checkpoint header")
        header = json.loads(bytes(arrays.pop("header")).decode("utf-8"))
        if not isinstance(header, dict) or header.get("magic") != "augury-checkpoint":
            raise ValueError("no Augury checkpoint header")
        for j in range(len(header["state"])):
            arrays[f"state_{j}"]
        for j in range(int(header["info_leaves"])):
            arrays[f"info_{j}"]
        for name in header["extra"]:
            arrays[f"extra_{name}"]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as ex:
        raise AuguryError(f"the checkpoint `{path}` cannot be read: it is damaged or not an Augury checkpoint "
                          f"({type(ex).__name__}: {ex})",
                          notes=["start afresh without resuming (or resume from another checkpoint)"]) from None
    return header, arrays


def _write(path: Path, header: dict, arrays: dict) -> None:
    """Write the file atomically: a temporary file beside it, synced, then renamed over it."""
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8), **arrays)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as ex:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise AuguryError(f"cannot write the checkpoint `{path}`: {ex.strerror or ex}") from None


# --------------------------------------------------------------------------- a run's checkpoint

@dataclass
class Checkpoint:
    """A run's checkpoint: where it is written (`path`), how often (`every`, or None: at most once
    a minute), the run's `identity`, and on a resume what was read (`resumed`)."""

    path: Path
    every: Optional[int]
    identity: dict
    resumed: Optional[tuple[dict, dict, Path]] = None
    kind: Optional[str] = None        # the loop that took it (None: no loop did)
    saved_step: Optional[int] = None  # the step of the last write
    resumed_step: Optional[int] = None
    _saved_units: int = 0             # the same in the bar's units (what `every` counts)
    _last_time: float = field(default_factory=time.monotonic)

    def start(self, kind: str) -> Optional[Resumed]:
        """A loop takes the checkpoint: what to resume from (None when starting afresh)."""
        self.kind = kind
        self._last_time = time.monotonic()
        if self.resumed is None:
            return None
        header, arrays, path = self.resumed
        if header.get("kind") != kind:
            raise _unfit(path, f"it was written by the `{header.get('kind')}` loop, this run's is `{kind}`")
        self.saved_step = self.resumed_step = int(header["step"])
        self._saved_units = int(header.get("units", header["step"]))
        return Resumed(int(header["step"]), header, arrays, path)

    def due(self, units: int) -> bool:
        """Whether to write at this block boundary, `units` of the bar's (iterations, steps, sweeps) done."""
        last = self._saved_units
        if self.every is not None:
            return units // self.every > last // self.every
        return units > last and time.monotonic() - self._last_time >= _DEFAULT_SECONDS

    def save(self, step: int, state, infos: list = (), extra: Optional[dict] = None, *, interrupted: bool = False,
             total: Optional[int] = None, units: Optional[int] = None) -> None:
        """Write the loop's state at its `step` (`units` of the bar's: `step` unless told; see the module
        docstring); on an interruption, say so."""
        import jax
        leaves = jax.tree_util.tree_leaves(state)
        arrays, metas = {}, []
        for i, leaf in enumerate(leaves):
            arrays[f"state_{i}"], meta = _to_host(leaf)
            metas.append(meta)
        infos = list(infos)
        skeleton, per_step = (_skeleton(infos[0], []), [_skeleton_leaves(i) for i in infos]) if infos else ({}, [])
        for j in range(len(per_step[0]) if per_step else 0):
            arrays[f"info_{j}"] = np.stack([_host_array(leaves[j]) for leaves in per_step])
        extra = dict(extra or {})
        for name, v in extra.items():
            arrays[f"extra_{name}"] = np.asarray(v)
        header = dict(self.identity, magic="augury-checkpoint", kind=self.kind, step=int(step), total=total,
                      units=int(step if units is None else units),
                      state=metas, infos=skeleton, info_count=len(infos),
                      info_leaves=len(per_step[0]) if per_step else 0, extra=list(extra),
                      interrupted=bool(interrupted), written=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _write(self.path, header, arrays)
        self.saved_step = int(step)
        self._saved_units = int(step if units is None else units)
        self._last_time = time.monotonic()
        if interrupted:
            print(f"checkpoint: saved step {step}" + (f" of {total}" if total is not None else "")
                  + f" to {self.path} (resume with resume=\"{self.path}\", or augury run ... --resume {self.path})",
                  file=sys.stderr)


def _skeleton_leaves(info) -> list:
    leaves: list = []
    _skeleton(info, leaves)
    return leaves


def request(checkpoint: Any, every: Any, resume: Any, identity: dict) -> Optional[Checkpoint]:
    """The run's `Checkpoint` from `Model.sample`'s arguments (None when neither is given):
    `checkpoint` the path written, `every` how often, `resume` a path to continue from (or True:
    the `checkpoint` path).  Refuses a method without checkpoints, and a checkpoint of another run."""
    if checkpoint is None and resume in (None, False):
        if every is not None:
            raise AuguryError("`checkpoint_every` needs `checkpoint` (the file to write)")
        return None
    method = identity["method"]
    if method in NO_CHECKPOINTS:
        raise AuguryError(f"`{method}` has no checkpoints yet: {NO_CHECKPOINTS[method]}",
                          notes=["run it without `checkpoint`/`resume` (Ctrl-C still keeps what is done)"])
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and not isinstance(value, (str, os.PathLike, bool)):
            raise AuguryError(f"`{name}` must be a path, not {type(value).__name__}")
    if checkpoint is True or checkpoint is False:
        raise AuguryError("`checkpoint` must be a path (the file to write)")
    if every is not None and (isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1):
        raise AuguryError(f"`checkpoint_every` must be a positive integer, not {every!r}")
    if resume is True:
        if checkpoint is None:
            raise AuguryError("`resume=True` resumes from `checkpoint`, and none is given",
                              notes=["pass resume=PATH, or checkpoint=PATH with resume=True"])
        resume = checkpoint
    path = Path(checkpoint if checkpoint is not None else resume)
    if path.is_dir():
        raise AuguryError(f"the checkpoint `{path}` is a folder; give a file path (RUN.ckpt.npz)")
    if not path.parent.is_dir():
        raise AuguryError(f"cannot write the checkpoint `{path}`: no folder `{path.parent}`")
    ck = Checkpoint(path=path, every=None if every is None else int(every), identity=identity)
    if resume not in (None, False):
        header, arrays = read(Path(resume))
        refuse_other_run(Path(resume), header, identity)
        ck.resumed = (header, arrays, Path(resume))
    return ck


def refuse_other_run(path: Path, header: dict, identity: dict) -> None:
    """An error naming every part of the run that differs from the checkpoint's."""
    diffs = []
    for k in _IDENTITY:
        saved, now = header.get(k), identity[k]
        if saved == now:
            continue
        if k == "settings" and header.get("method") != identity["method"]:
            continue  # another method's settings: that the method differs says it
        if k == "settings" and isinstance(saved, dict):
            shown = lambda d, n: repr(d[n]) if n in d else "unset"  # noqa: E731
            parts = [f"`{n}` ({shown(saved, n)} in the checkpoint, {shown(now, n)} now)"
                     for n in sorted(set(saved) | set(now)) if saved.get(n) != now.get(n) or (n in saved) != (n in now)]
            diffs.append("the settings differ: " + ", ".join(parts))
        elif k in ("model", "data"):
            diffs.append(f"{_WHAT[k]} differ" + ("s" if k == "model" else ""))
        else:
            diffs.append(f"{_WHAT[k]} differs ({saved!r} in the checkpoint, {now!r} now)")
    if diffs:
        raise AuguryError(f"cannot resume from `{path}`: it is a checkpoint of another run: " + "; ".join(diffs),
                          notes=["resume with the same model file, data, method, settings, seed and precision, "
                                 "or start afresh without resuming"])


# --------------------------------------------------------------------------- the current run's

_current: Optional[Checkpoint] = None


def current() -> Optional[Checkpoint]:
    """The checkpoint of the run in progress (None when none was asked for)."""
    return _current


@contextmanager
def active(ck: Optional[Checkpoint]) -> Iterator[None]:
    """Make `ck` the current run's checkpoint while the body runs (the driver, around the sampler)."""
    global _current
    previous, _current = _current, ck
    try:
        yield
    finally:
        _current = previous
