"""The measurement and the hidden pixels of an inverse problem's image, for the figures and the
run report (runtime/plots_context.py): they need the model's structure and its bound operators,
so they are read here, beside the Model, and handed to the runtime as arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def measured_images(model, post, data: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({param: measurement}, {param: bool, True where masked}) where the model has the inverse
    problem's form (`x ~ diffusion(...)`, `y ~ normal(A(x), s)`) and `post` holds `x`."""
    from augury.compiler.inverse import recognize
    from augury.model import _data_mapping
    from augury.runtime.operators import _as_mask
    measurements: dict[str, np.ndarray] = {}
    hidden: dict[str, np.ndarray] = {}
    form = recognize(model.structure)
    if isinstance(form, str) or form.param not in post.names:
        return measurements, hidden
    y = _data_mapping(data).get(form.data)
    if y is not None and np.ndim(y) >= 2:
        measurements[form.param] = np.asarray(y, np.float64)
    if form.op is None:
        return measurements, hidden
    bound, _ = model.bind(data, None, post.settings.get("precision", "float32"), inverse=True)  # cached by the run
    op = bound.env.operators.get(form.op)
    if op is not None and op.name == "mask" and op.parts:
        shape = post.shape(form.param)
        keep = np.broadcast_to(np.asarray(_as_mask(op.parts[0], shape)), shape)
        hidden[form.param] = keep == 0
    return measurements, hidden
