"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari, Gelman 2018,
arXiv:1804.06788, Algorithm 1): does a method's posterior match the model's?

R joint draws (θ̃, ỹ) come from the prior (the `prior` method).  For each, the method runs on ỹ,
its draws are thinned to L near-independent ones (MCMC: every ceil(n / ESS)-th, section 4.2;
weighted particles: L resampled; independent draws: L of them), and each scalar parameter
element's true value θ̃ is ranked among them (0..L).  For a correct method the ranks are uniform;
a chi-square test per element says how surprising they are (runtime/sbc_ranks.py).

`sbc(...)` returns an `SBCResult`; `augury sbc` prints its summary.  Params are ranked (discrete
ones too, ties broken at random); lets only with `lets=True` (functions of the params, they add
tests but little information).  Runs bind new data each: NUTS and HMC take it as an argument of
programs compiled once (augury/sbc_data.py); other methods bind and compile per run, except the
diffusion methods, whose programs already take the measurement as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from augury.errors import AuguryError

from augury.runtime import sbc_ranks as sr


@dataclass
class SBCResult:
    """Ranks of the true values, per parameter: `ranks[name]` has shape (runs, *shape), in 0..draws."""

    method: str
    ranks: dict[str, np.ndarray]
    truths: dict[str, np.ndarray]
    draws: int
    runs_requested: int
    alpha: float = 0.01
    seed: int = 0
    settings: dict = field(default_factory=dict)
    partial: bool = False  # interrupted: the runs done are kept
    compiled_once: bool = False  # the runs shared one compiled program (new data as an argument)
    compile_note: str = ""  # why not, where they did not
    seconds: float = 0.0
    run_seconds: list[float] = field(default_factory=list)
    short: dict[str, int] = field(default_factory=dict)  # element -> runs thinned to fewer than `draws`
    run_warnings: list[list[str]] = field(default_factory=list)  # each run's posterior warnings
    warnings: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        """The runs done (fewer than asked when interrupted)."""
        return len(next(iter(self.ranks.values()))) if self.ranks else 0

    @property
    def bins(self) -> int:
        return sr.bins_for(self.runs, self.draws)

    @property
    def tests(self) -> int:
        """The number of parameter elements tested."""
        return int(sum(np.prod(v.shape[1:], dtype=int) for v in self.ranks.values()))

    @property
    def level(self) -> float:
        """The Bonferroni-corrected level each element's p-value is compared with."""
        return sr.bonferroni(self.alpha, self.tests)

    @property
    def pvalues(self) -> dict[str, np.ndarray]:
        """The chi-square p-value of each element's ranks (NaN with fewer than 2 runs)."""
        out = {}
        for name, r in self.ranks.items():
            flat = r.reshape(len(r), -1)
            p = [sr.chi_square(flat[:, j], self.draws, self.bins)[1] if len(r) >= 2 else np.nan
                 for j in range(flat.shape[1])]
            out[name] = np.asarray(p, np.float64).reshape(r.shape[1:])
        return out

    def elements(self) -> list[tuple[str, np.ndarray, float]]:
        """(label, ranks (runs,), p-value) per parameter element, in the model's order."""
        out = []
        pv = self.pvalues
        for name, r in self.ranks.items():
            flat = r.reshape(len(r), -1)
            for j, label in enumerate(sr.element_labels(name, r.shape[1:])):
                out.append((label, flat[:, j], float(pv[name].reshape(-1)[j])))
        return out

    def failures(self) -> list[tuple[str, float, str, str]]:
        """(label, p-value, shape, what it means) of each element below the corrected level."""
        return [(label, p, *sr.shape_of(r, self.draws)) for label, r, p in self.elements()
                if np.isfinite(p) and p < self.level]

    def summary(self) -> str:
        """The header, then one row per element: parameter, p-value, verdict."""
        done = f"{self.runs} runs" + (f" of {self.runs_requested} (INTERRUPTED: partial)" if self.partial else "")
        per = np.median(self.run_seconds[1:]) if len(self.run_seconds) > 1 else (
            self.run_seconds[0] if self.run_seconds else float("nan"))
        lines = [f"SBC of `{self.method}`: {done}, {self.draws} draws per run ranked, {self.bins} bins; "
                 f"{self.seconds:.1f} s ({per:.2f} s per run after the first"
                 + ("; compiled once" if self.compiled_once else f"; compiled per run: {self.compile_note}"
                    if self.compile_note else "") + ")",
                 f"chi-square test of uniform ranks per element; failing below {self.level:.2g} "
                 f"(alpha {self.alpha:g}, Bonferroni over {self.tests})"]
        rows = [(label, sr.pvalue_text(p), self._verdict(r, p)) for label, r, p in self.elements()]
        width = max([len("parameter")] + [len(a) for a, _, _ in rows])
        lines.append(f"{'parameter':<{width}}  {'p-value':>9}  verdict")
        lines += [f"{a:<{width}}  {b:>9}  {c}" for a, b, c in rows]
        return "\n".join(lines)

    def _verdict(self, ranks: np.ndarray, p: float) -> str:
        if not np.isfinite(p):
            return "too few runs"
        if p < self.level:
            return "FAIL: " + sr.shape_of(ranks, self.draws)[0]
        return "ok"

    def loud_warnings(self) -> list[str]:
        """What the failures mean, the thinning that fell short, the runs that warned."""
        out = list(self.warnings)
        fails = self.failures()
        if fails:
            out.append(f"SBC FAILED for {len(fails)} of {self.tests} parameter elements: the ranks of the true "
                       f"values are not uniform, so `{self.method}`'s posterior is not the model's (or the runs "
                       "were too short to converge)")
            out += [f"  {label} (p = {sr.pvalue_text(p)}): {meaning}" for label, p, _, meaning in fails]
            from augury.dsl.signatures import METHODS
            if self.method in METHODS and METHODS[self.method].family == "mixture":
                out.append("  the components were ranked sorted by their mean's first coordinate (against label "
                           "switching; augury/sbc_components.py), so a failure is the method's, or runs too short")
        if self.runs < sr.MIN_EXPECTED * 2:
            out.append(f"only {self.runs} runs: the chi-square test has little power and its p-values are rough; "
                       "use at least 100 runs")
        short = {k: v for k, v in self.short.items() if v}
        if short:
            worst = max(short, key=short.get)
            out.append(f"in {short[worst]} of {self.runs} runs `{worst}` had fewer than {self.draws} effectively "
                       f"independent draws ({len(short)} element(s) in all): the ranks come from autocorrelated "
                       "draws, which shows as spikes at both ends; run longer (--set samples=...) or rank "
                       "fewer draws (--draws)")
        warned = [w for w in self.run_warnings if w]
        if warned:
            first = warned[0][0].splitlines()[0]
            out.append(f"{len(warned)} of {self.runs} runs warned (the first: {first})")
        return out

    def save(self, path: Union[str, Path]) -> None:
        """The ranks, true values and p-values as .npz (`ranks.NAME`, `truth.NAME`, `pvalue.NAME`)."""
        arrays: dict[str, Any] = {"draws": np.asarray(self.draws), "runs_requested": np.asarray(self.runs_requested),
                                  "alpha": np.asarray(self.alpha), "partial": np.asarray(self.partial),
                                  "method": np.asarray(self.method)}
        pv = self.pvalues
        for name in self.ranks:
            arrays[f"ranks.{name}"] = self.ranks[name]
            arrays[f"truth.{name}"] = self.truths[name]
            arrays[f"pvalue.{name}"] = pv[name]
        np.savez(str(path), **arrays)

    def plot(self, path: Union[str, Path, None] = None, max_panels: int = 48):
        """Rank histograms with the 99% band of uniform ranks (runtime/sbc_plot.py)."""
        from augury.runtime.sbc_plot import plot_ranks
        return plot_ranks(self, path, max_panels)

    def __repr__(self) -> str:
        return self.summary()


def run_seed(seed: int, i: int) -> int:
    """The seed of run `i`: independent streams per (seed, run), in [0, 2**64)."""
    a, b = np.random.SeedSequence([int(seed), int(i)]).generate_state(2, np.uint32)
    return int(a) | (int(b) << 32)


def _check_counts(runs: Any, draws: Any, alpha: Any) -> None:
    for what, v, low in (("runs", runs, 2), ("draws", draws, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise AuguryError(f"SBC needs `{what}` to be an integer of at least {low}, not {v!r}",
                              notes=["runs: the prior draws to recover (100 or more for a useful test); draws: "
                                     "the posterior draws each true value is ranked among"])
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise AuguryError(f"`alpha` is the test's family-wise level, in (0, 1), not {alpha!r}")


def _prior_refusal(model) -> None:
    """SBC ranks true values drawn from the prior: a model whose prior `prior` cannot draw is refused."""
    reason = model.methods().get("prior")
    if reason is None:
        return
    notes = ["SBC needs exact joint draws of the parameters and the data from the prior"]
    if "diffusion prior" in reason:
        notes.append("a network prior's law is only implicit: its draws would come from a diffusion sampler, "
                     "the kind of method SBC is meant to test; an analytic prior (`gaussian(...)`, `gmm(...)`) "
                     "can be drawn exactly")
    else:
        notes.append("give every parameter a proper prior")
    raise AuguryError(f"SBC cannot draw from this model's prior: {reason}", notes=notes)


def sbc(model_or_path, method: Optional[str] = None, runs: int = 100, data=None, seed: int = 0, draws: int = 99,
        *, alpha: float = 0.01, lets: bool = False, consts: Optional[dict] = None, precision: str = "auto",
        progress: bool = False, allow_python: bool = False, **settings) -> SBCResult:
    """Simulation-based calibration of `method` on a model (a `Model`, or a path or text to compile).

    `runs` prior draws, each method run ranked with `draws` posterior draws; `data` gives what
    is not drawn (sizes, covariates, fixed inputs), as for `Model.sample`; `settings` are the
    method's.  Ctrl-C keeps the runs done (`result.partial`)."""
    from augury.model import Model
    _check_counts(runs, draws, alpha)
    model = model_or_path if isinstance(model_or_path, Model) else _compile(model_or_path, allow_python)
    _prior_refusal(model)
    method = model.resolve_method(method)
    if method == "prior":
        raise AuguryError("SBC tests an inference method; `prior` is what it draws the true values with",
                          notes=["choose a method with --method (nuts, smc, ...)"])
    model._settings(method, settings)  # bad settings are refused before anything runs
    s = model.structure
    if not any(loc.stmt.target.name in s.data for loc in s.samples):
        raise AuguryError("the model draws no data from a likelihood: SBC has nothing to condition on",
                          notes=["SBC needs data on the left of `~`"])
    from augury.model import _data_mapping
    base = _data_mapping(data)
    prior = model.sample(base or None, method="prior", seed=seed, samples=runs, consts=consts)
    if prior.interrupted:
        raise KeyboardInterrupt  # stopped while drawing the true values: no run was done
    kinds = prior.kinds
    ranked = [n for n in prior.names if kinds.get(n) == "param" or (lets and kinds.get(n) == "let")]
    drawn = [n for n in prior.names if kinds.get(n) == "data"]
    from augury.sbc_loop import run_all
    return run_all(model, method, prior, ranked, drawn, base, runs=runs, draws=draws, alpha=alpha, seed=seed,
                   consts=consts, precision=precision, progress=progress, settings=settings)


def _compile(source, allow_python: bool):
    import augury
    return augury.compile(source, allow_python=allow_python)
