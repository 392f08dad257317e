"""Loud post-run diagnostics, as CmdStan's ``diagnose``: checks and one-warning-per-failure text.

MCMC (:func:`mcmc_checks`, :func:`mcmc_warnings`), with CmdStan's thresholds:

* divergent transitions: any;
* rank-normalized split R-hat (ArviZ ``rhat``, method "rank"): above 1.01;
* bulk and tail ESS: below 100 per chain;
* E-BFMI (Betancourt 2016): below 0.3 in any chain;
* tree depth (NUTS only): any transition that hit ``max_tree_depth``.

Weighted runs (SMC, importance sampling; :func:`particle_checks`, :func:`particle_warnings`):
the weights collapsing onto about one particle, at the end or at any step, and NaN/inf weights.

Each warning is one string: a headline naming the parameter element (0-based, ``theta[3]``,
``w[1,2]``) or chain (0-based too), then a second line ``try: ...`` saying what to change; no trailing newline.

One chain: R-hat is still computed, from the chain's two halves given to ArviZ as two chains
(which splits them again, into quarters), so drift within the chain is caught; a single chain
cannot show that separate chains would settle in different modes.

Pure numpy (ArviZ imported lazily); never imports augury.dsl or augury.compiler.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings as _warnings
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

__all__ = ["mcmc_checks", "mcmc_warnings", "format_mcmc_warnings", "particle_checks", "particle_warnings",
           "ess_of_weights", "RHAT_MAX", "ESS_PER_CHAIN_MIN", "EBFMI_MIN", "PARTICLE_ESS_MIN"]

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3
PARTICLE_ESS_MIN = 1.5
PARTICLE_ESS_SHARE_MIN = 0.01
DEFAULT_MAX_TREE_DEPTH = 10  # NumPyro's and Stan's default
_MIN_DRAWS = 4  # ArviZ's minimum for split R-hat and ESS
_MAX_LISTED = 5  # chains or steps named in one warning before "..."

_TRY_DIVERGENCE = ("try: raise target_accept (e.g. --set target_accept=0.95), reparameterize "
                   "(non-centered), or run with --precision float64")
_TRY_RHAT = ("try: more warmup and samples (e.g. --set warmup=2000 --set samples=2000), "
             "or reparameterize (non-centered)")
_TRY_ESS = ("try: more samples (thinning does not help), reparameterize, "
            "or dense_mass=true for a correlated posterior")
_TRY_EBFMI = ("try: reparameterize (non-centered), and look for heavy tails "
              "(heavier-tailed priors, weakly identified scales)")
_TRY_TREE = "try: raise max_tree_depth (e.g. --set max_tree_depth=12), or dense_mass=true"
_TRY_PMMH = ("try: more warmup and samples (PMMH moves by random walk: it needs many iterations), more "
             "particles if the acceptance is low, or smc2 for the static parameters")
_TRY_PARTICLES = ("try: more particles, more MCMC moves per temperature (SMC), "
                  "or a proposal closer to the posterior")


# ------------------------------------------------------------------ helpers

def _import_arviz():
    from augury.runtime.posterior import _import_arviz as imp
    return imp()


@contextlib.contextmanager
def _quiet(az: Any = None) -> Iterator[None]:
    """No Python warnings, NumPy float warnings or ArviZ log lines from the enclosed code."""
    log = getattr(az, "_log", None)
    drop = logging.Filter()
    drop.filter = lambda record: False  # ArviZ logs through its own Logger, outside logging's tree
    if log is not None:
        log.addFilter(drop)
    try:
        with _warnings.catch_warnings(), np.errstate(all="ignore"):
            _warnings.simplefilter("ignore")
            yield
    finally:
        if log is not None:
            log.removeFilter(drop)


def _element_names(name: str, shape: tuple) -> list[str]:
    """Names of the elements of `name`, row-major, 0-based: x, x[3], x[1,2]."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


def _pct(share: float) -> str:
    """A share as a percentage that stays informative below 0.1%."""
    p = 100.0 * share
    return f"{p:.2g}%" if 0 < p < 0.1 else f"{p:.1f}%"


def _listing(items: Sequence[Any]) -> str:
    """Comma-separated, the first few only."""
    head = ", ".join(str(i) for i in items[:_MAX_LISTED])
    return head + (", ..." if len(items) > _MAX_LISTED else "")


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if math.isfinite(x) else str(x)


def _nan_extreme(values: np.ndarray, largest: bool) -> float:
    """Largest (or smallest) finite-or-inf value, NaN when there is none."""
    v = values[~np.isnan(values)]
    if not v.size:
        return float("nan")
    return float(v.max() if largest else v.min())


def _usable(arr: np.ndarray) -> bool:
    """Numeric draws: floats and ints (discrete unknowns); not bool, complex or object."""
    return arr.dtype.kind in "iuf" and arr.size > 0


# ------------------------------------------------------------------ per-element R-hat and ESS

def _halves(flat: np.ndarray) -> np.ndarray:
    """One chain's two halves as two chains (drops the middle draw when the length is odd)."""
    n = flat.shape[1]
    half = n // 2
    return np.concatenate([flat[:, :half], flat[:, n - half:]], axis=0)


def _element_stats(az: Any, name: str, arr: np.ndarray) -> dict:
    """R-hat, bulk and tail ESS per element (one vectorized ArviZ call each, over all elements);
    NaN for constant or non-finite elements.  One chain's R-hat compares its two halves."""
    shape = arr.shape[2:]
    flat = arr.reshape(arr.shape[:2] + (-1,)).astype(np.float64)
    m = flat.shape[2]
    names = _element_names(name, shape)
    finite = np.isfinite(flat).all(axis=(0, 1))
    moved = finite & (np.nanmax(flat, axis=(0, 1)) > np.nanmin(flat, axis=(0, 1)))  # constant: undefined
    rhat, bulk, tail = (np.full(m, np.nan) for _ in range(3))
    chains, n = flat.shape[:2]
    if moved.any() and n >= _MIN_DRAWS:
        x = np.where(finite, flat, 0.0)[:, :, moved]
        ds = az.convert_to_dataset({"x": x})
        bulk[moved] = np.asarray(az.ess(ds, method="bulk")["x"].values)
        tail[moved] = np.asarray(az.ess(ds, method="tail")["x"].values)
        if chains > 1 or n // 2 >= _MIN_DRAWS:
            halves = az.convert_to_dataset({"x": _halves(x) if chains == 1 else x})
            rhat[moved] = np.asarray(az.rhat(halves, method="rank")["x"].values)
    return {"names": names, "shape": shape, "rhat": rhat, "ess_bulk": bulk, "ess_tail": tail,
            "nonfinite": [nm for nm, ok in zip(names, finite) if not ok],
            "constant": [nm for nm, ok, mv in zip(names, finite, moved) if ok and not mv]}


def _failures(per_var: Mapping[str, dict], key: str, bad) -> Optional[dict]:
    """Count of elements failing `bad` under `key`, and the worst of them; None when none fails."""
    worst_name, worst, count, checked = None, None, 0, 0
    higher = key == "rhat"
    for st in per_var.values():
        vals = st[key]
        for nm, v in zip(st["names"], vals):
            if np.isnan(v):
                continue
            checked += 1
            if bad(v):
                count += 1
                if worst is None or (v > worst if higher else v < worst):
                    worst_name, worst = nm, float(v)
    if not count:
        return None
    return {"element": worst_name, "value": worst, "count": count, "checked": checked}


# ------------------------------------------------------------------ sampler statistics

def _ebfmi(energy: np.ndarray) -> list[float]:
    """E-BFMI per chain: sum of squared energy jumps over the energy's sum of squared deviations."""
    e = np.asarray(energy, dtype=np.float64)
    if e.ndim == 1:
        e = e[None]
    out = []
    for row in e:
        dev = np.sum((row - row.mean()) ** 2) if row.size else 0.0
        if row.size < 2 or not np.isfinite(row).all() or dev == 0:
            out.append(float("nan"))  # undefined: too short, stuck, or not finite
        else:
            out.append(float(np.sum(np.diff(row) ** 2) / dev))
    return out


def _check_draws(draws: Mapping[str, Any]) -> tuple[dict, Optional[int], Optional[int], list[str]]:
    """Numeric draws as arrays; chains and draws per chain; the names skipped and why."""
    arrays, skipped, chains, n = {}, [], None, None
    for name, value in draws.items():
        arr = np.asarray(value)
        if not _usable(arr):
            skipped.append(name)
            continue
        if arr.ndim < 2:
            raise ValueError(f"draws[{name!r}] must be shaped (chains, draws, ...), not {arr.shape}")
        if chains is None:
            chains, n = arr.shape[:2]
        elif arr.shape[:2] != (chains, n):
            raise ValueError(f"draws[{name!r}] has (chains, draws) {arr.shape[:2]}, others {(chains, n)}")
        arrays[name] = arr
    return arrays, chains, n, skipped


# ------------------------------------------------------------------ MCMC

def element_stats(draws: Mapping[str, Any]) -> dict[str, dict]:
    """Per variable: R-hat, bulk and tail ESS of every element (NaN where undefined), and the
    elements that are constant or not finite.  `draws`: name -> (chains, draws, *shape) of
    floats or ints.  The one place R-hat and ESS are computed: the Posterior's diagnostics and
    the run's warnings both read it."""
    if not draws:
        return {}
    az = _import_arviz()
    with _quiet(az):
        return {name: _element_stats(az, name, np.asarray(arr)) for name, arr in draws.items()}


def mcmc_checks(draws: Mapping[str, Any], *, diverging: Any = None, energy: Any = None,
                tree_depth: Any = None, max_tree_depth: Optional[int] = None, method: str = "nuts",
                per_var: Optional[dict] = None) -> dict:
    """The numbers behind :func:`mcmc_warnings`, fit to store in ``post.diagnostics``.

    `draws`: name -> array (chains, draws, *shape), floats or ints; bool/object arrays and
    elements constant over every draw (undefined R-hat/ESS) are skipped. `diverging`, `energy`,
    `tree_depth`: arrays (chains, draws) or None. `max_tree_depth` defaults to 10 when
    `tree_depth` is given; tree depth is checked for ``method == "nuts"`` only.

    Returns a dict: chains, draws, thresholds, per-variable ``max_rhat`` / ``min_ess_bulk`` /
    ``min_ess_tail`` (NaN where undefined), failing-element summaries ``rhat_high`` /
    ``ess_bulk_low`` / ``ess_tail_low`` (None, or element, value, count, checked), ``nonfinite``
    elements, ``ebfmi`` per chain, ``divergences`` / ``transitions``, ``tree_depth_hits`` /
    ``tree_depth_saturation``.  `per_var`: :func:`element_stats` of the draws, when the
    caller has them already (a Posterior does), so they are not computed twice.
    """
    arrays, chains, n, skipped = _check_draws(draws)
    per_var = {k: v for k, v in (per_var or element_stats(arrays)).items() if k in arrays}
    ess_min = ESS_PER_CHAIN_MIN * (chains or 0)
    out: dict[str, Any] = {
        "chains": chains, "draws": n, "rhat_threshold": RHAT_MAX, "ess_threshold": ess_min,
        "ebfmi_threshold": EBFMI_MIN,
        "max_rhat": {k: _nan_extreme(st["rhat"], True) for k, st in per_var.items()},
        "min_ess_bulk": {k: _nan_extreme(st["ess_bulk"], False) for k, st in per_var.items()},
        "min_ess_tail": {k: _nan_extreme(st["ess_tail"], False) for k, st in per_var.items()},
        "rhat_high": _failures(per_var, "rhat", lambda v: v > RHAT_MAX),
        "ess_bulk_low": _failures(per_var, "ess_bulk", lambda v: v < ess_min),
        "ess_tail_low": _failures(per_var, "ess_tail", lambda v: v < ess_min),
        "nonfinite": [nm for st in per_var.values() for nm in st["nonfinite"]],
        "skipped": skipped + [nm for st in per_var.values() for nm in st["constant"]],
    }
    out.update(_sampler_checks(diverging, energy, tree_depth, max_tree_depth, method))
    return out


def _sampler_checks(diverging: Any, energy: Any, tree_depth: Any, max_tree_depth: Optional[int],
                    method: str) -> dict:
    """Divergences, E-BFMI and tree-depth saturation from the sampler's statistics."""
    out: dict[str, Any] = {"divergences": None, "transitions": None, "ebfmi": None,
                           "max_tree_depth": None, "tree_depth_hits": None, "tree_depth_transitions": None,
                           "tree_depth_saturation": None}
    if diverging is not None:
        div = np.asarray(diverging).astype(bool)
        out["divergences"], out["transitions"] = int(div.sum()), int(div.size)
    if energy is not None:
        out["ebfmi"] = _ebfmi(energy)
    if tree_depth is not None and method == "nuts":
        depth = np.asarray(tree_depth)
        limit = DEFAULT_MAX_TREE_DEPTH if max_tree_depth is None else int(max_tree_depth)
        hits = int(np.sum(depth >= limit))
        out.update(max_tree_depth=limit, tree_depth_hits=hits, tree_depth_transitions=int(depth.size),
                   tree_depth_saturation=hits / depth.size if depth.size else 0.0)
    return out


def format_mcmc_warnings(checks: Mapping[str, Any]) -> list[str]:
    """The warnings for a :func:`mcmc_checks` result; [] when every check passes."""
    out = []
    for fmt in (_warn_nonfinite, _warn_divergences, _warn_rhat, _warn_ess, _warn_ebfmi, _warn_tree_depth):
        out.extend(fmt(checks))
    return out


def mcmc_warnings(draws: Mapping[str, Any], *, diverging: Any = None, energy: Any = None,
                  tree_depth: Any = None, max_tree_depth: Optional[int] = None,
                  method: str = "nuts", per_var: Optional[dict] = None) -> list[str]:
    """One warning per failing MCMC diagnostic (see :func:`mcmc_checks`); [] when all pass."""
    out = format_mcmc_warnings(mcmc_checks(draws, diverging=diverging, energy=energy, tree_depth=tree_depth,
                                           max_tree_depth=max_tree_depth, method=method, per_var=per_var))
    if method == "pmmh":  # random-walk MH on a noisy likelihood: other cures than for NUTS
        out = [w.replace(_TRY_RHAT, _TRY_PMMH).replace(_TRY_ESS, _TRY_PMMH) for w in out]
    return out


def _warn_nonfinite(c: Mapping[str, Any]) -> list[str]:
    bad = c.get("nonfinite") or []
    if not bad:
        return []
    return [f"{len(bad)} element(s) have NaN or inf draws ({_listing(bad)}); their R-hat and ESS are not computed\n"
            "try: run with --precision float64, and check bounds and transforms of these parameters"]


def _warn_divergences(c: Mapping[str, Any]) -> list[str]:
    k, n = c.get("divergences"), c.get("transitions")
    if not k:
        return []
    return [f"{k} of {n} transitions ({_pct(k / n)}) ended with a divergence; "
            f"the sampler may have missed part of the posterior\n{_TRY_DIVERGENCE}"]


def _warn_rhat(c: Mapping[str, Any]) -> list[str]:
    f = c.get("rhat_high")
    if not f:
        return []
    who = "the two halves of the chain disagree" if c.get("chains") == 1 else "the chains disagree"
    return [f"R-hat {_fmt(f['value'], '.3f')} for {f['element']} is above {RHAT_MAX} "
            f"({f['count']} of {f['checked']} elements): {who}\n{_TRY_RHAT}"]


def _warn_ess(c: Mapping[str, Any]) -> list[str]:
    out = []
    for key, label in (("ess_bulk_low", "bulk"), ("ess_tail_low", "tail")):
        f = c.get(key)
        if f:
            out.append(f"{label} ESS {_fmt(f['value'], '.0f')} for {f['element']} is below {c['ess_threshold']} "
                       f"({ESS_PER_CHAIN_MIN} per chain; {f['count']} of {f['checked']} elements)\n{_TRY_ESS}")
    return out


def _warn_ebfmi(c: Mapping[str, Any]) -> list[str]:
    values = c.get("ebfmi") or []
    low = [(i, v) for i, v in enumerate(values) if v < EBFMI_MIN]  # NaN compares False: undefined, not low
    if not low:
        return []
    chains = _listing([f"{i} ({v:.2f})" for i, v in low])
    return [f"E-BFMI below {EBFMI_MIN} in chain(s) {chains}: "
            f"momentum resampling explores the energy poorly\n{_TRY_EBFMI}"]


def _warn_tree_depth(c: Mapping[str, Any]) -> list[str]:
    hits = c.get("tree_depth_hits")
    if not hits:
        return []
    share = _pct(c["tree_depth_saturation"])
    return [f"{hits} of {c['tree_depth_transitions']} transitions ({share}) hit the maximum tree depth "
            f"of {c['max_tree_depth']}; trajectories were cut short\n{_TRY_TREE}"]


# ------------------------------------------------------------------ weighted runs

def ess_of_weights(log_weights: Any) -> float:
    """Kish ESS 1/sum(w^2) of the normalized weights, from unnormalized log weights (stable).

    NaN when any log weight is NaN or +inf; 0.0 when every weight is zero (all -inf) or none is given.
    """
    lw = np.asarray(log_weights, dtype=np.float64).ravel()
    if lw.size == 0 or np.all(lw == -np.inf):
        return 0.0
    if np.isnan(lw).any() or np.isposinf(lw).any():
        return float("nan")
    w = np.exp(lw - lw.max())  # largest weight becomes 1: no overflow, the sum is at least 1
    return float(w.sum() ** 2 / np.sum(w * w))


def particle_checks(log_weights: Any = None, *, ess_per_step: Any = None, particles: Optional[int] = None,
                    resampled: Any = None) -> dict:
    """The numbers behind :func:`particle_warnings`.

    Returns particles, ``ess`` of the final weights (None without weights), ``ess_threshold``
    (max(1.5, 1% of particles)), ``nonfinite_weights`` (count of NaN / +inf log weights),
    ``low_steps`` (steps whose ESS fell below 1.5 or is NaN), ``min_step_ess``, ``min_step``,
    and whether that step was resampled.
    """
    out: dict[str, Any] = {"particles": particles, "ess": None, "ess_threshold": None, "nonfinite_weights": 0,
                           "low_steps": [], "min_step": None, "min_step_ess": None, "min_step_resampled": None}
    if log_weights is not None:
        lw = np.asarray(log_weights, dtype=np.float64).ravel()
        out["particles"] = particles = int(particles if particles is not None else lw.size)
        out["nonfinite_weights"] = int(np.sum(np.isnan(lw) | np.isposinf(lw)))
        out["ess"] = ess_of_weights(lw)
    if particles is not None:
        out["ess_threshold"] = max(PARTICLE_ESS_MIN, PARTICLE_ESS_SHARE_MIN * particles)
    if ess_per_step is not None:
        out.update(_step_checks(np.asarray(ess_per_step, dtype=np.float64).ravel(), resampled))
    return out


def _step_checks(ess: np.ndarray, resampled: Any) -> dict:
    """Steps whose ESS fell below 1.5 (NaN counts as fallen), and the worst of them."""
    low = [int(i) for i in np.nonzero(~(ess >= PARTICLE_ESS_MIN))[0]]  # ~(>=) also catches NaN
    if not low:
        return {"low_steps": []}
    nan_steps = [i for i in low if np.isnan(ess[i])]
    worst = nan_steps[0] if nan_steps else min(low, key=lambda i: ess[i])
    res = None
    if resampled is not None:
        r = np.asarray(resampled).astype(bool).ravel()
        res = bool(r[worst]) if worst < r.size else None
    return {"low_steps": low, "min_step": worst, "min_step_ess": float(ess[worst]), "min_step_resampled": res,
            "steps": int(ess.size)}


def particle_warnings(log_weights: Any = None, *, ess_per_step: Any = None, particles: Optional[int] = None,
                      resampled: Any = None, step_label: Optional[Callable[[int], str]] = None) -> list[str]:
    """Warnings for a weighted run (SMC, importance sampling); [] when the weights are healthy.

    `log_weights`: the final unnormalized log weights (particles,). `ess_per_step`: ESS at each
    step (e.g. each SMC temperature, before resampling). `particles`: the population size
    (defaults to the number of log weights). `resampled`: bool per step, whether it resampled.
    Warns on NaN / +inf log weights (-inf is a zero weight), on final weights whose ESS is below
    max(1.5, 1% of particles), and on any step whose ESS fell below 1.5.  `step_label(i)` names
    entry i of `ess_per_step` (default "step i+1 of N", as the samplers' errors count steps).
    """
    c = particle_checks(log_weights, ess_per_step=ess_per_step, particles=particles, resampled=resampled)
    steps = c.get("steps")
    label = step_label or (lambda i: f"step {i + 1} of {steps}")
    return _warn_nonfinite_weights(c) + _warn_final_ess(c) + _warn_step_ess(c, label)


def _warn_nonfinite_weights(c: Mapping[str, Any]) -> list[str]:
    k = c["nonfinite_weights"]
    if not k:
        return []
    return [f"{k} of {c['particles']} log weights are NaN or +inf; the weighted estimates are undefined\n"
            "try: run with --precision float64, and check the likelihood where these particles lie"]


def _warn_final_ess(c: Mapping[str, Any]) -> list[str]:
    ess = c["ess"]
    if ess is None or math.isnan(ess) or ess >= c["ess_threshold"]:
        return []  # NaN has its own warning
    return [f"the weights collapsed: ESS {ess:.2f} of {c['particles']} particles "
            f"(below {c['ess_threshold']:g}); the estimates rest on about one particle\n{_TRY_PARTICLES}"]


def _warn_step_ess(c: Mapping[str, Any], label: Callable[[int], str]) -> list[str]:
    low = c["low_steps"]
    if not low:
        return []
    then = ", then resampled: later particles descend from about one" if c["min_step_resampled"] else ""
    more = ""
    if len(low) > 1:
        more = f" ({len(low)} of {c['steps']} steps below {PARTICLE_ESS_MIN}: {_listing([label(i) for i in low])})"
    return [f"the weights collapsed at {label(c['min_step'])}: ESS {_fmt(c['min_step_ess'], '.2f')}"
            f"{then}{more}\n{_TRY_PARTICLES}"]
