"""A tiny progress reporter on tqdm, writing to stderr.

Shown when `enabled` and stderr is a terminal or the code runs in a Jupyter kernel (a notebook
widget there, via tqdm.auto); `AUGURY_PROGRESS=1` forces it on (logs, CI), `AUGURY_PROGRESS=0`
forces it off.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

__all__ = ["Progress", "progress_bar", "progress_enabled"]


def progress_enabled(enabled: bool = True) -> bool:
    """Whether a bar asked for with `enabled` is actually shown."""
    env = os.environ.get("AUGURY_PROGRESS", "")
    if not enabled or env == "0":
        return False
    if env == "1":
        return True
    if in_notebook():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (there stderr is no terminal, but a bar is wanted)."""
    ipython = sys.modules.get("IPython")  # never imported here: only a running kernel has it loaded
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:  # an IPython without get_ipython
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """The handle `progress_bar` yields: `update(n)` and `set_postfix(**kw)`; no-ops when hidden."""

    def __init__(self, bar: Optional[Any]):
        self._bar = bar
        self.n = 0

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix(self, **kw: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix(**kw)

    def set_phase(self, desc: str, total: Optional[int] = None) -> None:
        """Name the run's current phase on the same bar (one bar per run, not one per phase);
        with `total`, the count restarts from 0 towards it."""
        if total is not None:
            self.n = 0
            if self._bar is not None:
                self._bar.reset(total=total)
        if self._bar is not None:
            self._bar.set_description(desc)


@contextmanager
def progress_bar(total: Optional[int], desc: str = "", enabled: bool = True) -> Iterator[Progress]:
    """A progress bar of `total` steps labelled `desc`, closed on exit."""
    if not progress_enabled(enabled):
        yield Progress(None)
        return
    if in_notebook():  # a widget bar where ipywidgets is installed (tqdm.auto falls back to text)
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=True)
    try:
        yield Progress(bar)
    finally:
        bar.close()
