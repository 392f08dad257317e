"""The compiled model: the object `augury.compile` returns."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from augury.compiler.dims import declared_dims, observed_data, observed_names
from augury.compiler.graph import build_graph, render, to_dot
from augury.compiler.methods import (SIMULATES_DATA, STARTS_FROM_PRIOR_GIVEN_DATA, applicable_methods,
                                     default_method, draws_from_prior, settings_conflict)
from augury.compiler.problem import problem_for
from augury.runtime.samplers.protocol import Problem
from augury.compiler.structure import Structure, collect
from augury.dsl import ast
from augury.dsl.check import check
from augury.dsl.check_rules import FLAT_PRIOR
from augury.dsl.parser import parse, read_model_file
from augury.dsl.signatures import METHODS, SETTING_RULES, MethodSig, check_setting
from augury.errors import (AuguryCheckError, AuguryError, AuguryInferenceError, AugurySyntaxError, Diagnostic,
                           did_you_mean)

PRECISIONS = ("auto", "float32", "float64")


def resolve_precision(precision: Any, method: str) -> str:
    """"auto" -> the method's own (float64 for general, chain and mixture methods, float32
    where a network prior runs); else the precision asked for."""
    if precision not in PRECISIONS:
        raise AuguryInferenceError(f"unknown precision {precision!r}", notes=['use "auto", "float32" or "float64"'])
    return METHODS[method].precision if precision == "auto" else precision


@contextmanager
def precision_scope(precision: str):
    """JAX's scoped x64 mode for float64 work: nothing global changes, so importing or running
    Augury leaves the dtypes of the user's own JAX code alone."""
    import jax
    with jax.enable_x64(precision == "float64"):
        yield


def _bound_shapes(bound: Mapping[str, Any]) -> dict:
    """What the checker needs of names bound from Python: an array's shape, else None."""
    import numpy as np
    out = {}
    for k, v in bound.items():
        if callable(v) or not hasattr(v, "shape") and not isinstance(v, (int, float, list, tuple)):
            out[k] = None
        else:
            out[k] = tuple(int(d) for d in np.shape(v))
    return out


def _describe(sig: MethodSig) -> str:
    rules = dict(sig.rules)
    return ", ".join(f"{k} ({SETTING_RULES.get(rules.get(k), 'one of ' + '|'.join(rules.get(k) or ()))})"
                     for k in sig.params)


def _data_mapping(data) -> dict:
    """A data argument (None, a mapping, a path, or a list of sources) as a dict."""
    from augury.runtime.data import load_data
    if data is None:
        return {}
    if isinstance(data, (str, Path)):
        return load_data([str(data)])
    if isinstance(data, (list, tuple)) and all(isinstance(x, (str, Path)) for x in data):
        return load_data([str(x) for x in data])
    if isinstance(data, Mapping):
        return dict(data)
    raise AuguryError(f"`data` must be a dict of arrays, a path (.json, .npz) or a list of sources, "
                      f"not {type(data).__name__}")


def _read_source(source: Union[str, Path, bytes]) -> tuple[str, str]:
    if isinstance(source, (bytes, bytearray)):
        try:
            return bytes(source).decode("utf-8"), "<string>"
        except UnicodeDecodeError as ex:
            raise AugurySyntaxError(f"the model text is not UTF-8: byte 0x{source[ex.start]:02x} at offset "
                                    f"{ex.start} cannot be decoded") from None
    if not isinstance(source, (str, Path)):
        raise AuguryError(f"`augury.compile` takes a path to a .aug file or the model text, "
                          f"not {type(source).__name__}")
    if isinstance(source, Path):
        p = source
    elif "\n" not in source and len(source) < 4096 and (source.endswith(".aug") or Path(source).is_file()):
        p = Path(source)
    else:
        return source, "<string>"
    if not p.is_file():
        raise AuguryError(f"no model file `{p}`")
    return read_model_file(p), str(p)


class Model:
    """A parsed and checked model file; `sample` binds data and runs a method."""

    def __init__(self, program: ast.Program, consts: Optional[dict] = None, bind: Optional[dict] = None,
                 allow_python: bool = False):
        for what, value in (("consts", consts), ("bind", bind)):
            if value is not None and not isinstance(value, Mapping):
                raise AuguryError(f"`{what}` must be a dict of names to values, not {type(value).__name__}")
        self.program = program
        self.allow_python = bool(allow_python)
        self.consts = dict(consts or {})
        self.bound = dict(bind or {})
        self.warnings: list[Diagnostic] = check(program, self.consts, _bound_shapes(self.bound))
        self.structure: Structure = collect(program)
        self.graph = build_graph(self.structure)
        self._bound_cache: dict = {}  # data digest -> binding; one entry, reused by a re-run
        self._checks_cache: dict = {}  # the same for the posterior's checks (`posterior_predictive`)
        self._checked_consts: set = set()  # digests of run-time const overrides the checker accepted
        self._sampler_caches: dict = {}  # data digest without the measurement -> compiled diffusion samplers
        self._methods: Optional[dict] = None
        if self.structure.infer is not None:
            written = self._infer_settings()  # a bad value in the `infer` line is an error at its place
            method = self.structure.infer.method.func
            if method in METHODS:  # and so are values that do not go together
                self._check_together(method, {**dict(METHODS[method].defaults), **written}, {})

    @property
    def name(self) -> str:
        return self.program.model_name or Path(self.program.file).stem

    def methods(self) -> dict[str, Optional[str]]:
        """Every method: None where it applies, else the reason it does not."""
        if self._methods is None:  # the model does not change: read the table once
            self._methods = applicable_methods(self.structure)
        return dict(self._methods)

    def default_method(self) -> Optional[str]:
        return default_method(self.structure)

    def to_dot(self) -> str:
        return to_dot(self.graph)

    def render(self, path: str) -> Path:
        return render(self.graph, path)

    def _repr_svg_(self):
        """A notebook shows the graph: Graphviz where it is installed, else the matplotlib drawing
        (`augury graph`'s fallback); None (the text repr) for a graph too large to draw."""
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            try:
                return render(self.graph, str(Path(d) / "graph.svg")).read_text()
            except AuguryError:
                return None

    def _settings(self, method: str, overrides: Mapping[str, Any]) -> dict:
        """The method's settings: its defaults, then the model's `infer` line (when it names this
        method), then `overrides`; each value checked against the method table's rule."""
        sig = METHODS[method]
        settings: dict[str, Any] = dict(sig.defaults)
        inf = self.structure.infer
        if inf is not None and inf.method.func == method:
            settings.update(self._infer_settings())
        for k, v in overrides.items():
            if k not in sig.params:
                note = did_you_mean(k, sig.params)
                raise AuguryInferenceError(f"`{method}` has no setting `{k}`",
                                           notes=[note] if note else [f"its settings are: {', '.join(sig.params)}"])
            try:
                settings[k] = check_setting(method, k, v)
            except ValueError as ex:
                raise AuguryInferenceError(str(ex), notes=[f"settings of `{method}`: {_describe(sig)}"]) from None
        self._check_together(method, settings, overrides)
        return settings

    def _written_settings(self, method: str) -> dict:
        """The settings the `infer` line writes for `method`: name -> expression."""
        inf = self.structure.infer
        return {k: e for k, e in inf.method.kwargs} if inf is not None and inf.method.func == method else {}

    def _settings_error(self, method: str, message: str, names, notes, overrides: Mapping[str, Any]):
        """A bad combination or count of settings: an error at the `infer` line's value when one of
        `names` was written there (and not overridden), as a bad value alone is; else a run error."""
        written = self._written_settings(method)
        where = [written[k] for k in names if k in written and k not in overrides]
        if where:
            return AuguryCheckError(f"bad settings of `{method}`: {message}", where[0].span, notes,
                                    source=self.program.source)
        return AuguryInferenceError(message, notes=notes)

    def _check_together(self, method: str, settings: dict, overrides: Mapping[str, Any]) -> None:
        """Settings valid alone but not together (`settings_conflict`)."""
        conflict = settings_conflict(method, settings, set(self._written_settings(method)) | set(overrides))
        if conflict is not None:
            message, names, notes = conflict
            raise self._settings_error(method, message, names, notes, overrides)

    def _check_memory(self, method: str, opts: dict, problem, overrides: Mapping[str, Any]) -> None:
        """Refuse particle counts whose arrays cannot fit in memory (`particles.memory_refusal`)
        before anything runs."""
        from augury.runtime.particles import MEMORY_SETTINGS, memory_refusal
        reason = memory_refusal(method, opts, problem)
        if reason is not None:
            notes = ["try fewer particles: the estimate counts the particle arrays alone (the model's own work per "
                     "particle comes on top), so this run could not have fitted"]
            raise self._settings_error(method, reason, MEMORY_SETTINGS[method], notes, overrides)

    def _infer_settings(self) -> dict[str, Any]:
        """The settings written in the `infer` line, evaluated (consts allowed) and checked;
        an error points at the value in the file."""
        from augury.compiler.bind import evaluate_consts
        from augury.compiler.evaluate import Env, EvalError, evaluate
        inf = self.structure.infer
        method = inf.method.func
        if method not in METHODS:
            return {}
        env = Env(dict(evaluate_consts(self.structure, self.consts)))
        out = {}
        for k, e in inf.method.kwargs:
            if k not in METHODS[method].params:
                continue
            try:
                value = evaluate(e, env)
                value = value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
                out[k] = check_setting(method, k, value)
            except (EvalError, ValueError, TypeError) as ex:
                msg = ex.message if isinstance(ex, EvalError) else str(ex)
                raise AuguryCheckError(f"bad setting of `{method}`: {msg}", e.span,
                                       [f"settings of `{method}`: {_describe(METHODS[method])}"],
                                       source=self.program.source) from None
        return out

    def bind(self, data: Union[None, Mapping, str, list] = None, consts: Optional[dict] = None,
             precision: str = "float32", simulate: bool = False, with_prior: bool = False, inverse: bool = False,
             given_params: Optional[set] = None, for_checks: bool = False, likelihood_only: bool = False):
        """Validate data and lower the model: returns (LoweredModel, data warnings).  With
        `simulate`, data on the left of `~` may be absent and the result draws from the prior
        (a `PriorProgram`; with `given_params` too, the `PredictiveProgram`); with `inverse`, it is
        the bound, unlowered model the diffusion methods read; with `likelihood_only`, a learned
        `diffusion(...)` prior (no density to lower) is left out, its variable an unknown without
        a prior (the pointwise log likelihood's binding).  Run float64 work inside `precision_scope("float64")`."""
        from augury.compiler.bind import bind
        if consts is not None and not isinstance(consts, Mapping):
            raise AuguryError(f"`consts` must be a dict of names to values, not {type(consts).__name__}")
        mapping = _data_mapping(data)
        consts = self._with_overrides(consts)
        given = None if given_params is None else sorted(given_params)
        structure = self.structure
        if likelihood_only:
            structure = replace(structure, samples=[loc for loc in structure.samples
                                                    if loc.stmt.dist.func != "diffusion"])
        key = _fingerprint(mapping, consts,
                           f"{precision}:{simulate}:{with_prior}:{inverse}:{given}:{likelihood_only}")
        if key is None:
            return bind(structure, mapping, consts, precision, bound=self.bound, simulate=simulate,
                        allow_python=self.allow_python, with_prior=with_prior, inverse=inverse, given_params=given_params)
        # a posterior's checks (predictive, pointwise) keep their binding beside the sampler's, which
        # they reuse where it is the same
        caches = self._checks_cache if for_checks and key not in self._bound_cache else self._bound_cache
        if key not in caches:
            result = bind(structure, mapping, consts, precision, bound=self.bound, simulate=simulate,
                          allow_python=self.allow_python, with_prior=with_prior, inverse=inverse, given_params=given_params)
            while len(caches) >= (4 if caches is self._checks_cache else 1):
                caches.pop(next(iter(caches)))
            caches[key] = result
        return caches[key]

    def _with_overrides(self, consts: Optional[Mapping]) -> dict:
        """The consts with run-time overrides, checked as `compile` checks its own: a const declared
        int given 2.5 is an error naming the const (binding would truncate it to 2)."""
        merged = {**self.consts, **(consts or {})}
        if not consts:
            return merged
        key = _fingerprint({}, merged, "consts")
        if key is None or key not in self._checked_consts:
            check(self.program, merged, _bound_shapes(self.bound))  # raises AuguryCheckError on an error
            if key is not None:
                self._checked_consts.add(key)
        return merged

    def resolve_method(self, method: Optional[str] = None) -> str:
        """The method to run: checked to exist, be implemented and apply to this model."""
        if method is None:
            method = self.default_method()
        if method is None:
            raise AuguryInferenceError("no inference method applies to this model",
                                       notes=[f"{m}: {r}" for m, r in self.methods().items()][:6])
        if not isinstance(method, str) or method not in METHODS:
            note = did_you_mean(method, METHODS) if isinstance(method, str) and method else None
            raise AuguryInferenceError(f"unknown inference method {method!r}".replace("'", "`"),
                                       notes=[note] if note else [f"methods: {', '.join(METHODS)}"])
        reason = self.methods()[method]
        if reason is not None:
            applies = [m for m, r in self.methods().items() if r is None]
            raise AuguryInferenceError(f"`{method}` does not apply to this model: {reason}",
                                       notes=[f"methods that apply: {', '.join(applies) or 'none'}"])
        return method

    def sample(self, data: Union[None, Mapping, str, list] = None, method: Optional[str] = None, seed: int = 0,
               progress: bool = False, precision: str = "auto", consts: Optional[dict] = None,
               checkpoint: Union[None, str, Path] = None, checkpoint_every: Optional[int] = None,
               resume: Union[None, bool, str, Path] = None, **settings):
        """Bind data and run an inference method; returns a `Posterior`.

        `precision="auto"` is float64 for the general, chain and mixture methods and float32
        where a network prior runs; float64 work runs inside JAX's scoped x64 mode, so the
        caller's own JAX code keeps its dtypes.  `checkpoint=PATH` writes the run's state there
        (every `checkpoint_every` iterations, and on Ctrl-C); `resume=PATH` (or True: the
        `checkpoint` path) continues such a run (docs/samplers.md, "Long runs")."""
        from augury.runtime import checkpoints
        from augury.runtime.samplers import driver
        method = self.resolve_method(method)
        opts = self._settings(method, settings)
        prec = resolve_precision(precision, method)
        driver.seed_key(seed)  # a bad seed is refused before binding
        ck = None if checkpoint is None and resume in (None, False) and checkpoint_every is None else \
            checkpoints.request(checkpoint, checkpoint_every, resume, checkpoints.identity(
                model_source=self.program.source, consts={**self.consts, **(consts or {})}, data=_data_mapping(data),
                method=method, settings=opts, seed=seed, precision=prec))
        with precision_scope(prec):
            if METHODS[method].family == "diffusion":
                from augury.compiler.inverse import inverse_problem
                bound, data_warnings = self.bind(data, consts, prec, inverse=True)
                problem = bound.compiled_runs.setdefault(("problem", method), Problem())
                problem.inverse = inverse_problem(bound, method, opts, self.allow_python)
                problem.cache = self._shared_sampler_cache(data, consts, prec, problem.cache)
            elif METHODS[method].family == "mixture":
                from augury.compiler.mixture import recognize
                from augury.compiler.mixture_binding import mixture_problem
                bound, data_warnings = self.bind(data, consts, prec, inverse=True)
                problem = bound.compiled_runs.setdefault(("problem", "mixture"), Problem())
                if problem.mixture is None:
                    form = recognize(self.structure)
                    problem.mixture = mixture_problem(bound, form)
                    problem.kinds = {form.assignment: "missing"} if form.labelled else {}
            else:
                lowered, data_warnings = self.bind(data, consts, prec, simulate=method in SIMULATES_DATA,
                                                   with_prior=method in STARTS_FROM_PRIOR_GIVEN_DATA)
                problem = problem_for(method, lowered, opts)
                self._check_memory(method, opts, problem, settings)
                data_warnings = list(data_warnings) + truncation_warnings(lowered, method)
            post = driver.sample(method, problem, opts, seed=seed, progress=progress, checkpoint=ck)
        post.settings["precision"] = prec
        post.dims = declared_dims(self.structure, list(post.names) + observed_names(self.structure))
        post.observed_data = observed_data(self.structure, _data_mapping(data)) if data is not None else {}
        post.attach_model(self, data)
        # "methods that draw from the prior refuse this flat prior" says nothing to those that do not
        checker = [w for w in self.warnings if w.code != FLAT_PRIOR or draws_from_prior(method)]
        post.warnings = [str(w.format(self.program.source)) for w in checker] + list(data_warnings) + \
            list(post.warnings or [])
        return post

    def _shared_sampler_cache(self, data, consts, precision: str, own: dict) -> dict:
        """The compiled diffusion samplers of an earlier binding that differs only in the
        measurement: they take the measurement as an argument, so a new image compiles nothing."""
        from augury.compiler.inverse import recognize
        form = recognize(self.structure)
        rest = {k: v for k, v in _data_mapping(data).items() if k != form.data}
        key = _fingerprint(rest, {**self.consts, **(consts or {})}, f"{precision}:inverse")
        if key is None:
            return own
        if key not in self._sampler_caches:
            while len(self._sampler_caches) >= 4:  # a few models' worth of programs, not all
                self._sampler_caches.pop(next(iter(self._sampler_caches)))
            self._sampler_caches[key] = own
        return self._sampler_caches[key]

    def posterior_predictive(self, posterior, data: Union[None, Mapping, str, list] = None,
                             seed: int = 0) -> dict:
        """Replicated data, y_rep ~ p(y | θ) at every draw θ of `posterior`, in its layout
        ((chains, draws, ...) or (particles, ...)): {data name: array}.  `data` holds the
        covariates and sizes (the run's data; or new covariates, to predict at them)."""
        from augury.predictive_checks import posterior_predictive
        return posterior_predictive(self, posterior, data, seed)

    def log_likelihood(self, posterior, data: Union[None, Mapping, str, list] = None) -> dict:
        """Pointwise log likelihood log p(y_i | θ) at every draw of `posterior` and every observed
        element (what `arviz.loo` reads): {data name: array}.  A discrete unknown summed out per
        element is summed out of its element's term (docs/language.md, "Pointwise log likelihood")."""
        from augury.predictive_checks import log_likelihood
        return log_likelihood(self, posterior, data)

    def measured_images(self, posterior, data: Union[None, Mapping, str, list] = None) -> tuple[dict, dict]:
        """For the figures and the report: ({param: measurement}, {param: hidden pixels}) where
        this model is an inverse problem on an image (`y ~ normal(A(x), s)`, A a `mask`)."""
        from augury.measured_images import measured_images
        return measured_images(self, posterior, data)

    def prior_predictive(self, data: Union[None, Mapping, str, list] = None, draws: int = 1000, seed: int = 0,
                         precision: str = "auto", consts: Optional[dict] = None, progress: bool = False):
        """`draws` joint draws of every unknown from its prior and every data variable from its
        likelihood (a `Posterior`, unweighted).  `data` holds the covariates and sizes
        (`{"N": 50}`); data on the left of `~` need not be given, and is simulated if it is."""
        return self.sample(data, method="prior", seed=seed, progress=progress, precision=precision,
                           consts=consts, samples=draws)

    def structure_report(self) -> list[str]:
        """How the compiler reads the model: continuous/discrete unknowns, plates, recurrences."""
        return _structure_lines(self.structure)

    def check_report(self) -> str:
        """What `augury check` prints: warnings, then the method table."""
        lines = [w.format(self.program.source) for w in self.warnings]
        lines.append(f"{self.program.file}: model `{self.name}` is well formed")
        lines.extend(self.structure_report())
        imports = self.structure.python_imports()
        if imports:
            lines.append("imports Python (resolved only with --allow-python / allow_python=True):")
            lines.extend(f"  {kind}(\"{path}\") at {span.line}:{span.col}" for kind, path, span in imports)
        table = self.methods()
        dm = self.default_method()
        lines.append("methods:")
        for m, reason in table.items():
            mark = "yes" if reason is None else "no "
            star = " (default)" if m == dm else ""
            lines.append(f"  {mark} {m}{star}" + ("" if reason is None else f": {reason}"))
        return "\n".join(lines)


def _fingerprint(mapping: Mapping, consts: Mapping, precision: str) -> Optional[str]:
    """A digest of the data, consts and precision: equal digests bind to the same lowered
    model (and reuse its compiled samplers); None when some value cannot be digested."""
    import hashlib

    import numpy as np
    h = hashlib.sha1(precision.encode())
    for part in (mapping, consts):
        h.update(b"|")
        for k in sorted(part, key=str):
            v = part[k]
            try:
                a = np.asarray(v)
            except Exception:
                return None
            if a.dtype == object:
                return None
            h.update(f"{k}:{a.dtype.str}:{a.shape}:".encode())
            h.update(np.ascontiguousarray(a).tobytes())
            if np.ma.isMaskedArray(v):  # the mask marks missing entries: part of the data
                h.update(np.ascontiguousarray(np.ma.getmaskarray(v)).tobytes())
    return h.hexdigest()


def _structure_lines(s: Structure) -> list[str]:
    from augury.compiler.analysis import enumeration_plans, is_recurrent, let_groups
    out = []
    try:
        plans = {p.name: p for p in enumeration_plans(s)}
    except AuguryError as e:
        plans = {}
        out.append(f"  discrete unknowns cannot be summed out: {e.message}")
    for name, d in s.params.items():
        if name in plans:
            how = {"chain": "forward algorithm along a chain", "plate": "log-sum-exp per element",
                   "global": "log-sum-exp over its values"}[plans[name].kind]
            out.append(f"  param {name}: discrete, summed out exactly ({how}); drawn after sampling")
        else:
            loops = [loc for loc in s.samples_of(name) if loc.loops]
            where = f", element-wise in loop over {', '.join(loops[0].loop_vars)}" if loops else ""
            out.append(f"  param {name}: continuous{where}")
    for name in plans:
        if name in s.data:
            out.append(f"  data {name}: partially observed labels, missing entries summed out")
    for name, d in s.data.items():
        if d.has_missing and name not in plans:
            out.append(f"  data {name}: partially observed, missing entries imputed as unknowns")
    from augury.compiler.analysis import chain_variables
    if any(n in s.params for n in chain_variables(s)):
        from augury.compiler.state_space import recognize
        form = recognize(s)
        if isinstance(form, str):
            out.append(f"  chain: the particle filters do not run it: {form}")
        else:
            observed = sorted({e.loc.stmt.target.name for e in form.emissions})
            out.append(f"  chain {form.name}: a state-space model (initial {form.name}[0], transition "
                       f"{form.name}[t] | {form.name}[t - 1], observations {', '.join(observed)})"
                       + (f"; static parameters {', '.join(form.static)}" if form.static else ""))
    from augury.compiler.inverse import PRIORS, operator_kind, recognize as recognize_inverse
    if any(loc.stmt.dist.func in PRIORS for loc in s.samples):
        form = recognize_inverse(s)
        if isinstance(form, str):
            out.append(f"  inverse problem: the diffusion methods do not run it: {form}")
        else:
            kind, linear, svd = operator_kind(s, form)
            op = f"{form.op} = {kind}(...), " + ("linear with an SVD" if svd else "linear" if linear else "nonlinear") \
                if form.op else "the identity (denoising)"
            out.append(f"  inverse problem: {form.param} ~ {form.prior.func}(...), {form.data} ~ {form.family}("
                       f"{form.op + '(' + form.param + ')' if form.op else form.param}, ...); operator {op}")
    from augury.compiler.mixture import describe, recognize as recognize_mixture
    if any(d.type.base == "category" for d in list(s.params.values()) + list(s.data.values())) or \
            any(loc.stmt.dist.func == "mixture" for loc in s.samples):
        form = recognize_mixture(s)
        out.append(f"  mixture: the mixture methods do not run it: {form}" if isinstance(form, str)
                   else "  " + describe(s, form))
    for group in let_groups(s):
        if is_recurrent(s, group):
            out.append(f"  let {', '.join(group)}: recurrence, compiled to a scan")
        elif any(loc.loops for n in group for loc in s.lets[n]):
            out.append(f"  let {', '.join(group)}: element-wise over a plate, vectorized")
    return ["structure:"] + out if out else []


def compile(source: Union[str, Path], consts: Optional[dict] = None, bind: Optional[dict] = None,
            allow_python: bool = False) -> Model:
    """Parse and check a model: `source` is a path to a `.aug` file or the model text itself.

    `allow_python=True` lets the model's `python(...)`, `torch(...)` and `jax(...)` import
    paths resolve (as `trust_remote_code` elsewhere); without it, binding refuses them."""
    text, file = _read_source(source)
    return Model(parse(text, file), consts, bind, allow_python)


def truncation_warnings(lowered, method: str) -> list[str]:
    """Where this method's target departs from the truncated model (docs/language.md, "Truncation:
    the two exceptions"): say which density it samples."""
    listed = lambda names: ", ".join(f"`{n}`" for n in dict.fromkeys(names))  # noqa: E731
    see = "see docs/language.md, \"Truncation: the two exceptions\""
    restricted, joint = getattr(lowered, "restricted_truncations", ()), getattr(lowered, "joint_flat", ())
    out = []  # (prior sampling's program has neither: it draws the truncated model exactly)
    if restricted and method in ("nuts", "hmc"):
        out.append(f"the prior of {listed(restricted)} is truncated by its declared support "
                   "with a normalizer that reads another unknown and has no exact gradient here: this run samples "
                   f"the restricted, unnormalized density (as Stan does), smc the truncated distribution; {see}")
    if joint and method in ("nuts", "hmc", "smc"):
        reading = "uniform over the joint region (as Stan)" if method != "smc" else "uniform given the other params"
        out.append(f"flat() on {listed(joint)}, whose bounds read another param, is {reading} in "
                   f"this run; {see}")
    return out

