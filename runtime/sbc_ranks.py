"""The statistics of simulation-based calibration (Talts et al. 2018, arXiv:1804.06788): ranks of
the true values among thinned posterior draws, their uniformity test and what a failure means.

Pure functions of arrays; augury/calibration.py runs the model and calls them.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

MAX_BINS = 20  # the paper's histograms; fewer, wider bins have more power against smooth departures
MIN_EXPECTED = 5  # the chi-square approximation wants about 5 expected counts per bin


def rank(truth: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rank of each element of `truth` (shape S) among `draws` (L, *S): the number of draws
    below it, in 0..L.  Ties (discrete parameters) are broken uniformly at random, which keeps
    the rank uniform for a correct posterior (the paper's Algorithm 1 assumes no ties)."""
    draws = np.asarray(draws)
    truth = np.asarray(truth)
    below = np.sum(draws < truth, axis=0)
    ties = np.sum(draws == truth, axis=0)
    return below + np.floor(rng.random(np.shape(below)) * (ties + 1)).astype(np.int64)


def thin_chains(n_chains: int, n_per_chain: int, ess: float, draws: int) -> tuple[np.ndarray, bool]:
    """Indices (into the chains-flattened draws) of `draws` near-independent MCMC draws: every
    ceil(n / ESS)-th draw of each chain (section 4.2), then `draws` of those evenly spaced.  The
    flag is False when thinning leaves fewer than `draws`: the draws are then evenly spaced over
    all of them, still autocorrelated (the histogram then shows spikes at both ends)."""
    n = n_chains * n_per_chain
    if draws > n:
        raise ValueError(f"{draws} draws asked of {n}")
    # no ESS (a constant draw, e.g. a discrete parameter the data pin down): nothing to thin by
    step = max(1, math.ceil(n / ess)) if ess > 0 and math.isfinite(ess) else 1
    kept = np.concatenate([c * n_per_chain + np.arange(0, n_per_chain, step) for c in range(n_chains)])
    enough = len(kept) >= draws
    pool = kept if enough else np.arange(n)
    return pool[np.round(np.linspace(0, len(pool) - 1, draws)).astype(np.int64)], enough


def resample(weights: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `draws` independent draws from weighted particles (multinomial resampling)."""
    w = np.asarray(weights, np.float64)
    return rng.choice(len(w), size=draws, replace=True, p=w / w.sum())


def bins_for(runs: int, draws: int) -> int:
    """Histogram bins: about MIN_EXPECTED counts expected in each, at most MAX_BINS and at most one
    per rank value (0..L), at least 2."""
    return int(max(2, min(MAX_BINS, draws + 1, runs // MIN_EXPECTED)))


def bin_of(ranks: np.ndarray, draws: int, bins: int) -> np.ndarray:
    """The bin of each rank (0..L): bin b holds the ranks r with floor(r·B / (L + 1)) = b."""
    return (np.asarray(ranks, np.int64) * bins) // (draws + 1)


def bin_probabilities(draws: int, bins: int) -> np.ndarray:
    """The probability of each bin under uniform ranks (bins hold equal numbers of rank values
    when B divides L + 1, else differ by one)."""
    return np.bincount(bin_of(np.arange(draws + 1), draws, bins), minlength=bins) / (draws + 1)


def chi_square(ranks: np.ndarray, draws: int, bins: int) -> tuple[float, float]:
    """(statistic, p-value) of the chi-square test of uniform ranks over `bins` bins."""
    from scipy.stats import chi2
    ranks = np.asarray(ranks)
    counts = np.bincount(bin_of(ranks, draws, bins), minlength=bins)
    expected = bin_probabilities(draws, bins) * len(ranks)
    stat = float(np.sum((counts - expected) ** 2 / expected))
    return stat, float(chi2.sf(stat, bins - 1))


def uniform_band(runs: int, draws: int, bins: int, level: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, the central `level` interval of its count under uniform ranks (Binomial(R, p_b)):
    the grey band of the paper's histograms."""
    from scipy.stats import binom
    p = bin_probabilities(draws, bins)
    tail = (1 - level) / 2
    return binom.ppf(tail, runs, p), binom.ppf(1 - tail, runs, p)


def shape_of(ranks: np.ndarray, draws: int) -> tuple[str, str]:
    """(a short name, what it means) for non-uniform ranks, from their mean (bias, the paper's
    Fig. 4) and the share in the outer halves of the range (dispersion, Fig. 3)."""
    ranks = np.asarray(ranks, np.float64)
    r = len(ranks)
    u = (ranks + 0.5) / (draws + 1)
    z_bias = (u.mean() - 0.5) / math.sqrt(1 / 12 / r)
    z_spread = (np.mean(np.abs(u - 0.5) > 0.25) - 0.5) / math.sqrt(0.25 / r)
    if abs(z_bias) >= abs(z_spread):
        if z_bias > 0:
            return "biased low", ("too many high ranks: the true value lies above most posterior draws, so the "
                                  "computed posterior sits too low (it underestimates)")
        return "biased high", ("too many low ranks: the true value lies below most posterior draws, so the "
                               "computed posterior sits too high (it overestimates)")
    if z_spread > 0:
        return "too narrow", ("a U-shaped histogram: the true value falls in the tails of the draws too often, so "
                              "the computed posterior is under-dispersed (overconfident); autocorrelated draws "
                              "(too little thinning) look the same")
    return "too wide", ("a hump-shaped histogram: the true value falls in the middle of the draws too often, so "
                        "the computed posterior is over-dispersed (too uncertain)")


def bonferroni(alpha: float, tests: int) -> float:
    """The per-test level that keeps the chance of any false alarm below `alpha`."""
    return alpha / max(tests, 1)


def element_labels(name: str, shape: tuple) -> list[str]:
    """`theta[0]`, `theta[1]`, ... for the elements of a variable (0-based, as the summary)."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


def pvalue_text(p: Optional[float]) -> str:
    """A p-value as the table prints it."""
    if p is None or not np.isfinite(p):
        return "-"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"
