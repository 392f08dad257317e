"""Running one golden case: parse + check a malformed model, return the error text.

A case file may start with `# consts: {JSON}` to pass run-time const overrides.
The file is parsed under its bare name (`NNN_name.aug`) so that the expected
text does not depend on where the repository lives.
"""

from __future__ import annotations

import json
from pathlib import Path

from augury.dsl.check import check
from augury.errors import AuguryError
from augury.dsl.parser import parse

GOLDEN = Path(__file__).resolve().parent / "golden"


def consts_of(source: str):
    first = source.splitlines()[0] if source else ""
    if first.startswith("# consts:"):
        return json.loads(first[len("# consts:"):])
    return None


def run_case(path: Path) -> str:
    """The formatted error for a malformed model; raises AssertionError if it is accepted."""
    source = path.read_text(encoding="utf-8")
    try:
        check(parse(source, path.name), consts_of(source))
    except AuguryError as err:
        return str(err)
    raise AssertionError(f"{path.name}: expected an error, but the model was accepted")


def cases() -> list[Path]:
    return sorted(GOLDEN.glob("*.aug"))
