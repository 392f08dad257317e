"""Imported before any test module: `import augury` first, so that its XLA CPU workaround (see
augury/__init__.py) is in force before a test module starts JAX."""

import augury  # noqa: F401
