"""SBC of a mixture without label switching: rank the components in a canonical order.

A mixture's prior is exchangeable in its components, so a method's k-th component need not be
the truth's k-th (gibbs relabels its draws against one of its own, em and vi start from
k-means): per-component ranks are then not uniform even for an exact method.  SBC holds for any
function f of the parameters (Talts et al. 2018, section 2: the rank of f(θ̃) among f(θ₁..θ_L)
is uniform when the θ_l are posterior draws), so each draw and the truth are mapped by the
same f: the components sorted by their mean's first coordinate (by weight, largest first, where
the means are not parameters), the weights, means, covariances and concentrations permuted
alike, and the assignments renamed to match.  Mixtures of prototypes (components grouped in
classes) are left as they are: their classes are named by the labels."""

from __future__ import annotations

import numpy as np

_COMPONENT_ROLES = ("weights", "means", "covariances", "concentration")


def sorted_components(post, truths: dict) -> tuple:
    """(post, truths) with every draw's and the truth's components in the canonical order."""
    meta = post.settings.get("mixture") or {}
    names = meta.get("names") or {}
    if not meta or meta.get("groups") is not None:
        return post, truths
    K = int(meta["K"])
    roles = {r: names[r] for r in _COMPONENT_ROLES + ("assignment",) if r in names and names[r] in truths}
    if "means" in roles:
        key_of = lambda v: v[roles["means"]][..., 0]  # noqa: E731  (L, K, D) -> (L, K)
    elif "weights" in roles:
        key_of = lambda v: -v[roles["weights"]]  # noqa: E731
    else:
        return post, truths

    def canonical(values: dict) -> dict:
        """`values` with a leading draw axis L, components reordered per draw."""
        order = np.argsort(key_of(values), axis=-1, kind="stable")  # (L, K): new slot -> old component
        out = dict(values)
        for role, name in roles.items():
            v = values[name]
            if role == "assignment":
                new_label = np.argsort(order, axis=-1)  # old component -> new slot
                out[name] = np.take_along_axis(new_label, v.astype(np.int64), axis=1).astype(v.dtype)
            elif v.ndim >= 2 and v.shape[1] == K:
                idx = order.reshape(order.shape + (1,) * (v.ndim - 2))
                out[name] = np.take_along_axis(v, idx, axis=1)
        return out

    flat = canonical({n: post.samples(n) for n in post.names})
    truth = canonical({n: np.asarray(v)[None] for n, v in truths.items()})
    from augury.runtime.posterior import Posterior
    lead = (post.chains, post.num_samples // post.chains) if post.chains is not None else (post.num_samples,)
    draws = {n: v.reshape(lead + v.shape[1:]) for n, v in flat.items()}
    relabelled = Posterior(draws, chains=post.chains, log_weights=post.log_weights, method=post.method,
                           settings=post.settings, kinds=post.kinds)
    return relabelled, {n: v[0] for n, v in truth.items()}
