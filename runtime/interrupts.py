"""Ctrl-C during a run: stop between compiled blocks, keep what is done, never stop inside JAX.

Python's own SIGINT handler raises KeyboardInterrupt wherever the main thread happens to be:
inside JAX's tracing or XLA's compilation (the process can then crash at exit), inside a
garbage-collection callback (where it is printed, swallowed, and the run goes on), and not at
all while one long compiled program runs.  So while a run is in progress (`deferred()`), SIGINT
only sets a flag, and the samplers' loops call `check()` between their blocks: it raises
KeyboardInterrupt there, where their `except KeyboardInterrupt` keeps what is done.  The flag
stays set for the rest of the run, so a later loop (a smoothing pass, the next restart) stops
at its first check too.  A second Ctrl-C raises at once.

The command line adds a watchdog (`deferred(exit_after=s)`): a thread woken by the signal itself
(`signal.set_wakeup_fd`: the C-level handler writes to a pipe even while the main thread is
inside XLA).  It says at once that the run is stopping, and ends the process with status 130
when no `check()` takes the interrupt in time: within `s` seconds while no check has passed yet
(the run is binding or compiling: nothing to keep, and compiling cannot be cut short), else
within 1.5 times the longest time between checks (a block's time, at most a minute), so that a
block under way is kept.  A second Ctrl-C ends it at once.  Once the sampler has returned
(`settle()`), a Ctrl-C no longer cuts anything short: the run's results are printed and saved.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

__all__ = ["deferred", "check", "requested", "settle", "resume"]

_LONGEST_WAIT = 60.0  # seconds the watchdog waits at most for a block to end


class _Run:
    """The interrupt state of the run in progress."""

    def __init__(self, exit_after: Optional[float]):
        self.exit_after = exit_after
        self.requested = False   # a SIGINT arrived
        self.signals = 0         # how many (the watchdog counts them)
        self.taken = False       # a `check()` raised for it
        self.settled = False     # the sampler has returned: what remains is writing its results
        self.last_check = time.monotonic()  # the start, then the last check
        self.longest = 0.0       # the longest time between two checks (the first: since the start): a block's time
        self.checks = 0


_run: Optional[_Run] = None


def requested() -> bool:
    """Whether Ctrl-C was pressed during the run in progress."""
    return _run is not None and _run.requested


def check() -> None:
    """A safe point between blocks: raise KeyboardInterrupt if Ctrl-C was pressed."""
    run = _run
    if run is None:
        return
    now = time.monotonic()
    run.longest = max(run.longest, now - run.last_check)  # the first also counts compiling: more patience
    run.last_check = now
    run.checks += 1
    if run.requested:
        run.taken = True
        raise KeyboardInterrupt


def settle() -> None:
    """The sampler has returned: a Ctrl-C from now on stops nothing that is not done."""
    if _run is not None:
        _run.settled = True


def resume() -> None:
    """The next run of a sequence begins (SBC runs many under one `deferred`): a Ctrl-C stops it
    between blocks again, as before `settle()`."""
    if _run is not None:
        _run.settled = False


def _say(text: str) -> None:
    try:
        os.write(2, ("\n" + text + "\n").encode())  # no buffer lock: the main thread may hold it
    except OSError:
        pass


def _watch(run: _Run, wake: int, stop: int) -> None:
    """The watchdog thread: read signal numbers from the wakeup pipe and act on SIGINT."""
    deadline: Optional[float] = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([wake, stop], [], [], timeout)
        if stop in ready:
            return
        if wake in ready:
            count = os.read(wake, 256).count(int(signal.SIGINT))
            if not count:
                continue
            run.signals += count
            run.requested = True
            if run.signals > 1:
                _say("interrupted again: quitting now")
                os._exit(130)
            if run.settled:
                _say("interrupted: the run is done; writing its results (Ctrl-C again to quit at once)")
                continue
            _say("interrupted: stopping after the current block, keeping what is done (Ctrl-C again to quit at once)")
            if not run.taken:  # (the main thread may have taken it already)
                # nothing kept yet (no check passed): a few seconds; else about a block's time, to keep what is done
                wait = min(1.5 * run.longest, _LONGEST_WAIT) if run.checks else 0.0
                deadline = time.monotonic() + max(run.exit_after or 0.0, wait)
            continue
        deadline = None  # the wait is over
        if not (run.taken or run.settled):
            _say("interrupted before anything could be kept")
            os._exit(130)


def _on_sigint(run: _Run, watchdog: bool):
    def handler(signum, frame):
        if watchdog:  # the thread counts and acts; the flag is set here too for a main thread that runs first
            run.requested = True
            return
        run.signals += 1
        run.requested = True
        if run.signals > 1:
            raise KeyboardInterrupt
    return handler


@contextmanager
def deferred(exit_after: Optional[float] = None) -> Iterator[None]:
    """Defer Ctrl-C to `check()` while the body runs (see the module docstring); with
    `exit_after`, also start the watchdog.  Nested uses, threads other than the main one, and a
    SIGINT handler of the caller's own leave everything as it is."""
    global _run
    if (_run is not None or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    run = _Run(exit_after)
    watchdog = exit_after is not None
    pipes: list[int] = []
    thread = None
    old_wakeup = -1
    if watchdog:
        wake_r, wake_w = os.pipe()
        stop_r, stop_w = os.pipe()
        pipes = [wake_r, wake_w, stop_r, stop_w]
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        thread = threading.Thread(target=_watch, args=(run, wake_r, stop_r), name="augury-interrupts", daemon=True)
        thread.start()
    _run = run
    signal.signal(signal.SIGINT, _on_sigint(run, watchdog))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _run = None
        if watchdog:
            signal.set_wakeup_fd(old_wakeup)
            os.write(pipes[3], b"x")
            thread.join()
            for fd in pipes:
                os.close(fd)
