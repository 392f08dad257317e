"""What the figures and the run report know beyond the posterior: the model's text and file, the
data used, each image-shaped parameter's measurement and hidden pixels (an inpainting `mask`),
and a known truth.  Read once from the compiled model and the data; nothing here samples."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from augury.errors import AuguryError


@dataclass
class RunContext:
    """Everything a figure or the report may show besides the draws (all optional)."""

    model_text: str = ""
    model_file: str = ""
    data_source: str = ""                                         # "examples/x.json", "a dict of 2 arrays", ...
    measurements: dict[str, np.ndarray] = field(default_factory=dict)  # image param -> its measurement
    hidden: dict[str, np.ndarray] = field(default_factory=dict)        # image param -> bool, True where masked
    truth: dict[str, np.ndarray] = field(default_factory=dict)         # variable -> its true value


def describe_data(data: Any) -> str:
    """The data argument in words: its path(s), or what kind of mapping it was."""
    if data is None:
        return ""
    if isinstance(data, (str, Path)):
        return str(data)
    if isinstance(data, (list, tuple)) and all(isinstance(x, (str, Path)) for x in data):
        return ", ".join(str(x) for x in data)
    if isinstance(data, Mapping):
        return f"a dict of {len(data)} array{'s' if len(data) != 1 else ''} ({', '.join(map(str, data))})"
    return type(data).__name__


def load_truth(truth: Any) -> dict[str, np.ndarray]:
    """A truth given as a dict of arrays or a `.json` / `.npz` file of them (no pickles)."""
    if truth is None:
        return {}
    if isinstance(truth, Mapping):
        return {str(k): np.asarray(v) for k, v in truth.items()}
    path = Path(truth)
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("it does not hold an object of named arrays")
            return {str(k): np.asarray(v) for k, v in raw.items()}
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise AuguryError(f"cannot read the truth from `{path}`: {e}") from None
    raise AuguryError(f"cannot read the truth from `{path}`: unknown file type `{path.suffix}`",
                      notes=["use a `.json` or `.npz` file of named arrays"])


def truth_beside(model_file: str | Path) -> Optional[Path]:
    """`STEM_truth.json` next to a model file (the examples' convention), if there is one."""
    cand = Path(model_file).with_name(Path(model_file).stem + "_truth.json")
    return cand if cand.is_file() else None


def run_context(model=None, data: Any = None, post=None, truth: Any = None) -> RunContext:
    """The context of a run of `model` (an `augury.Model`, or None) on `data` that made `post`."""
    ctx = RunContext(data_source=describe_data(data), truth=load_truth(truth))
    if model is not None:
        ctx.model_text = model.program.source
        ctx.model_file = "" if model.program.file.startswith("<") else model.program.file
        if post is not None and data is not None and hasattr(model, "measured_images"):
            ctx.measurements, ctx.hidden = model.measured_images(post, data)
    return ctx
