"""Rewrite every `NNN_name.expected` from the current parser and checker.

    python3 tests/dsl/golden/regen.py            # all cases
    python3 tests/dsl/golden/regen.py 064 084     # cases whose names start with these

Read every changed message before accepting it (`git diff tests/dsl/golden`):
the expected files are the specification of the error messages.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from golden_cases import run_case  # noqa: E402


def main(prefixes: list[str]) -> None:
    for aug in sorted(HERE.glob("*.aug")):
        if prefixes and not any(aug.stem.startswith(p) for p in prefixes):
            continue
        text = run_case(aug)
        exp = aug.with_suffix(".expected")
        old = exp.read_text(encoding="utf-8") if exp.exists() else None
        exp.write_text(text + "\n", encoding="utf-8")
        flag = "unchanged" if old == text + "\n" else "WRITTEN"
        print(f"--- {aug.name} [{flag}]\n{text}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
