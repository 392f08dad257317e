"""Augury: a declarative probabilistic-modeling language on JAX.

    import augury
    model = augury.compile("model.aug")
    post = model.sample(data={"y": y}, method="nuts", seed=0)
    post.mean("theta")

Importing `augury` loads only the error types: the front end (lark, networkx) and the
runtime (JAX) load when first used, so `import augury.runtime.operators` stays light.
"""

import os as _os

# XLA's CPU "YNN" fusion (JAX 0.10) miscompiles some float32 reductions: `x + sum(u * x, -1)` on
# arrays over 32768 elements returns wrong rows with no error.  Turn it off unless the user set
# the flag; it takes effect when JAX starts its CPU backend, so import augury before using JAX.
_YNN = "--xla_cpu_experimental_ynn_fusion_type"


def _xla_cpu_workaround() -> None:
    import sys
    if _YNN in _os.environ.get("XLA_FLAGS", ""):
        return
    _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "") + f" {_YNN}=").strip()
    if "jax" in sys.modules:  # too late if JAX has started its backends already: say so
        try:
            from jax._src import xla_bridge
            started = xla_bridge.backends_are_initialized()
        except Exception:  # a JAX without this private helper: nothing to say
            started = False
        if started:
            import warnings
            warnings.warn("JAX started before `import augury`: XLA's CPU fusion that miscompiles some float32 "
                          "reductions (JAX 0.10) stays on in this process. Import augury before using JAX, or "
                          f"set XLA_FLAGS={_YNN}= before starting Python.", RuntimeWarning, stacklevel=3)


_xla_cpu_workaround()

from augury.errors import (AuguryCheckError, AuguryDataError, AuguryError, AuguryInferenceError,
                           AugurySyntaxError, Diagnostic)

__version__ = "0.1.0"


def load_posterior(path):
    """Read a posterior saved with `Posterior.save` (.nc or .npz)."""
    from augury.runtime.posterior import load_posterior as _load
    return _load(path)


def __getattr__(name):
    if name in ("compile", "Model"):
        from augury import model
        return getattr(model, name)
    if name == "Posterior":
        from augury.runtime.posterior import Posterior
        return Posterior
    if name == "sbc":  # simulation-based calibration of a method on a model (augury/calibration.py)
        from augury.calibration import sbc
        return sbc
    if name == "oracle":  # augury.oracle.gmm_posterior: exact posteriors to check samplers against
        import importlib
        return importlib.import_module("augury.oracle")
    raise AttributeError(f"module 'augury' has no attribute {name!r}")


__all__ = ["compile", "Model", "load_posterior", "AuguryError", "AugurySyntaxError", "AuguryCheckError",
           "AuguryDataError", "AuguryInferenceError", "Diagnostic", "__version__"]
