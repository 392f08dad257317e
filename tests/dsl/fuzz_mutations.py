"""Mutations of model texts for the front end's fuzz test (test_fuzz.py): each mutant is a
corpus text with 1–3 edits at random places — a span deleted, a character or a corpus token
inserted, a token replaced by another, a line deleted, duplicated or swapped, the text cut
short — drawn from a seeded NumPy generator, so a failing mutant is reproducible from its
index."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# characters the grammar gives meaning to, and a few it does not
CHARS = list("()[]{},;:=~<>+-*/@.^'\"#\n\t 0123456789abexyzKN_!?$%&|\\") + ["\u03c3", "\u00a0", "\x00"]
TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|==|<=|>=|!=|\S")


def corpus() -> list[str]:
    """The shipped examples and the golden malformed models (tests/dsl/golden)."""
    files = sorted((ROOT / "examples").glob("*.aug")) + sorted((ROOT / "tests" / "dsl" / "golden").glob("*.aug"))
    return [f.read_text(encoding="utf-8") for f in files]


def tokens(texts: list[str]) -> list[str]:
    return sorted({t for s in texts for t in TOKEN.findall(s)})


def mutate(text: str, rng: np.random.Generator, vocab: list[str]) -> str:
    for _ in range(int(rng.integers(1, 4))):
        n = len(text)
        kind = int(rng.integers(0, 8))
        i = int(rng.integers(0, n + 1))
        if kind == 0 and n:  # delete a span
            text = text[:i] + text[i + int(rng.integers(1, 6)):]
        elif kind == 1:  # insert a character
            text = text[:i] + CHARS[int(rng.integers(len(CHARS)))] + text[i:]
        elif kind == 2:  # insert a token of the corpus
            text = text[:i] + " " + vocab[int(rng.integers(len(vocab)))] + " " + text[i:]
        elif kind == 3:  # replace a token by another
            spans = [m.span() for m in TOKEN.finditer(text)]
            if spans:
                a, b = spans[int(rng.integers(len(spans)))]
                text = text[:a] + vocab[int(rng.integers(len(vocab)))] + text[b:]
        elif kind in (4, 5, 6):  # delete, duplicate or swap lines
            lines = text.split("\n")
            j, k = int(rng.integers(len(lines))), int(rng.integers(len(lines)))
            if kind == 4:
                del lines[j]
            elif kind == 5:
                lines.insert(k, lines[j])
            else:
                lines[j], lines[k] = lines[k], lines[j]
            text = "\n".join(lines)
        else:  # cut short
            text = text[:i]
    return text


def mutants(count: int, seed: int):
    """(index, text) of `count` mutants; the same seed gives the same mutants."""
    texts = corpus()
    vocab = tokens(texts)
    rng = np.random.default_rng(seed)
    for k in range(count):
        yield k, mutate(texts[int(rng.integers(len(texts)))], rng, vocab)
