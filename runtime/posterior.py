"""What every inference run returns: draws, weights, evidence, diagnostics, and their I/O.

Two layouts:

* MCMC (`chains` given): ``draws[name]`` has shape ``(chains, draws, *shape)``; weights are uniform.
* weighted (SMC, diffusion; `chains` is None): ``draws[name]`` has shape ``(particles, *shape)``
  with optional ``log_weights`` of shape ``(particles,)`` (unnormalized).

A posterior converts to ArviZ ``InferenceData``, saves to NetCDF (``.nc``) or ``.npz`` and
loads back exactly with :func:`load_posterior`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings as _warnings
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from augury.errors import AuguryError, did_you_mean

from .posterior_checks import PosteriorChecks
from .headlines import components_headline, summary_html
from .output_paths import check_writable
from .weighted_stats import systematic_indices, weighted_quantile

__all__ = ["Posterior", "load_posterior", "check_writable"]

_FORMAT_VERSION = 1
_META_KEY = "__augury_meta__"
_EXTRA_GROUP = "augury_stats"  # sample statistics not shaped like the draws (per-step ESS, ...)
SUMMARY_ROWS = 30  # rows `print(post)` shows; `describe(max_rows=None)` or `augury run --all` shows every one


def _import_arviz():
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        import arviz as az
    return az


def _jsonable(obj: Any) -> Any:
    """Settings and timings as JSON: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _element_names(name: str, shape: tuple) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


class Posterior(PosteriorChecks):
    """Draws per variable plus everything known about how they were made."""

    def __init__(self, draws: dict[str, np.ndarray], *, chains: int | None = None,
                 log_weights: np.ndarray | None = None, log_evidence: float | None = None,
                 log_evidence_sd: float | None = None, method: str = "", settings: dict | None = None,
                 sample_stats: dict[str, np.ndarray] | None = None, timing: dict[str, float] | None = None,
                 warnings: list | None = None, kinds: dict[str, str] | None = None, interrupted: bool = False):
        self._draws = {str(k): np.asarray(v) for k, v in draws.items()}
        self._chains = None if chains is None else int(chains)
        lead = None
        for k, v in self._draws.items():
            n_lead = 2 if self._chains is not None else 1
            if v.ndim < n_lead:
                raise ValueError(f"draws of `{k}` have shape {v.shape}; expected at least {n_lead} leading dims")
            if self._chains is not None and v.shape[0] != self._chains:
                raise ValueError(f"draws of `{k}` have {v.shape[0]} chains, expected {self._chains}")
            if lead is None:
                lead = v.shape[:n_lead]
            elif v.shape[:n_lead] != lead:
                raise ValueError(f"draws of `{k}` have leading shape {v.shape[:n_lead]}, others {lead}")
        if self._chains is not None:
            self._n_draws = lead[1] if lead else 0
            self._n = self._chains * self._n_draws
        else:
            self._n_draws = lead[0] if lead else (len(log_weights) if log_weights is not None else 0)
            self._n = self._n_draws
        if log_weights is not None:
            if self._chains is not None:
                raise ValueError("log_weights are for particle (weighted) posteriors; chains must be None")
            log_weights = np.asarray(log_weights)
            if log_weights.shape != (self._n,):
                raise ValueError(f"log_weights have shape {log_weights.shape}, expected ({self._n},)")
        self._log_weights = log_weights
        self.log_evidence: Optional[float] = None if log_evidence is None else float(log_evidence)
        # the estimated standard deviation of `log_evidence` from the same run (None when unknown)
        self.log_evidence_sd: Optional[float] = None if log_evidence_sd is None else float(log_evidence_sd)
        self.method = method
        self.settings = dict(settings or {})
        self.sample_stats = {str(k): np.asarray(v) for k, v in (sample_stats or {}).items()}
        self.timing = dict(timing or {})
        self.warnings = list(warnings or [])
        self.kinds = dict(kinds or {})
        # dimension names from the model's declarations (`theta : real[J]` -> ("J",)) and the
        # observed data, for ArviZ (`to_arviz`); set by `Model.sample`
        self.dims: dict[str, tuple[str, ...]] = {}
        self.observed_data: dict[str, np.ndarray] = {}
        # the run was stopped (Ctrl-C) before it was done: the draws are what it had made (partial)
        self.interrupted = bool(interrupted)
        self._diagnostics: Optional[dict] = None
        self._element_stats: Optional[dict] = None
        self._weights: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ access

    @property
    def names(self) -> list[str]:
        """Variable names, in the order given."""
        return list(self._draws)

    @property
    def chains(self) -> Optional[int]:
        """Number of chains (MCMC), or None for a weighted particle posterior."""
        return self._chains

    @property
    def is_weighted(self) -> bool:
        return self._chains is None

    @property
    def num_samples(self) -> int:
        """Total number of draws or particles."""
        return self._n

    @property
    def draws(self) -> dict[str, np.ndarray]:
        """The raw draws, in their stored layout (chains, draws, *shape) or (particles, *shape)."""
        return dict(self._draws)

    @property
    def log_weights(self) -> Optional[np.ndarray]:
        return self._log_weights

    def _get(self, name: str) -> np.ndarray:
        try:
            return self._draws[name]
        except KeyError:
            notes = [f"variables: {', '.join(self._draws) or '(none)'}"]
            hint = did_you_mean(name, self._draws)
            if hint:
                notes.append(hint)
            raise AuguryError(f"no variable `{name}` in this posterior", notes=notes) from None

    def shape(self, name: str) -> tuple:
        """The shape of one draw of `name`."""
        v = self._get(name)
        return v.shape[2:] if self._chains is not None else v.shape[1:]

    def samples(self, name: str) -> np.ndarray:
        """All draws of `name`, chains flattened: shape (n, *shape)."""
        v = self._get(name)
        return v.reshape((self._n,) + v.shape[2:]) if self._chains is not None else v

    @property
    def weights(self) -> np.ndarray:
        """Normalized weights, shape (n,); uniform for MCMC and unweighted particles."""
        if self._weights is None:
            if self._log_weights is None:
                w = np.full(self._n, 1.0 / max(self._n, 1))
            else:
                lw = self._log_weights.astype(np.float64)
                lw = lw - np.max(lw)
                w = np.exp(lw)
                w = w / w.sum()
            self._weights = w
        return self._weights

    def resampled(self, name: str, n: int | None = None, seed: int = 0) -> np.ndarray:
        """`n` equally weighted draws of `name` (default: as many as there are), by systematic
        resampling of weighted draws (Kitagawa 1996): each draw is repeated about n·w times.
        Unweighted draws come back as they are when `n` is their number."""
        x = self.samples(name)
        n = self._n if n is None else int(n)
        if self._log_weights is None and n == self._n:
            return x
        return x[systematic_indices(self.weights, n, seed)]

    def mean(self, name: str) -> np.ndarray:
        """Weight-aware posterior mean, shape of one draw."""
        x = self.samples(name).astype(np.float64)
        return np.tensordot(self.weights, x, axes=(0, 0))

    def sd(self, name: str) -> np.ndarray:
        """Weight-aware posterior standard deviation (population form: numpy's ddof=0)."""
        x = self.samples(name).astype(np.float64)
        w = self.weights
        m = np.tensordot(w, x, axes=(0, 0))
        return np.sqrt(np.tensordot(w, (x - m) ** 2, axes=(0, 0)))

    def quantile(self, name: str, q: float | Sequence[float]) -> np.ndarray:
        """Weight-aware quantiles: shape (*shape) for a scalar q, (len(q), *shape) otherwise.

        Unweighted draws use numpy's linear interpolation; weighted draws interpolate the
        weighted CDF evaluated at the midpoints of each draw's weight.
        """
        x = self.samples(name).astype(np.float64)
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if self._log_weights is None:
            out = np.quantile(x, qs, axis=0)
        else:
            out = weighted_quantile(x.reshape(self._n, -1), self.weights, qs).reshape((len(qs),) + x.shape[1:])
        return out[0] if np.ndim(q) == 0 else out

    # ------------------------------------------------------------ diagnostics

    def predict(self, X, proba: bool = False) -> np.ndarray:
        """Mixture posteriors: the most probable component (class, with prototypes) of each new
        point in X (M, D), or with `proba` the (M, C) probabilities, averaged over the draws."""
        from .mixtures.predict import predict_proba
        p = predict_proba(self, X)
        return p if proba else p.argmax(axis=1)

    @property
    def diagnostics(self) -> dict:
        """R-hat, ESS and divergences (MCMC) or the weight ESS (particles), plus sample stats."""
        if self._diagnostics is None:
            self._diagnostics = self._mcmc_diagnostics() if self._chains is not None else self._weighted_diagnostics()
        return self._diagnostics

    def element_stats(self) -> dict:
        """R-hat and ESS of every element (`diagnostics.element_stats`), computed once."""
        if self._element_stats is None:
            from .diagnostics import element_stats
            numeric = {k: v for k, v in self._draws.items() if v.size and v.dtype.kind in "biuf"}
            self._element_stats = element_stats(numeric) if self._chains is not None else {}
        return self._element_stats

    def _mcmc_diagnostics(self) -> dict:
        diag: dict[str, Any] = {"rhat": {}, "ess_bulk": {}, "ess_tail": {}}
        for k, st in self.element_stats().items():
            for key in ("rhat", "ess_bulk", "ess_tail"):
                diag[key][k] = st[key].reshape(st["shape"])
        all_rhat = [r.ravel() for r in diag["rhat"].values()]
        all_rhat = np.concatenate(all_rhat) if all_rhat else np.array([])
        all_rhat = all_rhat[np.isfinite(all_rhat)]
        diag["max_rhat"] = float(all_rhat.max()) if all_rhat.size else float("nan")
        div = self.sample_stats.get("diverging")
        diag["divergences"] = int(np.sum(div)) if div is not None else 0
        for k, v in self.sample_stats.items():
            if k != "diverging":
                diag.setdefault(k, v)
        return diag

    def _weighted_diagnostics(self) -> dict:
        w = self.weights
        diag: dict[str, Any] = {"ess": float(1.0 / np.sum(w ** 2)) if w.size else 0.0}
        for k, v in self.sample_stats.items():
            diag.setdefault(k, v)
        return diag

    # ---------------------------------------------------------------- summary

    def summary(self, names: Iterable[str] | None = None, max_rows: int | None = None) -> str:
        """A Stan-like text table: one row per scalar element (0-based indices).  By default every
        variable, parameters first (a recovered discrete one such as a change point included), then
        missing data, then lets, each group in the order of the draws."""
        if names is None:
            order = {"param": 0, "missing": 1, "let": 2}
            names = sorted(self.names, key=lambda n: order.get(self.kinds.get(n, "param"), 3))
        else:
            names = list(names)
        mcmc = self._chains is not None
        head = ["mean", "sd", "5%", "50%", "95%"] + (["ess_bulk", "r_hat"] if mcmc else [])
        rows: list[tuple[str, list[str]]] = []
        total = 0
        for name in names:
            shape = self.shape(name)
            if self._get(name).dtype.kind not in "biuf":
                continue
            labels = _element_names(name, shape)
            total += len(labels)
            if max_rows is not None and len(rows) >= max_rows:
                continue
            m, s = self.mean(name).ravel(), self.sd(name).ravel()
            qs = self.quantile(name, [0.05, 0.5, 0.95]).reshape(3, -1)
            cols = [m, s, qs[0], qs[1], qs[2]]
            if mcmc:
                d = self.diagnostics
                cols.append(np.asarray(d["ess_bulk"].get(name, np.full(shape, np.nan))).ravel())
                cols.append(np.asarray(d["rhat"].get(name, np.full(shape, np.nan))).ravel())
            for i, label in enumerate(labels):
                if max_rows is not None and len(rows) >= max_rows:
                    break
                vals = [f"{c[i]:.3g}" for c in cols[:5]]
                if mcmc:
                    vals += [f"{cols[5][i]:.0f}" if np.isfinite(cols[5][i]) else "nan", f"{cols[6][i]:.3f}"]
                rows.append((label, vals))
        width = max([len(r[0]) for r in rows] + [4])
        colw = [max([len(h)] + [len(r[1][j]) for r in rows]) for j, h in enumerate(head)]
        lines = [" " * width + "  " + "  ".join(h.rjust(w) for h, w in zip(head, colw))]
        for label, vals in rows:
            lines.append(label.ljust(width) + "  " + "  ".join(v.rjust(w) for v, w in zip(vals, colw)))
        if total > len(rows):
            lines.append(f"… {total - len(rows)} more rows (`summary()` or `augury run --all` shows every one; "
                         f"`--vars NAME` picks variables)")
        return "\n".join(lines)

    def _header(self) -> str:
        method = self.method or "unknown method"
        if self._chains is not None:
            size = f"{self._chains} chain{'s' if self._chains != 1 else ''} × {self._n_draws} draws"
        else:
            # weighted particles, or independent unweighted draws (prior sampling, guidance samplers)
            size = f"{self._n} particles (weighted)" if self._log_weights is not None else f"{self._n} draws"
        parts = [f"Posterior: {method}, {size}"]
        if self.interrupted:
            parts.append("INTERRUPTED (partial)")
        if self.log_evidence is not None:
            parts.append(f"log evidence {self.log_evidence:.4g}" +
                         (f" ± {self.log_evidence_sd:.2g}" if self.log_evidence_sd is not None else ""))
        if self._chains is not None and "diverging" in self.sample_stats:
            parts.append(f"{int(np.sum(self.sample_stats['diverging']))} divergences")
        if self._log_weights is not None and self._n:
            parts.append(f"ESS {self.diagnostics['ess']:.1f}")
        parts += components_headline(self.sample_stats)
        if "clipped" in self.settings:  # the diffusion methods' projection onto the declared bounds
            parts.append(f"{float(self.settings['clipped']):.1%} of elements clipped onto {self.settings['bounds']}")
        return ", ".join(parts)

    def describe(self, names: Iterable[str] | None = None, max_rows: int | None = SUMMARY_ROWS) -> str:
        """The one-line header (method, size, evidence, ESS, divergences) and the summary table of
        `names` (default: every variable), cut after `max_rows` rows (None: every row)."""
        return self._header() + "\n" + self.summary(names, max_rows=max_rows)

    def __repr__(self) -> str:
        return self.describe()

    def _repr_html_(self) -> str:
        """A notebook shows the headline and the summary (the first SUMMARY_ROWS rows) as HTML."""
        return summary_html(self._header(), self.summary(max_rows=SUMMARY_ROWS))

    __str__ = __repr__

    # -------------------------------------------------------------------- I/O

    def _meta(self) -> dict:
        return {
            "format": _FORMAT_VERSION,
            "chains": self._chains,
            "n": self._n,
            "has_log_weights": self._log_weights is not None,
            "log_evidence": self.log_evidence,
            "log_evidence_sd": self.log_evidence_sd,
            "method": self.method,
            "settings": _jsonable(self.settings),
            "timing": _jsonable(self.timing),
            "warnings": [str(w) for w in self.warnings],
            "kinds": dict(self.kinds),
            "names": self.names,
            "interrupted": self.interrupted,
        }

    def _split_stats(self) -> tuple[dict, dict]:
        """Sample stats shaped like the draws' leading dims, and the rest.  Particle posteriors
        (no chains) have per-step stats only (ESS or temperature per step), whatever their length:
        a run with as many steps as particles must not have them read as per-particle."""
        if self._chains is None:
            return {}, dict(self.sample_stats)
        lead = (self._chains, self._n_draws)
        per_draw, extra = {}, {}
        for k, v in self.sample_stats.items():
            (per_draw if v.shape[:len(lead)] == lead else extra)[k] = v
        return per_draw, extra

    def to_arviz(self, posterior_predictive: Optional[bool] = None, log_likelihood: Optional[bool] = None):
        """ArviZ InferenceData: `posterior` and `sample_stats` with chain/draw dims,
        `observed_data` (the data on the left of a `~`), `posterior_predictive` and the pointwise
        `log_likelihood` (so `az.loo` and `az.plot_ppc` work); a variable declared with size names
        (`theta : real[J]`) has them as its dims, others `NAME_dim_0`, ....  The last two are
        computed from the model (None: where they can be, with the reason in the posterior's
        attrs where not, and not for an interrupted run, which Ctrl-C asked to stop quickly;
        True: an error says why not; False: left out); a posterior loaded from a file has only
        what was saved.

        A weighted posterior becomes one chain whose draws are the particles; its log weights
        are `sample_stats.log_weight`. Stats not shaped per draw (ESS or temperature per step)
        are in `sample_stats` too, on their own dims (`ess_dim_0`, ...).
        """
        az = _import_arviz()
        import xarray as xr

        wrap = (lambda v: v) if self._chains is not None else (lambda v: v[None])
        per_draw, extra = self._split_stats()
        stats = {k: wrap(v) for k, v in per_draw.items()}
        if self._log_weights is not None:
            stats["log_weight"] = self._log_weights[None]
        attrs: dict[str, Any] = {"method": self.method, "settings": json.dumps(_jsonable(self.settings)),
                                 "interrupted": int(self.interrupted),  # NetCDF has no booleans
                                 _META_KEY: json.dumps(self._meta())}
        if self.log_evidence is not None:
            attrs["log_evidence"] = self.log_evidence
            if self.log_evidence_sd is not None:
                attrs["log_evidence_sd"] = self.log_evidence_sd
        lead = 2 if self._chains is not None else 1
        predictive, pointwise, absent = self._arviz_checks(posterior_predictive, log_likelihood)
        attrs.update({f"no_{k}": v for k, v in absent.items()})
        shaped = [(self._draws, lead), (predictive, lead), (pointwise, lead), (self.observed_data, 0)]
        dims = {k: list(d) for k, d in self.dims.items()
                if any(k in g for g, _ in shaped)
                and all(np.ndim(g[k]) - n == len(d) for g, n in shaped if k in g)}
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            idata = az.from_dict(posterior={k: wrap(v) for k, v in self._draws.items()},
                                 sample_stats=stats or None, observed_data=self.observed_data or None,
                                 posterior_predictive={k: wrap(v) for k, v in predictive.items()} or None,
                                 log_likelihood={k: wrap(v) for k, v in pointwise.items()} or None,
                                 dims=dims or None)
            idata.posterior.attrs.update(attrs)
            if extra:
                ds = xr.Dataset({k: (tuple(f"{k}_dim_{i}" for i in range(v.ndim)), v) for k, v in extra.items()})
                if "sample_stats" in idata.groups():
                    idata.sample_stats = xr.merge([idata.sample_stats, ds], combine_attrs="override")
                else:
                    idata.add_groups({"sample_stats": ds})
        return idata

    def save(self, path: str | Path) -> None:
        """Save to `.nc` (NetCDF via ArviZ) or `.npz` (numpy, no pickles).

        Atomic: written to a temporary file in the same folder, then renamed over `path`, so a
        write that fails midway leaves any previous file intact and no truncated one."""
        path = Path(path)
        check_writable(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=str(path.parent or "."))
        os.close(fd)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private; a saved posterior is an ordinary file
        try:
            self._write(Path(tmp), path.suffix.lower())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _write(self, path: Path, suffix: str) -> None:
        if suffix == ".nc":
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                self.to_arviz().to_netcdf(str(path), engine="h5netcdf")
        elif suffix == ".npz":
            arrays = {f"draw/{k}": v for k, v in self._draws.items()}
            arrays.update({f"stat/{k}": v for k, v in self.sample_stats.items()})
            if self._log_weights is not None:
                arrays["log_weights"] = self._log_weights
            arrays[_META_KEY] = np.array(json.dumps(self._meta()))
            for k, v in arrays.items():
                if v.dtype.kind == "O":
                    raise AuguryError(f"cannot save `{k}`: object arrays are not supported")
            with open(path, "wb") as f:
                np.savez(f, **arrays)

    def plot(self, names: Iterable[str] | None = None, path: str | Path | None = None, max_elements: int = 12):
        """Traces (one line per chain) and densities per variable, up to `max_elements` elements
        each (image-shaped variables: draws, mean and sd). Saves to `path` when given; returns
        the matplotlib figure (runtime/plots.py)."""
        from .plots import overview
        return overview(self, names, path, max_elements)

    def plots(self, folder: str | Path, model=None, data=None, truth=None) -> list[Path]:
        """Write every figure of this run as PNGs in `folder` (docs/plots.md): image grids (with the
        measurement and hidden pixels when `model` and `data` are given), particle ESS and
        resampling per step, mixture clusters, and per variable trace, rank and density plots.
        `truth`: a dict of true values (or a .json/.npz file) drawn beside the estimates."""
        from .plots import write_plots
        from .plots_context import run_context
        return write_plots(self, folder, run_context(model, data, self, truth))

    def report(self, path: str | Path, model=None, data=None, truth=None) -> Path:
        """Write one self-contained HTML report of this run (model text, settings, data, summary,
        diagnostics, warnings and the figures of `plots`) to `path` (runtime/report.py)."""
        from .plots_context import run_context
        from .report import write_report
        return write_report(self, path, run_context(model, data, self, truth))

    def image_grid(self, name: str, measurement=None, path: str | Path | None = None, samples: int = 8, *,
                   hidden=None, truth=None):
        """The measurement (its `hidden` pixels marked), the truth, mean, sd (with colour bars) and up
        to `samples` draws of image-shaped `name` on one grid; saves a PNG to `path` when given;
        returns the matplotlib figure."""
        from .figures import image_grid
        return image_grid(self, name, measurement, path, samples, hidden=hidden, truth=truth)


def load_posterior(path: str | Path) -> Posterior:
    """Load a posterior saved by :meth:`Posterior.save` (`.nc` or `.npz`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".nc", ".npz"):
        raise AuguryError(f"cannot load a posterior from `{path}`: unknown file type `{path.suffix}`",
                          notes=["use a `.nc` (NetCDF) or `.npz` path"])
    if not path.is_file():
        raise AuguryError(f"cannot load a posterior from `{path}`: no such file")
    try:
        return _load_nc(path) if suffix == ".nc" else _load_npz(path)
    except AuguryError:
        raise
    except Exception as e:  # corrupt or foreign file
        raise AuguryError(f"cannot load a posterior from `{path}`: {type(e).__name__}: {e}") from None


def _from_meta(meta: dict, draws: dict, log_weights, stats: dict) -> Posterior:
    names = [n for n in meta.get("names", []) if n in draws] + [n for n in draws if n not in meta.get("names", [])]
    return Posterior({n: draws[n] for n in names}, chains=meta.get("chains"),
                     log_weights=log_weights if meta.get("has_log_weights") else None,
                     log_evidence=meta.get("log_evidence"), log_evidence_sd=meta.get("log_evidence_sd"),
                     method=meta.get("method", ""),
                     settings=meta.get("settings"), sample_stats=stats, timing=meta.get("timing"),
                     warnings=meta.get("warnings"), kinds=meta.get("kinds"),
                     interrupted=bool(meta.get("interrupted", False)))


def _load_npz(path: Path) -> Posterior:
    with np.load(path, allow_pickle=False) as f:
        if _META_KEY not in f.files:
            raise AuguryError(f"cannot load a posterior from `{path}`: not an Augury posterior file",
                              notes=[f"missing the `{_META_KEY}` entry"])
        meta = json.loads(str(f[_META_KEY]))
        draws = {k[len("draw/"):]: f[k] for k in f.files if k.startswith("draw/")}
        stats = {k[len("stat/"):]: f[k] for k in f.files if k.startswith("stat/")}
        log_weights = f["log_weights"] if "log_weights" in f.files else None
    return _from_meta(meta, draws, log_weights, stats)


def _load_nc(path: Path) -> Posterior:
    az = _import_arviz()
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        idata = az.from_netcdf(str(path), engine="h5netcdf")
    post = idata.posterior
    if _META_KEY not in post.attrs:
        # A foreign InferenceData: read it as MCMC draws.
        draws = {k: np.asarray(v.values) for k, v in post.data_vars.items()}
        return Posterior(draws, chains=post.sizes.get("chain", 1), method=str(post.attrs.get("method", "")))
    meta = json.loads(post.attrs[_META_KEY])
    weighted = meta.get("chains") is None
    unwrap = (lambda v: v[0]) if weighted else (lambda v: v)
    draws = {k: unwrap(np.asarray(v.values)) for k, v in post.data_vars.items()}
    stats, log_weights = {}, None
    if "sample_stats" in idata.groups():
        for k, v in idata.sample_stats.data_vars.items():
            if k == "log_weight" and meta.get("has_log_weights"):
                log_weights = np.asarray(v.values)[0]
            elif v.dims[:1] == ("chain",):
                stats[k] = unwrap(np.asarray(v.values))
            else:  # a per-step statistic, on its own dims
                stats[k] = np.asarray(v.values)
    if _EXTRA_GROUP in idata.groups():
        for k, v in idata[_EXTRA_GROUP].data_vars.items():
            stats[k] = np.asarray(v.values)
    return _from_meta(meta, draws, log_weights, stats)
