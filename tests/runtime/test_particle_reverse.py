"""Ctrl-C in the weighted-particle reverse process (runtime/particle_reverse.py), which tds,
mcgdiff and the ensemble share: an interrupt between blocks keeps the particles' denoised
estimate with their current weights, says how many steps were run, and reports no log evidence
(the normalizer of a part-way run is not p(y)).  tests/cli/test_ctrl_c.py sends a real SIGINT
to `augury run` on the ensemble example."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import augury
from augury.runtime import reverse

sys.path.insert(0, str(Path(__file__).resolve().parent / "samplers"))
from two_modes import DATA, SOURCE  # noqa: E402


@pytest.mark.parametrize("method", ["ensemble", pytest.param("tds", marks=pytest.mark.slow),
                                    pytest.param("mcgdiff", marks=pytest.mark.slow)])  # one loop: one in the default tier
def test_an_interrupt_keeps_the_weighted_particles_and_withholds_the_evidence(method, monkeypatch):
    model = augury.compile(SOURCE)
    calls = []

    def check():  # Ctrl-C during the second block
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(reverse.interrupts, "check", check)
    post = model.sample(DATA, method=method, particles=200, steps=100, seed=0)  # blocks of 5 steps
    assert post.interrupted
    assert post.log_evidence is None and post.log_evidence_sd is None
    x = post.samples("x")
    assert x.shape == (200, 4) and np.all(np.isfinite(x))
    assert np.isclose(post.weights.sum(), 1.0) and np.all(np.isfinite(post.log_weights))
    assert any("interrupted after 10 of 100 steps" in w for w in post.warnings), post.warnings
