"""The loop the mixture MCMC samplers (gibbs, split_merge) share: compiled segments of
iterations, the warmup dropped, a progress bar, Ctrl-C between segments, and checkpoints.

Segment s covers iterations [s·length, (s+1)·length) ∩ [0, total); its random keys are
derived from s alone by the sampler, so a run resumed from a checkpoint at a segment boundary
draws what the uninterrupted run would have drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .. import checkpoints, interrupts
from ..progress import progress_bar

# advance(s, state, extra, lo, hi) -> (state, kept, extra): run segment s; `kept` is the
# segment's kept draws, iterations lo:hi of it, as arrays (chains, hi − lo, ...), or None
Advance = Callable[[int, Any, dict, int, int], tuple[Any, Optional[dict], dict]]


@dataclass
class SegmentRun:
    state: Any
    kept: list[dict]      # the kept draws, one dict per segment (chains, draws, ...)
    extra: dict           # the sampler's running counters (saved in checkpoints)
    done: int             # iterations done
    interrupted: bool


def _kept_arrays(kept: list[dict]) -> dict:
    """The draws kept so far as one array per name, for a checkpoint."""
    return {f"kept.{k}": v for k, v in concatenated(kept).items()} if kept else {}


def run_segments(method: str, *, total: int, warmup: int, length: int, state, extra: dict, advance: Advance,
                 progress: bool) -> SegmentRun:
    """Run `advance` over the segments not yet done (all, or those after a checkpoint's)."""
    kept: list[dict] = []
    done, interrupted = 0, False
    ck = checkpoints.current()
    resumed = ck.start(method) if ck is not None else None
    if resumed is not None:
        state, done = resumed.state(state), resumed.step
        extra = {k: np.asarray(resumed.extra[k]).astype(np.asarray(v).dtype) for k, v in extra.items()}
        saved = {k[5:]: v for k, v in resumed.extra.items() if k.startswith("kept.")}
        kept = [saved] if saved else []

    def save(stopped: bool = False) -> None:
        ck.save(done, state, extra={**extra, **_kept_arrays(kept)}, total=total, interrupted=stopped)

    with progress_bar(total, desc=method, enabled=progress) as bar:
        bar.update(done)
        try:
            for s in range(-(-done // length), -(-total // length)):
                start = s * length
                hi, lo = min(total - start, length), max(warmup - start, 0)
                state, piece, extra = advance(s, state, extra, lo, hi)
                if piece is not None:
                    kept.append(piece)
                bar.update(hi)
                done = start + hi
                if ck is not None and ck.due(done):
                    save()
                interrupts.check()  # Ctrl-C is taken here, between segments
        except KeyboardInterrupt:
            interrupted = True
            if ck is not None:
                save(stopped=True)
    return SegmentRun(state=state, kept=kept, extra=extra, done=done, interrupted=interrupted)


def concatenated(kept: list[dict]) -> dict:
    """The kept segments as one array per name (chains, draws, ...)."""
    return {k: np.concatenate([seg[k] for seg in kept], axis=1) for k in kept[0]}
