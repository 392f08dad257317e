"""The compiled model: the object `augury.compile` returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

from augury.compiler.graph import build_graph, render, to_dot
from augury.compiler.methods import applicable_methods, default_method
from augury.compiler.structure import Structure, collect
from augury.dsl import ast
from augury.dsl.check import check
from augury.errors import AuguryError, AuguryInferenceError, Diagnostic, did_you_mean
from augury.dsl.parser import parse
from augury.dsl.signatures import METHODS


def _read_source(source: Union[str, Path]) -> tuple[str, str]:
    if isinstance(source, Path):
        p = source
    elif "\n" not in source and len(source) < 4096 and (source.endswith(".aug") or Path(source).is_file()):
        p = Path(source)
    else:
        return source, "<string>"
    if not p.is_file():
        raise AuguryError(f"no model file `{p}`")
    return p.read_text(encoding="utf-8"), str(p)


class Model:
    """A parsed and checked model file; `sample` binds data and runs a method."""

    def __init__(self, program: ast.Program, consts: Optional[dict] = None, bind: Optional[dict] = None):
        self.program = program
        self.consts = dict(consts or {})
        self.bound = dict(bind or {})
        self.warnings: list[Diagnostic] = check(program, self.consts)
        self.structure: Structure = collect(program)
        self.graph = build_graph(self.structure)
        self._bound_cache: dict = {}  # data digest -> binding; one entry, reused by a re-run

    @property
    def name(self) -> str:
        return self.program.model_name or Path(self.program.file).stem

    def methods(self) -> dict[str, Optional[str]]:
        """Every method: None where it applies, else the reason it does not."""
        return applicable_methods(self.structure)

    def default_method(self) -> Optional[str]:
        return default_method(self.structure)

    def to_dot(self) -> str:
        return to_dot(self.graph)

    def render(self, path: str) -> Path:
        return render(self.graph, path)

    def _repr_svg_(self):  # a notebook shows the graph
        import shutil
        import subprocess
        if shutil.which("dot") is None:
            return None
        return subprocess.run(["dot", "-Tsvg"], input=self.to_dot().encode(), capture_output=True).stdout.decode()

    def _settings(self, method: str, overrides: Mapping[str, Any]) -> dict:
        from augury.compiler.evaluate import Env, evaluate
        sig = METHODS[method]
        settings: dict[str, Any] = {}
        inf = self.structure.infer
        if inf is not None and inf.method.func == method:
            for k, v in inf.method.kwargs:
                settings[k] = evaluate(v, Env({}))
            for i, v in enumerate(inf.method.args):
                if i < len(sig.params):
                    settings[sig.params[i]] = evaluate(v, Env({}))
        for k, v in overrides.items():
            if k not in sig.params:
                note = did_you_mean(k, sig.params)
                raise AuguryInferenceError(f"`{method}` has no setting `{k}`",
                                           notes=[note] if note else [f"its settings are: {', '.join(sig.params)}"])
            settings[k] = v
        return settings

    def bind(self, data: Union[None, Mapping, str, list] = None, consts: Optional[dict] = None,
             precision: str = "float32"):
        """Validate data and lower the model: returns (LoweredModel, data warnings)."""
        from augury.compiler.bind import bind
        from augury.runtime.data import load_data
        if data is None:
            mapping = {}
        elif isinstance(data, (str, Path)):
            mapping = load_data([str(data)])
        elif isinstance(data, (list, tuple)):
            mapping = load_data([str(x) for x in data])
        else:
            mapping = dict(data)
        consts = {**self.consts, **(consts or {})}
        key = _fingerprint(mapping, consts, precision)
        if key is None:
            return bind(self.structure, mapping, consts, precision, bound=self.bound)
        if key not in self._bound_cache:
            result = bind(self.structure, mapping, consts, precision, bound=self.bound)
            self._bound_cache = {key: result}
        return self._bound_cache[key]

    def sample(self, data: Union[None, Mapping, str, list] = None, method: Optional[str] = None, seed: int = 0,
               progress: bool = False, precision: str = "float32", consts: Optional[dict] = None, **settings):
        """Bind data and run an inference method; returns a `Posterior`."""
        method = method or self.default_method()
        if method is None:
            raise AuguryInferenceError("no inference method applies to this model",
                                       notes=[f"{m}: {r}" for m, r in self.methods().items()][:6])
        if method not in METHODS:
            note = did_you_mean(method, METHODS)
            raise AuguryInferenceError(f"unknown inference method `{method}`",
                                       notes=[note] if note else [f"methods: {', '.join(METHODS)}"])
        reason = self.methods()[method]
        if reason is not None:
            raise AuguryInferenceError(f"`{method}` does not apply to this model: {reason}",
                                       notes=[f"methods that apply: {', '.join(m for m, r in self.methods().items() if r is None) or 'none'}"])
        opts = self._settings(method, settings)
        lowered, data_warnings = self.bind(data, consts, precision)
        if method in ("nuts", "hmc"):
            from augury.runtime.samplers.nuts import sample_nuts
            post = sample_nuts(lowered, method=method, seed=seed, progress=progress, **opts)
        else:  # pragma: no cover - guarded by IMPLEMENTED
            raise AuguryInferenceError(f"`{method}` is not implemented yet")
        post.warnings = [str(w.format(self.program.source)) for w in self.warnings] + list(data_warnings) + \
            list(post.warnings or [])
        return post

    def structure_report(self) -> list[str]:
        """How the compiler reads the model: continuous/discrete unknowns, plates, recurrences."""
        return _structure_lines(self.structure)

    def check_report(self) -> str:
        """What `augury check` prints: warnings, then the method table."""
        lines = [w.format(self.program.source) for w in self.warnings]
        lines.append(f"{self.program.file}: model `{self.name}` is well formed")
        lines.extend(self.structure_report())
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
    for group in let_groups(s):
        if is_recurrent(s, group):
            out.append(f"  let {', '.join(group)}: recurrence, compiled to a scan")
        elif any(loc.loops for n in group for loc in s.lets[n]):
            out.append(f"  let {', '.join(group)}: element-wise over a plate, vectorized")
    return ["structure:"] + out if out else []


def compile(source: Union[str, Path], consts: Optional[dict] = None, bind: Optional[dict] = None) -> Model:
    """Parse and check a model: `source` is a path to a `.aug` file or the model text itself."""
    text, file = _read_source(source)
    return Model(parse(text, file), consts, bind)

