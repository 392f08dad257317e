"""Source spans and diagnostics: errors and warnings with a span, formatted like stanc3.

A leaf module: every layer (dsl, compiler, runtime) may import it, and it imports
nothing of Augury.

    deblur.aug:7:14: error: shape mismatch in likelihood of `y`
        y ~ normal(A(x), sigma)
                   ^~~~
      `A(x)` has shape (1, 16, 16) but `y` is declared real[1, 28, 28]
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Optional


@dataclass(frozen=True)
class Span:
    """A region of source text; lines and columns are 1-based, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("<unknown>", 0, 0, 0, 0)



@dataclass(frozen=True)
class Diagnostic:
    """One message about the model text: `severity` is "error" or "warning"."""

    severity: str
    message: str
    span: Span = NO_SPAN
    notes: tuple[str, ...] = ()
    source: str = field(default="", compare=False, repr=False)
    code: str = field(default="", compare=False)  # a warning's kind, for filtering (e.g. "flat-prior")

    def format(self, source: Optional[str] = None) -> str:
        src = source if source is not None else self.source
        sp = self.span
        if sp is NO_SPAN or sp.line <= 0:
            head = f"{sp.file}: {self.severity}: {self.message}" if sp.file != "<unknown>" else f"{self.severity}: {self.message}"
            return "\n".join([head] + [f"  {n}" for n in self.notes])
        lines = [f"{sp.file}:{sp.line}:{sp.col}: {self.severity}: {self.message}"]
        text_lines = src.splitlines() if src else []
        if 0 < sp.line <= len(text_lines):
            text = text_lines[sp.line - 1].rstrip("\n")
            lines.append("    " + text)
            if sp.end_line == sp.line and sp.end_col > sp.col:
                width = sp.end_col - sp.col
            else:
                width = max(1, len(text.rstrip()) - sp.col + 1)
            lines.append("    " + " " * (sp.col - 1) + "^" + "~" * (width - 1))
        lines.extend(f"  {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


class AuguryError(Exception):
    """An error a user can cause; `str(err)` is the formatted diagnostic."""

    def __init__(self, message: str, span: Span = NO_SPAN, notes: Iterable[str] = (), source: str = "",
                 diagnostics: Optional[list[Diagnostic]] = None):
        if diagnostics is None:
            diagnostics = [Diagnostic("error", message, span, tuple(notes), source)]
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    @property
    def span(self) -> Span:
        return self.diagnostics[0].span


class AugurySyntaxError(AuguryError):
    """The text does not parse."""


class AuguryCheckError(AuguryError):
    """The model parses but is not well formed: names, types, shapes, supports."""


class AuguryDataError(AuguryError):
    """Data does not match the model's declarations."""


class AuguryInferenceError(AuguryError):
    """A method does not apply, or a run failed (NaN, divergence of all chains, ...)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The note `did you mean `x`?` for the nearest candidate, or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
