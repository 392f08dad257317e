"""Every third-party module the package or its tests import is declared in pyproject.toml (issue 16:
the suite imported `hypothesis`, which no extra installed, and passed only where the machine
happened to have it).  A transitive install is not a declaration: the package's own imports must
be in `dependencies`, the tests' in `dependencies` or an extra that the test run installs."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ["augury", "dsl", "compiler", "runtime"]
# extras the test run installs: `.[test]`, and PyTorch by hand (.ci/run), whose tests skip without it
TEST_EXTRAS = ["test", "torch"]


def _requirement_name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = {_requirement_name(r) for e in TEST_EXTRAS for r in project["optional-dependencies"][e]}
    return core, core | extras


def _local_names() -> set[str]:
    """Modules of this repository that tests import by bare name (helpers beside the tests)."""
    names = {p.stem for p in (ROOT / "tests").rglob("*.py")}
    return names | {"augury", "exact_networks"}


def _imports(folders: list[str]) -> dict[str, str]:
    """Top-level absolute module names imported in the folders' .py files -> one file that does."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "importorskip"
                      and node.args and isinstance(node.args[0], ast.Constant)):
                    mods = [node.args[0].value]
                else:
                    continue
                for m in mods:
                    found.setdefault(m.split(".")[0], str(path.relative_to(ROOT)))
    return found


def _undeclared(imports: dict[str, str], declared: set[str]) -> list[str]:
    dists = packages_distributions()
    local = _local_names()
    bad = []
    for mod, where in sorted(imports.items()):
        if mod in sys.stdlib_module_names or mod in local or mod == "__future__":
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [mod])}
        if not names & declared:
            bad.append(f"{mod} (imported in {where}; distribution {sorted(names)})")
    return bad


def test_the_package_imports_only_its_dependencies():
    core, _ = _declared()
    # optional imports the package guards itself (each says how to install it when missing)
    # (pygments: only augury/lexer.py, which Pygments itself loads through the entry point)
    optional = {"torch", "matplotlib", "pygments"}
    imports = {m: w for m, w in _imports(PACKAGE_DIRS).items() if m not in optional}
    assert not _undeclared(imports, core), _undeclared(imports, core)


def test_the_tests_import_only_declared_packages():
    _, with_extras = _declared()
    bad = _undeclared(_imports(["tests"]), with_extras)
    assert not bad, "imported by the tests but in no dependency or test extra: " + "; ".join(bad)
