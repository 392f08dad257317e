"""Imported before any test module: `import augury` first, so that its XLA CPU workaround (see
augury/__init__.py) is in force before a test module starts JAX.

Under CI (`CI=true`, as `.ci/run` sets) a skipped test is reported as a failure: CI installs every
extra the tests need (PyTorch, mpmath, hypothesis) and has `../shared/posteriordb`, so a skip there
means something is missing, not optional."""

import os
import signal
import tempfile

import pytest

# XLA compilation is most of the suite's time (a test file run twice takes a third as long the
# second time), and many tests and CLI subprocesses compile the same programs: share them through
# JAX's persistent cache (keyed by program, JAX version, flags and device; results unchanged).
# Set before JAX starts, in this process and the children that inherit the environment.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"augury-tests-xla-cache-{getattr(os, 'getuid', lambda: 0)()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 << 30))  # least recently used go first

import augury  # noqa: F401,E402

# A suite started as a background job of a non-interactive shell inherits SIGINT ignored, and so
# would its subprocesses; the Ctrl-C tests need Python's own handler (a handler, unlike SIG_IGN,
# is reset to the default in a child, whose Python then installs its own again).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    """An `extended` test is also `slow`, so that the default tier never runs it."""
    for item in items:
        if item.get_closest_marker("extended") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip in CI hides a missing install or file): {reason}"
