"""Regenerate examples/inpaint_digits.json and examples/deblur_digits.json: one scikit-learn
digit (pixels / 16, in [0, 1]) with its bottom three rows hidden and the rest seen with noise
sd 0.05; and the same digit blurred by the 7 x 7 Gaussian kernel of sd 1.5 (Augury's own
`blur`, zero-padded) with noise sd 0.05.  The digit is from the
last 100 of the 1797 (the network was trained on all of them; this is a demo, not a test)."""

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

NOISE = 0.05
HIDDEN_ROWS = slice(5, 8)

x = load_digits().images[-7] / 16.0
keep = np.ones((8, 8))
keep[HIDDEN_ROWS] = 0.0
y = keep * (x + NOISE * np.random.default_rng(0).normal(size=x.shape))
out = Path(__file__).with_name("inpaint_digits.json")
out.write_text(json.dumps({"y": np.round(y, 4).tolist()}, indent=1) + "\n")
print(f"wrote {out} (digit {load_digits().target[-7]})")

from augury.runtime.operators import blur, gaussian_kernel  # noqa: E402

blurred = np.asarray(blur(gaussian_kernel(7, 1.5))(x.astype(np.float32)), np.float64)
y_blur = blurred + NOISE * np.random.default_rng(1).normal(size=x.shape)
out = Path(__file__).with_name("deblur_digits.json")
out.write_text(json.dumps({"y": np.round(y_blur, 4).tolist()}, indent=1) + "\n")
print(f"wrote {out}")
