"""The mixture methods' figure (em, vi, gibbs, split_merge): the data points coloured by their
most probable component (class, with prototypes) with the assignment's uncertainty as the
marker's opacity and size, on the first two coordinates or, above two dimensions, the first
two principal components; beside it the component weights and, for the samplers, the number
of components per draw; and the true classes when known."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .figures import finish, pyplot


def _meta(post) -> Optional[dict]:
    meta = post.settings.get("mixture")
    return meta if isinstance(meta, dict) and "names" in meta else None


def assignment_name(meta: dict) -> str:
    names = meta["names"]
    return names.get("assignment", f"{names['data']}_component")


def mixture_names(post) -> list[str]:
    """The variables the cluster figure shows (the assignment), which get no trace figure."""
    meta = _meta(post)
    if meta is None:
        return []
    z = assignment_name(meta)
    return [z, f"{z}_prototype"]


def class_probabilities(post) -> Optional[np.ndarray]:
    """(N, C) p(class of point n | data): the responsibilities summed over each class's
    components (prototypes), or None when the posterior keeps none."""
    meta = _meta(post)
    r = post.sample_stats.get("responsibilities")
    if meta is None or r is None or np.ndim(r) != 2:
        return None
    r = np.asarray(r, np.float64)
    groups = meta.get("groups")
    if groups is None:
        return r
    g = np.asarray(groups)
    return np.stack([r[:, g == c].sum(axis=1) for c in range(int(g.max()) + 1)], axis=1)


def projection(X: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """(N, 2) coordinates to draw and their axis labels: X itself in two dimensions, the
    principal components (with their share of the variance) above."""
    X = np.asarray(X, np.float64).reshape(len(X), -1)
    if X.shape[1] == 1:
        return np.column_stack([X[:, 0], np.zeros(len(X))]), ("x", "")
    if X.shape[1] == 2:
        return X, ("coordinate 0", "coordinate 1")
    Xc = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    share = s ** 2 / max(float(np.sum(s ** 2)), 1e-300)
    return Xc @ vt[:2].T, (f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%})")


def point_colors(labels: np.ndarray, certainty: np.ndarray) -> np.ndarray:
    """(N, 4) RGBA: the label's colour (tab20, cycling), opacity 0.15 + 0.85 · certainty."""
    import matplotlib
    cmap = matplotlib.colormaps["tab20" if int(labels.max(initial=0)) >= 10 else "tab10"]
    rgba = np.asarray([cmap(int(k) % cmap.N) for k in labels])
    rgba[:, 3] = 0.15 + 0.85 * np.clip(certainty, 0.0, 1.0)
    return rgba


def _truth_labels(truth: dict, n: int, name: str) -> Optional[np.ndarray]:
    """The true classes: the truth's entry under the assignment's name, or its one entry of N labels."""
    if name in truth and np.shape(truth[name]) == (n,):
        return np.asarray(truth[name])
    fits = [np.asarray(v) for v in truth.values() if np.shape(v) == (n,) and np.asarray(v).dtype.kind in "iu"]
    return fits[0] if len(fits) == 1 else None


def mixture_figure(post, truth: Optional[dict] = None):
    """The cluster figure, or None for a posterior that is not a mixture's or keeps no data."""
    meta = _meta(post)
    probs = class_probabilities(post)
    if meta is None or probs is None:
        return None
    X = post.observed_data.get(meta["names"]["data"])
    if X is None or len(X) != len(probs):
        return None
    z = assignment_name(meta)
    xy, (xl, yl) = projection(X)
    labels, certainty = probs.argmax(axis=1), probs.max(axis=1)
    known = _truth_labels(truth or {}, len(X), z)
    wname = meta["names"].get("weights")
    counts = post.sample_stats.get("num_components")
    panels = 1 + (known is not None) + (wname is not None and wname in post.names) + (counts is not None)
    plt = pyplot()
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), squeeze=False)
    axes = list(axes[0])
    ax = axes.pop(0)
    ax.scatter(xy[:, 0], xy[:, 1], c=point_colors(labels, certainty), s=8 + 22 * certainty, linewidths=0)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    uncertain = int(np.sum(certainty < 0.9))
    ax.set_title(f"{z}: most probable of {probs.shape[1]} (faint: uncertain; {uncertain} points below 0.9)",
                 fontsize=8)
    if known is not None:
        ax = axes.pop(0)
        ax.scatter(xy[:, 0], xy[:, 1], c=point_colors(known, np.ones(len(known))), s=10, linewidths=0)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title("the true classes", fontsize=8)
    if wname is not None and wname in post.names:
        ax = axes.pop(0)
        w = np.asarray(post.mean(wname), np.float64).reshape(-1)
        ax.bar(np.arange(len(w)), w, color="tab:blue")
        ax.set_xlabel(f"component of {wname}")
        ax.set_ylabel("posterior mean weight")
        ax.set_title(f"{wname}: component weights", fontsize=8)
    if counts is not None:
        ax = axes.pop(0)
        ks = np.asarray(counts).reshape(-1).astype(int)
        values, freq = np.unique(ks, return_counts=True)
        ax.bar(values, freq / freq.sum(), color="tab:green")
        ax.set_xlabel("occupied components")
        ax.set_ylabel("posterior probability")
        ax.set_title("number of components", fontsize=8)
    fig.suptitle(f"clusters: {post.method}, {len(X)} points", fontsize=9)
    finish(fig)
    return fig
