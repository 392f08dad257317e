"""The sampler registry: one entry per implemented inference method.

Keyed by the names of the method table (`augury.dsl.signatures.METHODS`); the compiler's
method table (`augury.compiler.methods`) derives "implemented" from this registry, and
`Model.sample` dispatches through it.  Each entry names the module that implements the
method (see `protocol.py` for the two shapes a module may take); modules load on first
use, so reading the registry imports no JAX.

Adding a method: one module here, one line below, and its requirement function in
`compiler/methods.py` (docs/samplers.md, "Adding a method").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class SamplerEntry:
    """A registered method: `module` implements it (`run`, or `build`/`finalize`)."""

    name: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


SAMPLERS: dict[str, SamplerEntry] = {e.name: e for e in [
    SamplerEntry("nuts", "augury.runtime.samplers.nuts"),
    SamplerEntry("hmc", "augury.runtime.samplers.nuts"),
    SamplerEntry("prior", "augury.runtime.samplers.prior"),
    SamplerEntry("smc", "augury.runtime.samplers.smc"),
    SamplerEntry("particle_filter", "augury.runtime.samplers.particle_filter"),
    SamplerEntry("pmmh", "augury.runtime.samplers.pmmh"),
    SamplerEntry("smc2", "augury.runtime.samplers.smc2"),
    *[SamplerEntry(m, f"augury.runtime.samplers.{m}") for m in ("dps", "pigdm", "ddrm", "pc", "tweedie",
                                                                      "tds", "mcgdiff", "ensemble")],
    *[SamplerEntry(m, f"augury.runtime.samplers.{m}") for m in ("em", "vi", "gibbs", "split_merge")],
]}
