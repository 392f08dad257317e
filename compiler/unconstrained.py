"""The continuous unknowns of a bound model as one flat unconstrained vector, for particle methods.

Each unknown is mapped to unconstrained coordinates by NumPyro's `biject_to` of its declared
support (the same maps NUTS uses), so a particle is a point of R^d.  `Unconstrained` (see
runtime/samplers/protocol.py) gives:

- `draw(key)`: an exact prior draw (`PriorProgram.draw`, declared supports honoured) mapped
  through the inverse maps; a `sphere(D)` unknown's auxiliary vector is v = r u with the prior
  draw u and an independent radius r ~ χ_D, which has exactly the density the log prior states;
- `log_prior(z)`: the normalized prior density of z, log-Jacobians included
  (`LoweredModel.run(..., normalize_truncation=True)`), so log evidence estimates are exact;
- `log_likelihood(z)`, `constrain(z)` and `sites(z)`.

`static_unconstrained` does the same for the static parameters next to a chain (PMMH, SMC²),
with the prior of those parameters alone and the values the state-space callables read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import biject_to

from augury.runtime.samplers.protocol import Unconstrained

from .lower import LoweredModel, Unknown, declared_support_narrower
from .normalizers import sphere_radius_log_normalizer
from .evaluate import Env


@dataclass(frozen=True)
class Slot:
    """Where one unknown lives in the flat vector."""

    unknown: Unknown
    shape: tuple[int, ...]  # unconstrained shape
    start: int
    size: int


def layout(lowered: LoweredModel, unknowns: list[Unknown]) -> list[Slot]:
    """The flat vector's slots, one per unknown, in the model's order."""
    shapes: dict[str, tuple] = {}

    def probe(u, support, env):
        shape = tuple(u.shape)
        if u.kind != "sphere":
            shapes[u.name] = tuple(biject_to(support).inverse_shape(shape))
        else:
            shapes[u.name] = shape
        return _interior(support, shape, lowered.dtype)

    def trace():  # visits every unknown with its support, in dependency order; computes nothing
        lowered.environment(probe)

    jax.eval_shape(trace)
    out, start = [], 0
    for u in unknowns:
        size = int(np.prod(shapes[u.name], dtype=np.int64))
        out.append(Slot(u, shapes[u.name], start, size))
        start += size
    return out


def _interior(support, shape, dtype):
    """Some point inside `support` (for shape probing only)."""
    return biject_to(support)(jnp.zeros(biject_to(support).inverse_shape(shape), dtype))


def _pieces(z, slots: list[Slot]) -> dict[str, jnp.ndarray]:
    return {s.unknown.name: z[s.start:s.start + s.size].reshape(s.shape) for s in slots}


class _Mapped:
    """`get_param` for `LoweredModel.run` that maps a flat vector's pieces onto the supports
    and sums the log-Jacobians; unknowns outside `slots` come from `fixed`."""

    def __init__(self, z, slots: list[Slot], fixed: Optional[dict] = None):
        self.pieces = _pieces(z, slots)
        self.fixed = fixed or {}
        self.log_jacobian = jnp.zeros((), z.dtype)
        self.values: dict[str, jnp.ndarray] = {}

    def __call__(self, u: Unknown, support, env: Env):
        if u.name not in self.pieces:
            return self.fixed[u.name]
        piece = self.pieces[u.name]
        if u.kind == "sphere":  # the raw auxiliary vector; `run` adds its Gaussian term
            self.values[u.name] = piece
            return piece
        t = biject_to(support)
        x = t(piece)
        self.log_jacobian = self.log_jacobian + jnp.sum(t.log_abs_det_jacobian(piece, x))
        self.values[u.name] = x
        return x


def _refuse_missing(lowered: LoweredModel):
    for u in lowered.unknowns:
        if u.kind == "missing":
            raise ValueError(f"`{u.name}` has missing entries")


def model_unconstrained(lowered: LoweredModel, prior) -> Unconstrained:
    """Every continuous unknown of `lowered` (a model with its data bound) as one flat vector;
    `prior` is the `PriorProgram` of the same model and data (params drawn, data kept)."""
    _refuse_missing(lowered)
    slots = layout(lowered, list(lowered.unknowns))
    dim = sum(s.size for s in slots)
    dtype = lowered.dtype

    def densities(z):
        m = _Mapped(z, slots)
        res = lowered.run(m, normalize_truncation=True)
        return res, m

    def log_prior(z):
        res, m = densities(z)
        return res.log_prior + m.log_jacobian

    def log_likelihood(z):
        return densities(z)[0].log_likelihood

    def constrain(z):
        res, m = densities(z)
        out = {}
        for s in slots:
            out[s.unknown.name] = res.values[s.unknown.name]
        for n in lowered.reported_lets:
            if n not in lowered.global_lets:
                out[n] = res.values[n]
        return out

    def sites(z):
        m = _Mapped(z, slots)
        lowered.run(m)
        return {lowered.site_name(s.unknown): m.values[s.unknown.name] for s in slots}

    def draw(key):
        return _draw_flat(lowered, prior, slots, key, dtype)

    return Unconstrained(dim, draw, log_prior, log_likelihood, constrain, sites)


def _draw_flat(lowered: LoweredModel, prior, slots: list[Slot], key, dtype, fixed: Optional[dict] = None):
    """A prior draw of the unknowns in `slots`, flat and unconstrained."""
    k_prior, k_radius = jax.random.split(key)
    drawn = prior.draw(k_prior)
    pieces: dict[str, jnp.ndarray] = {}
    names = {s.unknown.name for s in slots}

    def get_param(u, support, env):
        if u.name not in names:
            return drawn[u.name] if fixed is None else fixed.get(u.name, drawn[u.name])
        x = jnp.asarray(drawn[u.name], dtype)
        if u.kind == "sphere":
            d = u.shape[-1]
            k = jax.random.fold_in(k_radius, len(pieces))
            r = jnp.sqrt(jax.random.chisquare(k, d, u.shape[:-1], dtype))
            v = x * r[..., None]
            pieces[u.name] = v
            return v
        pieces[u.name] = biject_to(support).inv(x)
        return x

    lowered.environment(get_param)  # the supports in dependency order; no log density needed
    parts = [jnp.reshape(pieces[s.unknown.name], (-1,)).astype(dtype) for s in slots]
    return jnp.concatenate(parts) if parts else jnp.zeros((0,), dtype)


def static_unconstrained(lowered: LoweredModel, prior, chain: str) -> Unconstrained:
    """The continuous params other than the chain `chain` as one flat vector (PMMH, SMC²):
    `log_prior` is their normalized prior alone, `constrain(z)` the values the state-space
    callables read as `theta` (those params and every let that does not read the chain)."""
    _refuse_missing(lowered)
    static = [u for u in lowered.unknowns if u.name != chain]
    chain_u = next(u for u in lowered.unknowns if u.name == chain)
    slots = layout(lowered, static)
    dim = sum(s.size for s in slots)
    dtype = lowered.dtype
    locs = [loc for loc in lowered.s.samples if loc.stmt.target.name in {u.name for u in static}]
    zero_chain = {chain: jnp.zeros(chain_u.shape, dtype)}

    def environment(z):
        m = _Mapped(z, slots, zero_chain)
        env = lowered.environment(m)
        return env, m

    def log_prior(z):
        env, m = environment(z)
        lp = m.log_jacobian
        for loc in locs:
            lp = lp + lowered._sample_logp(loc, env)
            if loc.stmt.dist.func == "flat":
                lp = lp - lowered._flat_log_volume(loc, env)
            elif declared_support_narrower(lowered.s, loc.stmt.target.name, loc.stmt.dist.func):
                lp = lp - lowered._truncation_log_normalizer(loc, env)
        for u in static:
            if u.kind == "sphere":
                v = m.values[u.name]
                lp = lp - 0.5 * jnp.sum(v ** 2) - sphere_radius_log_normalizer(v.shape)
        return lp

    def constrain(z):
        env, _ = environment(z)
        return {n: v for n, v in env.values.items() if n in lowered.s.params and n != chain
                or (n in lowered.s.lets and n not in lowered._static_lets)}

    def draw(key):
        return _draw_flat(lowered, prior, slots, key, dtype, fixed=zero_chain)

    return Unconstrained(dim, draw, log_prior, None, constrain, None)


def _curvatures(H, floor: float):
    """(|eigenvalues| floored at `floor` times the largest, eigenvectors) of a Hessian: the scales
    of a Gaussian that fits it, proper even where H is flat or not convex."""
    evals, evecs = jnp.linalg.eigh(0.5 * (H + H.T))
    mag = jnp.abs(evals)
    top = jnp.max(mag)
    return jnp.maximum(mag, floor * jnp.where(top > 0, top, 1.0)), evecs


def _whitening(H):
    """A map w -> z scaled by H: eigenvectors over the square roots of the curvatures."""
    mag, evecs = _curvatures(H, 1e-10)
    return evecs / jnp.sqrt(mag)[None, :]


def _posterior_mode(neg, d: int, rounds: int = 8):
    """The minimum of `neg` (the negative log posterior): BFGS restarted in coordinates whitened
    by the Hessian at the current point, so that scales 10⁴ apart (an intercept and a slope
    on raw data) do not stall the line search.  Raises ValueError when nothing finite is found."""
    from jax.scipy.optimize import minimize

    @jax.jit
    def round_(z):
        T = _whitening(jax.hessian(neg)(z))
        res = minimize(lambda w: neg(z + T @ w), jnp.zeros((d,), z.dtype), method="BFGS",
                       options={"maxiter": 500})
        return z + T @ res.x, res.fun

    z = jnp.zeros((d,), jnp.result_type(float))
    f = float(neg(z))
    for _ in range(rounds):
        z_new, f_new = round_(z)
        f_new = float(f_new)
        if not (np.isfinite(f_new) and bool(jnp.all(jnp.isfinite(z_new)))):
            break
        done = f - f_new < 1e-9 * (1.0 + abs(f_new))
        z, f = z_new, min(f, f_new)
        if done:
            break
    if not (np.isfinite(f) and f < 1e299):
        raise ValueError("no finite posterior mode was found to start the particles from")
    return z


def laplace_reference(u: Unconstrained, inflate: float = 2.0, evidence_defined: bool = False) -> Unconstrained:
    """`u` with a Gaussian reference distribution in place of its prior, for tempering from a
    proper distribution when the prior is improper (`flat()` on an unbounded support):
    q = N(mode, inflate² H⁻¹) with the mode of log prior + log likelihood (BFGS) and H the
    Hessian of its negative there (eigenvalues floored so that q is proper).  The tempered
    path is q^(1−λ) (prior · likelihood)^λ: `log_prior` becomes log q and `log_likelihood`
    log prior + log likelihood − log q, so any tempering sampler ends at the posterior.  The
    evidence of an improper prior is not defined (`evidence_defined` False); with a proper prior
    (`evidence_defined=True`) the path still ends at prior · likelihood, and q is normalized,
    so the evidence estimate stands.  Raises
    ValueError when no finite mode is found."""
    d = u.dimension

    def neg(z):
        v = -(u.log_prior(z) + u.log_likelihood(z))
        return jnp.where(jnp.isfinite(v), v, jnp.asarray(1e300, v.dtype))

    mode = _posterior_mode(neg, d)
    evals, evecs = _curvatures(jax.jit(jax.hessian(neg))(mode), 1e-8)
    chol = evecs * (inflate / jnp.sqrt(evals))[None, :]  # q's covariance is chol cholᵀ
    log_det = jnp.sum(jnp.log(inflate / jnp.sqrt(evals)))
    inv = evecs.T  # whitening: (evecs.T (z − mode)) * sqrt(evals) / inflate

    def log_q(z):
        w = (inv @ (z - mode)) * jnp.sqrt(evals) / inflate
        return -0.5 * jnp.sum(w ** 2) - log_det - 0.5 * d * jnp.log(2 * jnp.pi)

    def draw(key):
        return mode + chol @ jax.random.normal(key, (d,), mode.dtype)

    def log_likelihood(z):
        return u.log_prior(z) + u.log_likelihood(z) - log_q(z)

    return Unconstrained(d, draw, log_q, log_likelihood, u.constrain, u.sites, evidence_defined=evidence_defined,
                         reference="laplace")
