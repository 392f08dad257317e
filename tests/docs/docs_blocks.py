"""The fenced code blocks of the documentation (docs/*.md and the README), with the marker that
precedes each, for tests/docs/test_docs_code.py.

A marker is an HTML comment on the line before a fence (invisible on the site):

- `<!-- no-check: why -->`: the block is not run (a fragment, a synopsis with placeholders);
- `<!-- error: TEXT -->`: an `augury` block must fail to compile with an error containing TEXT;
  a command block must exit non-zero with TEXT on stderr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(no-check|error)\s*(?::\s*(.*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its page, the line of its opening fence, language, text and marker."""

    page: Path
    line: int
    lang: str
    text: str
    marker: str = ""  # "", "no-check" or "error"
    note: str = ""  # the marker's text (the expected error)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    return [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, in order; an unclosed fence is an error."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        i += 1
        body = []
        while i < len(lines) and not re.match(rf"^{indent}```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i == len(lines):
            raise ValueError(f"{page.name}:{start + 1}: the fence is never closed")
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = MARKER.match(prev)
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n",
                         mark.group(1) if mark else "", (mark.group(2) or "") if mark else ""))
        i += 1
    return out


def all_blocks() -> list[Block]:
    return [b for p in pages() for b in blocks(p)]


def commands(block: Block) -> list[str]:
    """The `augury ...` command lines of a bash or console block (console lines start with `$ `),
    without a trailing `# comment`; other lines (`pip install ...`, output) are not run."""
    if block.lang not in ("bash", "console", "sh", "shell") or block.marker == "no-check":
        return []
    out = []
    for line in block.text.splitlines():
        line = line.strip()
        if block.lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:].strip()
        if line.startswith("augury "):
            out.append(re.sub(r"\s+#.*$", "", line))
    return out
