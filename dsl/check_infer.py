"""The `infer` statement (pass 6 of `check`): one at most, a known method, its settings
given by name and known to it, and targets that are params or data declared `missing`."""

from __future__ import annotations

from . import ast
from .check import KIND_ARTICLE, Checker, suggest
from .signatures import METHODS


def check_infer(ck: Checker):
    infers = [s for s, _ in ast.walk_statements(ck.program.statements) if isinstance(s, ast.Infer)]
    if len(infers) > 1:
        ck.error("the model has more than one `infer`", infers[1].span,
                 f"the first is at {ck.where(infers[0].span)}; keep one, and choose others at run time")
    for s in infers:
        m = s.method
        if m.func not in METHODS:
            ck.error(f"unknown inference method `{m.func}`", m.func_span,
                     suggest(m.func, METHODS) or f"the methods are {', '.join(METHODS)}")
        else:
            sig = METHODS[m.func]
            settings = ", ".join(sig.params) if sig.params else "none"
            if m.args:
                example = f"{sig.params[0]} = {ck.text(m.args[0])}" if sig.params else ""
                ck.error(f"the settings of `{m.func}` are given by name", m.args[0].span,
                         f"write e.g. `{m.func}({example})`; its settings are: {settings}")
            for k, v in m.kwargs:
                if k not in sig.params:
                    ck.error(f"`{m.func}` has no setting `{k}`", ck.kw_span(k, v),
                             suggest(k, sig.params), f"its settings are: {settings}")
        for name in s.targets:
            sym = ck.symbols.get(name)
            span = ck.word_span(s.span, name, skip=len("infer"))
            params = [x.name for x in ck.symbols.values() if x.kind == "param"]
            if sym is None:
                ck.error(f"unknown name `{name}` in `infer`", span, suggest(name, params))
            elif sym.kind == "data" and not sym.stmt.has_missing:
                ck.error(f"`{name}` is observed data; it cannot be inferred", span,
                         "`infer` lists params, and data declared with `missing`")
            elif sym.kind not in ("param", "data"):
                ck.error(f"`{name}` is {KIND_ARTICLE[sym.kind]}; it cannot be inferred", span,
                         "`infer` lists params, and data declared with `missing`"
                         + ("; every let is reported in the output anyway" if sym.kind == "let" else ""))
            else:
                ck.used.add(name)
