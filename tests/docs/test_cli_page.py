"""docs/cli.md documents every subcommand and every option of the `augury` parser (augury/cli.py):
an option added to the CLI without a line on the page fails here."""

from __future__ import annotations

import argparse
from pathlib import Path

from augury.cli import _parser

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_subcommand_has_a_section():
    subs = _subparsers(_parser())
    assert {"check", "graph", "run"} <= set(subs)
    missing = [name for name in subs if f"## `augury {name}`" not in PAGE]
    assert not missing, missing


def test_every_option_is_documented():
    parser = _parser()
    missing = []
    for name, sub in [("augury", parser), *_subparsers(parser).items()]:
        for action in sub._actions:
            for opt in action.option_strings:
                if f"`{opt}" not in PAGE:
                    missing.append(f"{name} {opt}")
    assert not missing, missing
