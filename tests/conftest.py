"""Imported before any test module: `import augury` first, so that its XLA CPU workaround (see
augury/__init__.py) is in force before a test module starts JAX.

Under CI (`CI=true`, as `.ci/run` sets) a skipped test is reported as a failure: CI installs every
extra the tests need (PyTorch, mpmath, hypothesis) and has `../shared/posteriordb`, so a skip there
means something is missing, not optional."""

import os

import pytest

import augury  # noqa: F401


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip in CI hides a missing install or file): {reason}"
