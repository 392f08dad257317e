"""The site's navigation (mkdocs.yml) and its pages agree: every page of docs/ is in the nav and
every nav entry is a page (mkdocs.yml reports a missing one only as information, so that pages
being written do not break the strict build; this test is where a missing page fails)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _nav() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:"):]
    nav = nav[:re.search(r"\n\S", nav[1:]).start() + 1]  # up to the next top-level key
    return re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.M)


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    nav = _nav()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert len(nav) == len(set(nav)), nav
    assert sorted(nav) == pages, (sorted(set(pages) - set(nav)), sorted(set(nav) - set(pages)))


def test_the_images_the_pages_show_exist_and_are_small():
    shown = {m for p in (ROOT / "docs").glob("*.md") for m in re.findall(r"\]\((images/[^)\s]+)\)", p.read_text())}
    assert shown
    for rel in shown:
        path = ROOT / "docs" / rel
        assert path.is_file(), rel
        assert path.stat().st_size <= 150_000, (rel, path.stat().st_size)
