"""A mixture model as the mixture methods see it: data, labels and priors as arrays.

The compiler (`augury.compiler.mixture`) recognizes

    w ~ dirichlet(a) | dirichlet_process(alpha) | stick_breaking(alpha)    (or fixed weights)
    z[n] ~ categorical(w)                       # z a param, or data with `missing -1`
    X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])      # or a known covariance; or
    X[n] ~ von_mises_fisher(mu[z[n]], kappa)    # X on sphere(D)
    (priors on mu, Sigma, kappa)

and binds it to a `MixtureProblem`.  Every mixture method (`em`, `vi`, `gibbs`,
`split_merge`) reads only this: no syntax, no model graph.

Components are indexed k = 0 … K−1.  With `groups` (mixtures of prototypes: several
components per class), component k belongs to class `groups[k]`; the weight prior is then on
the C classes and each class's components share the class's weight by a Dirichlet with
concentration `within[k]`: π_k = w[groups[k]] · v_k, v restricted to a class ~ Dirichlet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

import jax
import numpy as np


@dataclass(frozen=True)
class WeightPrior:
    """The prior on the mixing weights.

    - kind "dirichlet": w ~ Dirichlet(concentration), `concentration` of shape (C,).
    - kind "dp": a Dirichlet process with concentration `alpha`; the model's simplex size is
      the truncation (the most components that can be occupied).  `gibbs` and `split_merge`
      sample the DP itself (the Chinese restaurant process over partitions); `em` and `vi` use
      the truncated stick-breaking form w_k = v_k ∏_{j<k}(1 − v_j), v_k ~ Beta(1, alpha), v_C = 1.
    - kind "fixed": the weights are known, `fixed` of shape (C,).

    C is the number of components, or of classes when `groups` is set.
    """

    kind: str
    size: int
    concentration: Optional[np.ndarray] = None
    alpha: Optional[float] = None
    fixed: Optional[np.ndarray] = None
    groups: Optional[np.ndarray] = None   # (K,) int: the class of each component
    within: Optional[np.ndarray] = None   # (K,) Dirichlet concentration of a component within its class


@dataclass(frozen=True)
class GaussianPrior:
    """Components x | mu_k, Sigma_k ~ N(mu_k, Sigma_k) in R^D, with one of three priors:

    - "niw" (conjugate): Sigma_k ~ InvWishart(nu0, Psi0), mu_k | Sigma_k ~ N(m0, Sigma_k / kappa0).
    - "known_cov" (conjugate): Sigma_k = cov[k] is known, mu_k ~ N(m0, S0).
    - "independent" (semi-conjugate): Sigma_k ~ InvWishart(nu0, Psi0) and mu_k ~ N(m0, S0)
      independently; each conditional is exact, the pair is not (blocked updates).
    """

    kind: str
    m0: np.ndarray                        # (D,)
    kappa0: Optional[float] = None        # niw
    nu0: Optional[float] = None           # niw, independent
    Psi0: Optional[np.ndarray] = None     # (D, D): niw, independent
    S0: Optional[np.ndarray] = None       # (D, D): known_cov, independent
    cov: Optional[np.ndarray] = None      # (K, D, D): known_cov


@dataclass(frozen=True)
class VMFPrior:
    """Components x | mu_k ~ vMF(mu_k, kappa_k) on the unit sphere S^{D−1}, with
    mu_k ~ vMF(m0, tau0) (tau0 = 0: uniform on the sphere), conjugate given kappa_k; kappa_k
    known (`kappa`, one number for every component) or kappa_k ~ Gamma(kappa_shape, kappa_rate)."""

    m0: np.ndarray                        # (D,) unit vector
    tau0: float = 0.0
    kappa: Optional[float] = None
    kappa_shape: Optional[float] = None
    kappa_rate: Optional[float] = None
    kappa_shared: bool = False            # one unknown κ for all components (else one per component)


@dataclass(frozen=True)
class MixtureProblem:
    """A bound mixture model.  `X` is (N, D) in the run's float dtype; `labels` (N,) int32 holds
    the observed component of each point (its class when `weights.groups` is set), −1 where it is
    unknown (all −1 when the assignment is a param).  `names` maps roles to the model's names:
    "data", "assignment", "weights", "means", "covariances", "concentration", "within"
    (absent roles are absent).  Samplers return draws under these names."""

    X: Any
    labels: np.ndarray
    K: int
    family: str                           # "gaussian" | "vmf"
    weights: WeightPrior
    gaussian: Optional[GaussianPrior] = None
    vmf: Optional[VMFPrior] = None
    names: dict = field(default_factory=dict)
    shapes: dict = field(default_factory=dict)   # model name -> declared shape (outputs.py reshapes to it)
    dtype: Any = None

    @property
    def N(self) -> int:
        return int(self.X.shape[0])

    @property
    def D(self) -> int:
        return int(self.X.shape[1])

    @property
    def conjugate(self) -> bool:
        """Whether component parameters integrate out in closed form (collapsed updates)."""
        if self.family == "vmf":
            return self.vmf.kappa is not None
        return self.gaussian.kind in ("niw", "known_cov")

    @property
    def component_class(self) -> np.ndarray:
        """(K,) the class of each component (the identity without prototypes)."""
        g = self.weights.groups
        return np.arange(self.K) if g is None else np.asarray(g)

    def allowed(self) -> np.ndarray:
        """(N, K) bool: the components point n may belong to (its observed class's, or all)."""
        cls = self.component_class
        lab = np.asarray(self.labels)
        return (lab[:, None] < 0) | (cls[None, :] == lab[:, None])


def fingerprint(obj: Any) -> str:
    """A digest of a problem's priors (dataclasses, arrays, dicts, scalars): the key under which
    a method caches the programs it compiled for them."""
    h = hashlib.sha1()

    def walk(o):
        if is_dataclass(o):
            h.update(type(o).__name__.encode())
            for f in fields(o):
                h.update(f.name.encode())
                walk(getattr(o, f.name))
        elif isinstance(o, (np.ndarray, jax.Array)):
            a = np.asarray(o)
            h.update(repr((a.shape, str(a.dtype))).encode())
            h.update(a.tobytes())
        elif isinstance(o, dict):
            for k in sorted(o, key=str):
                h.update(repr(k).encode())
                walk(o[k])
        else:
            h.update(repr(o).encode())
    walk(obj)
    return h.hexdigest()


def refuse_overflowing_points(problem: "MixtureProblem", method: str) -> None:
    """A point whose square overflows float64 makes every likelihood (and k-means++) NaN: refused
    by its index before any sampling, with what to do."""
    with np.errstate(over="ignore"):
        sq = np.sum(np.square(np.asarray(problem.X, np.float64)), axis=1)
    if not np.all(np.isfinite(sq)):
        from augury.errors import AuguryInferenceError
        i = int(np.flatnonzero(~np.isfinite(sq))[0])
        raise AuguryInferenceError(f"{method}: point {i}'s squared norm overflows (it has |x| = "
                                   f"{float(np.max(np.abs(np.asarray(problem.X)[i]))):.3g}), so its likelihood is NaN",
                                   notes=["rescale the data (e.g. standardize each column)"])
