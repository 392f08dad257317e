"""Writes examples/change_point.json: 40 simulated yearly counts whose rate drops from
4 to 1 in year 15 (the project's own data; seed fixed)."""

import json
from pathlib import Path

import numpy as np

rng = np.random.default_rng(20261123)
rate = np.where(np.arange(40) < 15, 4.0, 1.0)
y = rng.poisson(rate).tolist()
Path(__file__).with_name("change_point.json").write_text(json.dumps({"y": y}) + "\n")
