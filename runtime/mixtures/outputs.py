"""A mixture method's result as the model's named draws, relabelled against label switching.

`mixture_draws` turns a `MixtureResult` (draws keyed by role, flat over the K components) into
the sampler protocol's `Draws`: each role under the model's name and declared shape (prototypes:
π split into the class weights w and the within-class weights v; the assignment reported as the
class, with the component within it as `<z>_prototype`), the responsibilities and per-draw
statistics in `sample_stats`, and what `Posterior.predict` needs in `settings["mixture"]`.

Label switching.  The likelihood is invariant under permuting the components, so MCMC draws
(gibbs, split_merge) wander between labelings and per-component summaries average them into nonsense.  Each draw is
relabelled by the permutation that best matches its assignment to a reference draw's (the
Hungarian algorithm on the K × K table of shared points; Stephens 2000 uses the same matching with
another cost), leaving components pinned by observed labels in place and moving components only
within their class.  The permutations are kept in `sample_stats["relabel"]`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..samplers.protocol import Draws
from .problem import MixtureProblem
from .result import MixtureResult


def _pinned(problem: MixtureProblem) -> np.ndarray:
    """(K,) components that observed labels name (they keep their index)."""
    lab = np.asarray(problem.labels)
    if problem.weights.groups is not None:
        return np.zeros(problem.K, bool)  # labels name classes; components move within a class
    out = np.zeros(problem.K, bool)
    out[lab[lab >= 0]] = True
    return out


def relabel_permutations(z: np.ndarray, reference: np.ndarray, K: int, pinned: Optional[np.ndarray] = None,
                         classes: Optional[np.ndarray] = None) -> np.ndarray:
    """(S, K) permutations: perm[s, j] = the reference component that draw s's component j
    becomes, maximizing the points on which the relabelled draw agrees with `reference` (N,)."""
    from scipy.optimize import linear_sum_assignment
    z = np.asarray(z).reshape(-1, np.shape(z)[-1])
    ref = np.asarray(reference)
    big = z.shape[1] + 1.0
    out = np.empty((z.shape[0], K), np.int64)
    forbid = np.zeros((K, K))
    if pinned is not None:
        # a pinned component maps to itself only, and nothing else maps onto it
        forbid[pinned, :] = big
        forbid[:, pinned] = big
        forbid[pinned, pinned] = 0.0
    if classes is not None:
        forbid = forbid + big * (classes[:, None] != classes[None, :])
    for s in range(z.shape[0]):
        table = np.zeros((K, K))
        np.add.at(table, (z[s], ref), 1.0)
        _, cols = linear_sum_assignment(forbid - table)
        out[s] = cols
    return out


def _permute(arr: np.ndarray, perm: np.ndarray, lead: int) -> np.ndarray:
    """Move component j of each draw to perm[j] along the axis after the `lead` draw axes."""
    flat = arr.reshape((-1,) + arr.shape[lead:])
    out = np.empty_like(flat)
    inv = np.argsort(perm, axis=1)
    for s in range(flat.shape[0]):
        out[s] = flat[s][inv[s]]
    return out.reshape(arr.shape)


def relabel(problem: MixtureProblem, draws: dict, lead: int, reference: Optional[np.ndarray] = None):
    """(relabelled role draws, permutations (…, K)) against `reference` (default: the last draw)."""
    z = np.asarray(draws["assignment"])
    lead_shape = z.shape[:lead]
    flat_z = z.reshape(-1, z.shape[-1])
    ref = flat_z[-1] if reference is None else np.asarray(reference)
    classes = None if problem.weights.groups is None else np.asarray(problem.weights.groups)
    perm = relabel_permutations(flat_z, ref, problem.K, _pinned(problem), classes)
    out = {"assignment": np.take_along_axis(perm, flat_z, axis=1).reshape(z.shape).astype(z.dtype)}
    for role, v in draws.items():
        if role != "assignment":
            out[role] = _permute(np.asarray(v), perm, lead)
    return out, perm.reshape(lead_shape + (problem.K,))


def _named(problem: MixtureProblem, roles: dict, lead: tuple) -> dict:
    """Role draws (flat over components) under the model's names and declared shapes."""
    names, shapes = problem.names, problem.shapes
    g = problem.weights.groups
    out = {}
    for role in ("means", "covariances", "concentration"):
        if role in roles and role in names:
            v = np.asarray(roles[role])
            shape = shapes.get(names[role])
            if role == "concentration" and shape == ():
                v = v[..., 0]  # one shared concentration
            elif shape is not None:
                v = v.reshape(lead + tuple(shape))
            out[names[role]] = v
    pi = np.asarray(roles["weights"])
    if g is not None:
        C = problem.weights.size
        w = np.zeros(lead + (C,), pi.dtype)
        for c in range(C):
            w[..., c] = pi[..., g == c].sum(axis=-1)
        if "weights" in names:
            out[names["weights"]] = w
        if "within" in names:
            v = pi / np.maximum(w[..., g], 1e-300)
            out[names["within"]] = v.reshape(lead + tuple(shapes[names["within"]]))
    elif "weights" in names:
        out[names["weights"]] = pi
    z = np.asarray(roles["assignment"])
    zname = names.get("assignment", f"{names['data']}_component")
    if g is not None:
        out[zname] = np.asarray(g)[z].astype(np.int32)
        M = int(np.sum(np.asarray(g) == 0))
        out[f"{zname}_prototype"] = (z % M).astype(np.int32)
    else:
        out[zname] = z.astype(np.int32)
    return out


def metadata(problem: MixtureProblem) -> dict:
    """What `Posterior.predict` needs, JSON-able (kept in `settings["mixture"]`)."""
    meta = {"family": problem.family, "names": dict(problem.names), "K": problem.K,
            "groups": None if problem.weights.groups is None else [int(c) for c in problem.weights.groups]}
    if problem.family == "gaussian" and problem.gaussian.cov is not None:
        meta["cov"] = np.asarray(problem.gaussian.cov).tolist()
    if problem.family == "vmf" and problem.vmf.kappa is not None:
        meta["kappa"] = float(problem.vmf.kappa)
    if problem.weights.kind == "fixed":
        meta["fixed_weights"] = np.asarray(problem.weights.fixed).tolist()
    return meta


def split_rhat(x: np.ndarray) -> float:
    """Split-R̂ (Gelman et al. 2013, BDA3 §11.4) of a (chains, draws) array."""
    c, d = x.shape
    h = d // 2
    if c * 2 < 2 or h < 2:
        return float("nan")
    y = np.concatenate([x[:, :h], x[:, h:2 * h]], axis=0)
    w = np.mean(np.var(y, axis=1, ddof=1))
    b = h * np.var(np.mean(y, axis=1), ddof=1)
    if w <= 0:
        return float("nan")
    return float(np.sqrt(((h - 1) / h * w + b / h) / w))


def mixture_draws(problem: MixtureProblem, result: MixtureResult, method: str, settings: dict) -> Draws:
    """The registry's `Draws` of a mixture method's result."""
    roles = {k: np.asarray(v) for k, v in result.draws.items()}
    lead = 2 if result.chains is not None else 1
    stats = {k: np.asarray(v) for k, v in result.stats.items()}
    responsibilities = result.responsibilities
    if result.chains is not None and roles["assignment"].reshape(-1, problem.N).shape[0] > 1:
        # MCMC draws switch labels; draws from one fitted q (vi) or one MAP (em) do not
        roles, perm = relabel(problem, roles, lead)
        stats["relabel"] = perm
        z = roles["assignment"].reshape(-1, problem.N)
        counts = np.zeros((problem.N, problem.K))
        np.add.at(counts, (np.broadcast_to(np.arange(problem.N), z.shape), z), 1.0)
        responsibilities = counts / z.shape[0]  # the label frequencies, in the relabelled labels
    if result.chains is not None and result.chains > 1:
        k = stats.get("num_components")
        r = split_rhat(np.asarray(k, float)) if k is not None else float("nan")
        if np.isfinite(r) and r > 1.05:
            result.warnings.append(f"{method}: the chains disagree on the number of components (split R-hat "
                                   f"{r:.3f} > 1.05): run more sweeps and warmup, or compare the chains' "
                                   "`num_components`")
    lead_shape = roles["assignment"].shape[:lead]
    draws = _named(problem, roles, lead_shape)
    if responsibilities is not None:
        stats["responsibilities"] = np.asarray(responsibilities)
    out_settings = dict(settings)
    out_settings["mixture"] = metadata(problem)
    for k, v in result.info.items():
        if isinstance(v, (bool, int, float, str, np.integer, np.floating, np.bool_)):
            out_settings[k] = v.item() if hasattr(v, "item") else v
        elif isinstance(v, (list, tuple, np.ndarray)) and np.asarray(v).dtype.kind in "biuf":
            stats.setdefault(k, np.asarray(v))
        # other entries (a method's internal state, such as vi's q) stay out of the posterior
    return Draws(draws, chains=result.chains, sample_stats=stats, settings=out_settings,
                 warnings=list(result.warnings), interrupted=result.interrupted)
