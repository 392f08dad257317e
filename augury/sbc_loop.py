"""SBC's runs: bind each prior draw's data, run the method, rank the true values.

One progress bar over the runs (the runs' own bars off); Ctrl-C stops between blocks of the
run under way, which is dropped (a partial posterior would bias its ranks), and the runs done are
kept (`SBCResult.partial`).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from augury.errors import AuguryError

from augury.runtime import interrupts
from augury.runtime import sbc_ranks as sr
from augury.runtime.progress import progress_bar


def posterior_ranks(post, truths: dict, names: list[str], draws: int, rng: np.random.Generator):
    """Ranks of `truths[name]` among `draws` near-independent draws of `post`, per name, and the
    elements whose thinning left fewer than `draws` (the first names them per element)."""
    ranks, short = {}, []
    if post.chains is None and post.log_weights is not None:  # weighted particles: resample
        idx = sr.resample(post.weights, draws, rng)
        if post.diagnostics["ess"] < draws:
            short = [sr.element_labels(n, post.shape(n)) for n in names]
            short = [x for xs in short for x in xs]
        return {n: sr.rank(truths[n], post.samples(n)[idx], rng) for n in names}, short
    if post.chains is None:  # independent draws
        n_all = post.num_samples
        if n_all < draws:
            raise AuguryError(f"`{post.method}` made {n_all} draws in a run, fewer than the {draws} to rank among",
                              notes=["rank fewer draws (--draws / draws=), or ask the method for more "
                                     "(--set samples=... or particles=...)"])
        idx = np.round(np.linspace(0, n_all - 1, draws)).astype(np.int64)
        return {n: sr.rank(truths[n], post.samples(n)[idx], rng) for n in names}, short
    chains, per = post.chains, post.num_samples // post.chains
    if chains * per < draws:
        raise AuguryError(f"`{post.method}` made {chains * per} draws in a run, fewer than the {draws} to rank among",
                          notes=["rank fewer draws (--draws / draws=), or ask for more (--set samples=...)"])
    ess = post.diagnostics.get("ess_bulk", {})
    for n in names:
        x = post.samples(n)
        flat = x.reshape(len(x), -1)
        t = np.asarray(truths[n]).reshape(-1)
        e = np.asarray(ess.get(n, np.full(flat.shape[1], np.nan)), np.float64).reshape(-1)
        out = np.empty(flat.shape[1], np.int64)
        for j, label in enumerate(sr.element_labels(n, post.shape(n))):
            idx, enough = sr.thin_chains(chains, per, float(e[j]), draws)
            out[j] = sr.rank(t[j], flat[idx, j], rng)
            if not enough:
                short.append(label)
        ranks[n] = out.reshape(np.shape(truths[n]))
    return ranks, short


def _runner(model, method: str, prior, drawn: list[str], base: dict, consts, precision: str,
            settings: dict) -> tuple[Callable, bool, str]:
    """(run(i, seed) -> Posterior, compiled once?, why not).  NUTS and HMC take the drawn data as
    an argument of programs compiled once, where they can (augury/sbc_data.py)."""
    from augury.model import precision_scope, resolve_precision

    def data_of(i: int) -> dict:
        return {**base, **{n: prior.samples(n)[i] for n in drawn}}

    def slow(i: int, seed: int):
        return model.sample(data_of(i), method=method, seed=seed, progress=False, precision=precision,
                            consts=consts, **settings)

    from augury.dsl.signatures import METHODS

    from augury import sbc_data
    # the diffusion methods take the measurement as an argument already; the mixture methods cache
    # their compiled programs by priors and shapes, with the points an argument (runtime/samplers/em.py)
    if METHODS[method].family in ("diffusion", "mixture"):
        return slow, True, ""
    if method not in sbc_data.FAST_METHODS:
        return slow, False, sbc_data.why_not(method, None, drawn) or ""
    from augury.compiler.problem import problem_for

    from augury.runtime.samplers import driver
    opts = model._settings(method, settings)
    prec = resolve_precision(precision, method)
    with precision_scope(prec):
        lowered, _ = model.bind(data_of(0), consts, prec)
        reason = sbc_data.why_not(method, lowered, drawn)
        if reason is not None:
            return slow, False, reason
        problem = sbc_data.fast_problem(problem_for(method, lowered, opts), lowered)

    def fast(i: int, seed: int):
        with precision_scope(prec):
            bound, _ = model.bind(data_of(i), consts, prec)  # validated as any run's data
            problem.data_args = sbc_data.arguments(bound, drawn)
            return driver.sample(method, problem, opts, seed=seed, progress=False)
    return fast, True, ""


def run_all(model, method: str, prior, ranked: list[str], drawn: list[str], base: dict, *, runs: int, draws: int,
            alpha: float, seed: int, consts, precision: str, progress: bool, settings: dict):
    """Every run, in order; returns the `SBCResult`."""
    from augury.calibration import SBCResult, run_seed
    t0 = time.perf_counter()
    result = SBCResult(method=method, ranks={}, truths={}, draws=draws, runs_requested=runs, alpha=alpha,
                       seed=int(seed), settings=dict(settings))
    # the model's own warnings (checker, data) repeat in every run: only the runs' own are counted
    static = {str(w.format(model.program.source)) for w in model.warnings}
    per_run: list[dict] = []
    per_truth: list[dict] = []
    shorts: dict[str, int] = {}
    from augury.dsl.signatures import METHODS
    from augury.sbc_components import sorted_components
    mixture = METHODS[method].family == "mixture"
    names: Optional[list[str]] = None
    with interrupts.deferred(), progress_bar(runs, desc=f"sbc ({method})", enabled=progress) as bar:
        try:
            run, result.compiled_once, result.compile_note = _runner(model, method, prior, drawn, base, consts,
                                                                     precision, settings)
            for i in range(runs):
                interrupts.check()
                interrupts.resume()  # the last run's driver settled the interrupt state
                t = time.perf_counter()
                post = run(i, run_seed(seed, i))
                if post.interrupted:
                    raise KeyboardInterrupt  # a partial posterior would bias this run's ranks: dropped
                if names is None:
                    names = _kept(post, prior, ranked, result)
                truths = {n: prior.samples(n)[i] for n in names}
                if mixture:  # label switching: components ranked in a canonical order (augury/sbc_components.py)
                    post, truths = sorted_components(post, truths)
                ranks, short = posterior_ranks(post, truths, names, draws, np.random.default_rng([seed, i, 1]))
                per_run.append(ranks)
                per_truth.append(truths)
                result.run_seconds.append(time.perf_counter() - t)
                result.run_warnings.append([w for w in post.warnings or [] if w not in static])
                for label in short:
                    shorts[label] = shorts.get(label, 0) + 1
                bar.update(1)
        except KeyboardInterrupt:
            result.partial = True
        interrupts.settle()
    if not per_run:
        raise KeyboardInterrupt  # stopped before a run was done: nothing to keep
    result.ranks = {n: np.stack([r[n] for r in per_run]) for n in names}
    result.truths = {n: np.stack([t[n] for t in per_truth]) for n in names}
    result.short = shorts
    result.seconds = time.perf_counter() - t0
    return result


def _kept(post, prior, ranked: list[str], result) -> list[str]:
    """The ranked names the method reports with the prior's shapes; a note for the others."""
    kept = [n for n in ranked if n in post.names and tuple(post.shape(n)) == tuple(prior.shape(n))]
    left = [n for n in ranked if n not in kept]
    if left:
        result.warnings.append(f"`{post.method}` reports no draws of {', '.join(f'`{n}`' for n in left)} with the "
                               "prior's shape: not ranked")
    if not kept:
        raise AuguryError(f"`{post.method}` reports none of the parameters the prior draws: nothing to rank")
    return kept
