"""Pieces of a posterior's printed summary that read only its stats or its text: a mixture's
number of components for the headline, and the summary as an HTML table for notebooks."""

from __future__ import annotations

import html

import numpy as np


def components_headline(sample_stats: dict) -> list[str]:
    """A mixture's number of components: the posterior's mode and its probability (gibbs,
    split_merge: occupied components per draw), or the components holding at least half a
    point of responsibility (em, vi); [] for other methods."""
    if "num_components" in sample_stats and sample_stats["num_components"].size:
        ks = sample_stats["num_components"].reshape(-1).astype(np.int64)
        counts = np.bincount(ks)
        k, p = int(np.argmax(counts)), counts.max() / counts.sum()
        lo, hi = (int(v) for v in np.quantile(ks, [0.05, 0.95], method="inverted_cdf"))
        spread = f"; {lo}–{hi} in 90%" if lo != hi else ""
        return [f"{k} components (posterior probability {p:.2f}{spread})"]
    r = sample_stats.get("responsibilities")
    if r is not None and r.ndim == 2 and r.size:
        return [f"{int(np.sum(r.sum(axis=0) >= 0.5))} components occupied"]
    return []


def summary_html(header: str, table: str) -> str:
    """The headline and the text summary table (`Posterior.summary`) as HTML: its first line
    is the column names, each other line a label and its values, a last "… N more" line a note."""
    lines = table.splitlines()
    head, body = lines[0].split(), lines[1:]
    more = body.pop() if body and body[-1].startswith("…") else None
    cells = lambda row, tag: "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)  # noqa: E731
    rows = "".join(f"<tr>{cells(r.split()[:1], 'th')}{cells(r.split()[1:], 'td')}</tr>" for r in body)
    return (f"<p><b>{html.escape(header)}</b></p><table><thead><tr><th></th>{cells(head, 'th')}</tr>"
            f"</thead><tbody>{rows}</tbody></table>" + (f"<p>{html.escape(more)}</p>" if more else ""))
