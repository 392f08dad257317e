"""The README and docs/ point only at files the repository has (issue 16: the README sent readers
to a language reference and architecture notes that were not in it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target)
PAGE = re.compile(r"`((?:docs|examples|benchmarks|scripts|tests)/[\w./-]+\.(?:md|aug|py|json))`")  # `docs/x.md`


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def _broken(page: Path) -> list[str]:
    text = page.read_text()
    bad = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            bad.append(target)
    bad += [p for p in PAGE.findall(text) if not (ROOT / p).exists()]
    return bad


def test_the_language_reference_and_architecture_notes_ship_in_docs():
    for name in ("reference.md", "architecture.md", "language.md"):
        assert (ROOT / "docs" / name).is_file(), name
    readme = (ROOT / "README.md").read_text()
    assert "(docs/reference.md)" in readme and "(docs/architecture.md)" in readme


def test_every_link_in_the_readme_and_docs_resolves():
    broken = {str(p.relative_to(ROOT)): b for p in _pages() if (b := _broken(p))}
    assert not broken, broken
