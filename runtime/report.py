"""The run report: ONE self-contained HTML file (`augury run --report`, `Posterior.report`) with
the model text, the method and its settings, the data used, the headline and summary table, the
diagnostics, every warning and the run's figures.  Nothing is fetched when it is viewed: the
figures are base64 PNG data URIs, the CSS is inline, there is no script and no font."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from augury.errors import AuguryError

from .headlines import summary_html
from .output_paths import check_writable
from .plots_context import RunContext

REPORT_SUFFIXES = (".html", ".htm")
FOLD_ROWS = 30  # a longer summary table starts folded
REPORT_ROWS = 500  # summary rows in the report (a note says how many more)
_VALUE_CHARS = 160  # a setting's value is cut after this many characters

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
padding:0 1em;color:#1b1f24;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #d0d7de;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child{text-align:left}table.kv td{text-align:left}table.kv th{color:#57606a;font-weight:normal}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;border-radius:4px;font:12.5px/1.4 ui-monospace,Menlo,
Consolas,monospace}
.partial{background:#fff1e5;border-left:4px solid #d1242f;padding:.6em 1em;font-weight:bold}
.warn{border-left:4px solid #bf8700}.muted{color:#57606a}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #d0d7de}figcaption{color:#57606a;font-size:.92em}
.k{color:#cf222e;font-weight:600}.c{color:#6e7781;font-style:italic}.s{color:#0a3069}.n{color:#0550ae}
.o{color:#8250df;font-weight:600}
.cols{display:flex;flex-wrap:wrap;gap:0 3em}.headline{font-weight:bold;font-size:1.05em}
summary{cursor:pointer;color:#57606a}
"""

_KEYWORDS = ("model", "data", "param", "let", "const", "op", "for", "in", "infer", "by", "missing")
_TOKEN = re.compile(r"(?P<c>#[^\n]*)|(?P<s>\"[^\"\n]*\"?)|(?P<n>\b\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\b)"
                    r"|(?P<k>\b(?:" + "|".join(_KEYWORDS) + r")\b)|(?P<o>~)")


def highlight(source: str) -> str:
    """The model text as escaped HTML with its comments, strings, numbers, keywords and `~` in
    spans (classes c, s, n, k, o)."""
    out, at = [], 0
    for m in _TOKEN.finditer(source):
        out.append(html.escape(source[at:m.start()]))
        out.append(f'<span class="{m.lastgroup}">{html.escape(m.group())}</span>')
        at = m.end()
    out.append(html.escape(source[at:]))
    return "".join(out)


def _value(v: Any) -> str:
    from .posterior import _jsonable
    text = v if isinstance(v, str) else json.dumps(_jsonable(v), ensure_ascii=False)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + " …"


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_value(v))}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def diagnostics_rows(post) -> list[tuple[str, Any]]:
    """The run's diagnostics as (name, value) rows: R-hat, ESS and divergences (MCMC), the
    weight ESS and the log evidence (particles), the timings."""
    d = post.diagnostics
    rows: list[tuple[str, Any]] = []
    if post.chains is not None:
        bulk = [np.nanmin(v) for v in d.get("ess_bulk", {}).values() if np.size(v) and np.any(np.isfinite(v))]
        tail = [np.nanmin(v) for v in d.get("ess_tail", {}).values() if np.size(v) and np.any(np.isfinite(v))]
        rows += [("max R-hat", f"{d['max_rhat']:.4f}"), ("divergences", d["divergences"])]
        if bulk:
            rows.append(("min bulk ESS", f"{min(bulk):.0f}"))
        if tail:
            rows.append(("min tail ESS", f"{min(tail):.0f}"))
    else:
        rows.append(("ESS of the weights", f"{d['ess']:.1f} of {post.num_samples}"))
    if post.log_evidence is not None:
        sd = f" ± {post.log_evidence_sd:.3g}" if post.log_evidence_sd is not None else ""
        rows.append(("log evidence", f"{post.log_evidence:.6g}{sd}"))
    rows += [(f"time: {k}", f"{v:.3g} s" if isinstance(v, (int, float)) else v) for k, v in post.timing.items()]
    rows.append(("status", "INTERRUPTED (partial)" if post.interrupted else "complete"))
    return rows


def _figure_html(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption, quote=True)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def report_html(post, ctx: Optional[RunContext] = None, figures: Sequence[tuple[str, bytes]] = (),
                run_info: Sequence[tuple[str, Any]] = ()) -> str:
    """The report as one HTML string; `figures` are (caption, PNG bytes), `run_info` more rows
    for the run's table (the seed, the command)."""
    ctx = ctx or RunContext()
    name = Path(ctx.model_file).stem if ctx.model_file else (post.method or "posterior")
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Augury run: {html.escape(name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>Augury run: {html.escape(name)}</h1>"]
    if post.interrupted:
        parts.append('<p class="partial">INTERRUPTED (partial): the run was stopped before it was done; '
                     "everything below is from the draws it had made.</p>")
    settings = [(k, v) for k, v in post.settings.items() if k != "mixture"]
    run = [("method", post.method or "unknown")] + ([("model file", ctx.model_file)] if ctx.model_file else [])
    run += [("data", ctx.data_source or "none")] + list(run_info)
    parts.append(f'<p class="headline">{html.escape(post._header())}</p>')
    parts += ['<div class="cols"><div><h2>Run</h2>', _kv(run), "<h3>Settings</h3>",
              _kv(settings) if settings else "<p>none</p>", "</div><div><h2>Diagnostics</h2>",
              _kv(diagnostics_rows(post)), "</div></div>"]
    warnings = [str(w) for w in post.warnings or []]
    parts.append(f"<h2>Warnings ({len(warnings)})</h2>")
    parts += [f'<pre class="warn">{html.escape(w)}</pre>' for w in warnings] or ['<p class="muted">none</p>']
    parts.append(f"<h2>Figures ({len(figures)})</h2>")
    parts += [_figure_html(c, png) for c, png in figures] or ['<p class="muted">none</p>']
    table = post.summary(max_rows=REPORT_ROWS)
    rows = len(table.splitlines()) - 1
    # a long table is folded (a <details> element: no script) so that the figures come first
    parts += ["<h2>Summary</h2>", f"<details{' open' if rows <= FOLD_ROWS else ''}><summary>{rows} rows</summary>",
              summary_html(post._header(), table), "</details>"]
    if ctx.model_text:
        parts += ["<h2>Model</h2>", f'<pre class="model">{highlight(ctx.model_text)}</pre>']
    parts.append("</body></html>\n")
    return "\n".join(parts)


def check_report_path(path: str | Path) -> Path:
    """Refuse, before any sampling, a report path that is not `.html` or cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise AuguryError(f"cannot save a report to `{path}`: unknown file type `{path.suffix}`",
                          notes=["use a path ending in `.html`"])
    check_writable(path, (path.suffix.lower(),), "a report")
    return path


def write_report(post, path: str | Path, ctx: Optional[RunContext] = None, *,
                 rendered: Optional[Sequence[tuple[str, str, bytes]]] = None,
                 run_info: Sequence[tuple[str, Any]] = ()) -> Path:
    """Write the report of `post` to `path` (`.html`), atomically; returns the path.  `rendered`:
    the figures as `plots.render` makes them (default: drawn now)."""
    from .plots import render
    path = check_report_path(path)
    figs = [(caption, png) for _, caption, png in (render(post, ctx) if rendered is None else rendered)]
    text = report_html(post, ctx, figs, run_info)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
