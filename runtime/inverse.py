"""The inverse problem the diffusion samplers solve: a prior (runtime/denoisers.py) and a
measurement y = A(x) + σ_y n (or Poisson counts, for DPS), both in one backend and in the
network's coordinates.

For a linear A with an SVD A = U diag(s) Vᵀ (runtime/operators.py, `SVD`), the measurement in
the spectral basis is ȳ_i = (Uᵀy)_i / s_i = (Vᵀx)_i + (σ_y / s_i) n_i for the R measured
coordinates; the other D − R coordinates (the null space of A) are not measured.  DDRM, ΠGDM,
the predictor–corrector and teleport read `s_full`, `ybar_full` and `measured`, vectors of
length D padded with zeros (and False) past R, so that no step needs to concatenate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from .denoisers import DiffusionPrior


@dataclass(frozen=True)
class Measurement:
    """y = A(x) + σ_y n; or, with `family` "poisson", y ~ Poisson(A(x)), which DPS treats as
    y ≈ N(A(x), Λ) with Λ_jj = 2 max(y_j, 1) (Chung et al. 2023, sec. 3.2): `weights` = 1 / Λ."""

    y: Any                      # out_shape, backend array
    sigma: float                # σ_y in network units
    maps: Any                   # runtime.linear_maps.BatchedLinearMaps in the backend
    s_full: Any = None          # (D,) singular values, 0 past R
    ybar_full: Any = None       # (D,) (Uᵀy)_i / s_i, 0 past R
    measured: Any = None        # (D,) bool, i < R
    R: int = 0
    D: int = 0
    family: str = "normal"
    weights: Any = None         # (out_shape) 1 / Λ for Poisson counts, else None
    log_norm: Any = None        # the likelihood's constant: −M/2 log 2πσ², or −Σ log y_j! for counts

    @property
    def svd(self):
        return self.maps.svd

    def residual(self, x0, data: dict):
        """y − A(x̂₀) for a batch x̂₀ (P, *shape), with y from `data` (see `data`)."""
        return data["y"][None] - self.maps.apply(x0)

    def data(self) -> dict:
        """The arrays that change with the data (y, ȳ, the Poisson weights, the likelihood's
        constant): the samplers take them as arguments, so that one compiled program serves
        every measurement of a model."""
        out = {"y": self.y, "ybar_full": self.ybar_full, "weights": self.weights, "log_norm": self.log_norm}
        return {k: v for k, v in out.items() if v is not None}

    def log_likelihood(self, x0, data: dict):
        """log p(y | x) up to `log_norm`, for a batch x (P, *shape), shape (P,): −μ_y(x) with
        μ_y = ‖y − A(x)‖² / 2σ_y² (Gaussian) or Σ_j (λ_j − y_j log λ_j), λ = A(x) (Poisson; a
        rate ≤ 0 has likelihood 0 where a count is positive).  Plain arithmetic: JAX and PyTorch."""
        if self.family == "poisson":
            lam = self.maps.apply(x0)
            y = data["y"][None]
            tiny = 1e-30
            safe = lam * (lam > tiny) + tiny * (lam <= tiny)
            per = y * _log(safe) - lam
            # λ ≤ 0 with y > 0: no likelihood (−inf); with y = 0 the term is −λ, finite
            per = per - (lam <= 0) * (y > 0) * 1e30
            return per.reshape(per.shape[0], -1).sum(1)
        r = self.residual(x0, data)
        return -(r * r).reshape(r.shape[0], -1).sum(1) / (2 * self.sigma ** 2)


@dataclass(frozen=True)
class InverseProblem:
    """What a diffusion sampler receives (`Problem.inverse`)."""

    name: str
    shape: tuple
    backend: Any
    prior: DiffusionPrior
    measurement: Measurement
    scale_shift: Optional[tuple] = None   # x_net = a x + b, or None
    bounds: Optional["Bounds"] = None     # the parameter's declared support, in the model's coordinates
    network: str = ""                     # the prior's network, as an error names it ("" for analytic priors)
    network_site: Any = None              # (span, source) of `net = ...`, where that error points
    data_range: Optional[tuple] = None    # the network's declared data range (its coordinates), where known

    def to_model(self, u: np.ndarray) -> np.ndarray:
        """Network coordinates -> the model's (the inverse of the declared data map)."""
        if self.scale_shift is None:
            return u
        a, b = self.scale_shift
        return (u - b) / a

    def to_draws(self, u: np.ndarray) -> tuple[np.ndarray, dict, list[str]]:
        """Network coordinates -> the model's draws, projected onto the declared bounds: (draws,
        the settings that report the projection, warnings).  An analytic prior is truncated to
        the bounds by the model's semantics, which a projection is not: it says so when it clips."""
        x = self.to_model(u)
        if self.bounds is None:
            return x, {}, []
        x, share = self.bounds.project(x)
        warnings = []
        if share > 0 and not self.network:
            warnings.append(f"`{self.name}` is declared {self.bounds.text}, but its analytic prior is not truncated by "
                            f"the diffusion methods: {share:.2%} of the elements were clipped onto the bounds\n"
                            "try: nuts or smc, which sample the prior truncated to the declared support")
        return x, {"bounds": self.bounds.text, "clipped": share}, warnings


@dataclass(frozen=True)
class Bounds:
    """A parameter's declared support as a box: `lower`, `upper` arrays of its shape (None where
    unbounded); `open` bounds (`positive`, `unit`) are kept strictly inside by the nearest float32
    (which float64 also holds), closed ones (`real(lower = a, upper = b)`) may be reached."""

    lower: Optional[np.ndarray]
    upper: Optional[np.ndarray]
    open: bool
    text: str                   # the declared type, e.g. "real(lower = 0, upper = 1)[8, 8]"

    def limits(self) -> tuple:
        """The box the draws are clipped to (−inf/inf where unbounded)."""
        lo = -np.inf if self.lower is None else np.asarray(self.lower, np.float64)
        hi = np.inf if self.upper is None else np.asarray(self.upper, np.float64)
        if self.open:  # the nearest float32 inside, exactly representable in float64 too
            lo = np.nextafter(np.float32(lo), np.float32(np.inf)).astype(np.float64) if self.lower is not None else lo
            hi = np.nextafter(np.float32(hi), np.float32(-np.inf)).astype(np.float64) if self.upper is not None else hi
        return lo, hi

    def project(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Each draw clipped onto the box (the Euclidean projection; NaN stays NaN), and the share
        of elements that were outside it."""
        lo, hi = self.limits()
        with np.errstate(invalid="ignore"):
            outside = (x < lo) | (x > hi)
        return np.clip(x, lo, hi), float(np.mean(outside)) if x.size else 0.0


def _output_shape(maps, shape: tuple, backend) -> tuple:
    """The shape the measurement's map gives one x (behind the batch axis): on JAX by tracing
    alone, on PyTorch by one call on zeros."""
    if backend.name == "jax":
        import jax
        import jax.numpy as jnp
        return tuple(jax.eval_shape(maps.apply, jax.ShapeDtypeStruct((1,) + tuple(shape), jnp.float32)).shape)[1:]
    with backend.no_grad():
        return tuple(maps.apply(backend.asarray(np.zeros((1,) + tuple(shape)))).shape)[1:]


def make_measurement(op, shape: tuple, y: np.ndarray, sigma: float, backend, scale_shift: Optional[tuple],
                     need_svd: bool, want_svd: bool = False, family: str = "normal") -> Measurement:
    """The measurement in `backend`, moved to network coordinates by `scale_shift` (see
    compiler/inverse.py).  Raises ValueError when `need_svd` and the operator has none; with
    `want_svd` (teleport) the SVD is built where one exists."""
    import jax.numpy as jnp

    from .operators import identity
    op = identity() if op is None else op
    if backend.name == "torch":
        from .backends.torch_ops import torch_linear_maps
        maps = torch_linear_maps(op, shape, backend.device, backend.dtype, with_svd=need_svd or want_svd)
    else:
        from .linear_maps import jax_linear_maps
        maps = jax_linear_maps(op, shape, with_svd=need_svd or want_svd)
    if need_svd and maps.svd is None:
        raise ValueError(f"it needs a linear operator with an SVD, and `{op.name}` has none"
                         + ("" if op.linear else " (it is not linear)")
                         + (f": {maps.svd_error}" if maps.svd_error else ""))
    y = np.asarray(y, np.float64)
    if not op.linear:  # a user's function: its output must have the data's shape (else a broadcasting traceback mid-run)
        out = _output_shape(maps, shape, backend)
        if out != tuple(y.shape):
            raise ValueError(f"`{op.name}` maps x of shape {tuple(shape)} to shape {out}, and the data have shape "
                             f"{tuple(y.shape)}")
    if scale_shift is not None:
        a, b = scale_shift
        if op.linear and family == "normal":  # a y + A(b 1) = A x_net + a σ n
            y = a * y + np.asarray(op(jnp.full(shape, b, jnp.float32)), np.float64)
            sigma = abs(a) * sigma
        else:  # A((x_net − b) / a): the data stay as they are (and counts stay counts)
            inner = maps.apply
            maps = replace(maps, apply=lambda u: inner((u - b) / a))
    yb = backend.asarray(y)
    if family == "poisson":
        from scipy.special import gammaln
        return Measurement(yb, float(sigma), maps, family="poisson",
                           weights=backend.asarray(1.0 / (2.0 * np.maximum(y, 1.0))),
                           log_norm=backend.asarray(-np.sum(gammaln(y + 1.0))))
    # noiseless data (σ = 0, mcgdiff) have no Gaussian constant: the method accounts for it
    log_norm = backend.asarray(-0.5 * y.size * np.log(2 * np.pi * float(sigma) ** 2) if sigma > 0 else 0.0)
    if maps.svd is None:
        return Measurement(yb, float(sigma), maps, log_norm=log_norm)
    svd = maps.svd
    ut_y = np.asarray(backend.to_numpy(svd.Ut(yb[None]))[0], np.float64)
    s = np.asarray(backend.to_numpy(svd.singular_values) if not isinstance(svd.singular_values, np.ndarray)
                   else svd.singular_values, np.float64)
    D, R = int(svd.D), int(svd.R)
    s_full, ybar = np.zeros(D), np.zeros(D)
    s_full[:R], ybar[:R] = s, ut_y / s
    measured = np.arange(D) < R
    return Measurement(yb, float(sigma), maps, backend.asarray(s_full), backend.asarray(ybar),
                       backend.asarray(measured.astype(np.float64)) > 0.5, R, D, log_norm=log_norm)


def _log(v):
    """log on a JAX or a PyTorch array."""
    if type(v).__module__.startswith("torch"):
        import torch
        return torch.log(v)
    import jax.numpy as jnp
    return jnp.log(v)
