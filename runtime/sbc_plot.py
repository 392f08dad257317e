"""SBC's rank histograms, as the paper draws them (Talts et al. 2018, Fig. 1-5): one panel per
parameter element, the counts per bin, and the grey band holding 99% of a bin's counts when the
ranks are uniform.  A failing element's panel is titled in red."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Union

import numpy as np

from . import sbc_ranks as sr


def plot_ranks(result, path: Union[str, Path, None] = None, max_panels: int = 48):
    """The figure of `result`'s rank histograms; saved to `path` when given (then closed).  With
    more elements than `max_panels`, those with the smallest p-values are shown (the title says so)."""
    from .figures import pyplot
    plt = pyplot(files=path is not None)
    elements = result.elements()
    shown = elements
    if len(elements) > max_panels:
        shown = sorted(elements, key=lambda e: (np.nan_to_num(e[2], nan=2.0)))[:max_panels]
    bins, draws, runs = result.bins, result.draws, result.runs
    low, high = sr.uniform_band(runs, draws, bins)
    p_bin = sr.bin_probabilities(draws, bins)
    cols = min(6, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(2.6 * cols, 5.2), 2.1 * rows + 0.8), squeeze=False)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    for ax, (label, ranks, p) in zip(axes.ravel(), shown):
        counts = np.bincount(sr.bin_of(ranks, draws, bins), minlength=bins)
        x = np.arange(bins)
        ax.fill_between(np.repeat(np.arange(bins + 1), 2)[1:-1], np.repeat(low, 2), np.repeat(high, 2),
                        color="0.85", lw=0, label="99% of uniform")
        ax.plot([0, bins], [runs * p_bin.mean()] * 2, color="0.5", lw=0.8)
        ax.bar(x + 0.5, counts, width=0.9, color="#4c72b0")
        fail = np.isfinite(p) and p < result.level
        ax.set_title(f"{label}  p = {sr.pvalue_text(p)}", fontsize=8, color="#c0392b" if fail else "black")
        ax.set_xlim(0, bins)
        ax.set_xticks([0, bins])
        ax.set_xticklabels(["0", str(draws)], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    more = (f"; the {len(shown)} of {len(elements)} elements with the smallest p-values"
            if len(shown) < len(elements) else "")
    fig.suptitle(f"SBC of {result.method}: ranks of the true values among {draws} draws\n{runs} runs, {bins} bins"
                 f"{' (partial)' if result.partial else ''}{more}; grey: 99% band of uniform ranks", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(path), dpi=110)
        plt.close(fig)
    return fig
