"""The `augury` command line: check, graph, run, sbc.

Exit codes: 0 success, 1 a user error (the diagnostic on stderr, no
traceback), 2 bad command-line usage, 3 an internal error (a bug: a one-line
request to report it; the traceback only with `--debug`), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from augury.errors import AuguryDataError, AuguryError

_EXIT_AFTER = 3.0  # seconds a Ctrl-C waits for the run to reach a point where it can stop keeping its draws


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="augury", description="Compile and run Augury model files (.aug).")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    p.add_argument("--version", action="version", version=_version_line())
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="parse and check a model; list the methods that apply and why others do not")
    c.add_argument("file")
    c.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a const")

    g = sub.add_parser("graph", help="render the model graph (.svg, .png, .dot)")
    g.add_argument("file")
    g.add_argument("-o", "--out", default=None, help="output file (default: FILE with .dot; '-' prints DOT)")

    r = sub.add_parser("run", help="bind data and run an inference method")
    r.add_argument("file")
    r.add_argument("--data", action="append", default=[], metavar="SOURCE",
                   help="data.npz, data.json or NAME=file.npy (repeatable; later wins). Default: FILE's "
                        "stem with .json or .npz next to it, if present")
    r.add_argument("--method", default=None, help="inference method (default: the model's `infer`, else nuts)")
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a method setting (samples=2000) or a const override (repeatable)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default=None, help="save the posterior (.nc or .npz); a diffusion method saves "
                                                "FILE_posterior.npz in the current folder unless told")
    r.add_argument("--plot", default=None, metavar="PNG",
                   help="save a figure; a diffusion method writes FILE.png (measurement, draws, mean, sd) "
                        "in the current folder unless told")
    r.add_argument("--plots", default=None, metavar="DIR",
                   help="write every figure of the run as PNGs in DIR (made if missing; docs/plots.md)")
    r.add_argument("--report", default=None, metavar="HTML",
                   help="write one self-contained HTML report: model, settings, summary, diagnostics, "
                        "warnings and figures (written for an interrupted run too, marked partial)")
    r.add_argument("--no-files", action="store_true", help="write no default files (posterior, figure)")
    r.add_argument("--precision", default="auto", choices=["auto", "float32", "float64"],
                   help="auto (default): float64 for general, chain and mixture methods, float32 where a "
                        "network prior runs")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--vars", action="append", default=[], metavar="NAME[,NAME...]",
                   help="the variables in the printed summary (repeatable; default: every one)")
    r.add_argument("--all", action="store_true",
                   help=f"print every row of the summary (default: the first {_summary_rows()})")
    r.add_argument("--allow-python", action="store_true",
                   help="let the model's python(...), torch(...) and jax(...) import paths resolve "
                        "(only for model files you trust)")
    r.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="write the run's state to PATH (.npz) as it goes and on Ctrl-C (docs/samplers.md)")
    r.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="write the checkpoint every N iterations (steps, sweeps; default: at most once a minute)")
    r.add_argument("--resume", default=None, metavar="PATH",
                   help="continue the run checkpointed in PATH (same model, data, method, settings and seed)")
    from augury.cli_sbc import add_parser as add_sbc
    add_sbc(sub)  # `augury sbc`: simulation-based calibration (augury/cli_sbc.py)
    return p


def _version_line() -> str:
    import platform

    import augury
    return f"augury {augury.__version__} (Python {platform.python_version()})"


def _summary_rows() -> int:
    from augury.runtime.posterior import SUMMARY_ROWS
    return SUMMARY_ROWS


def _summary_vars(args, model) -> list[str] | None:
    """The names `--vars` asked for, checked against the model before anything runs."""
    names = [n.strip() for v in args.vars for n in v.split(",") if n.strip()]
    if not names:
        return None
    known = list(model.structure.params) + list(model.structure.lets)
    for n in names:
        if n not in known:
            from augury.errors import did_you_mean
            note = did_you_mean(n, known)
            raise AuguryError(f"--vars: `{n}` is not a param or let of the model",
                              notes=[note] if note else [f"params and lets: {', '.join(known)}"])
    return names


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: Sequence[str], parser: argparse.ArgumentParser) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            parser.error(f"--set takes NAME=VALUE, not `{item}`")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def _noted(err: AuguryDataError, note: str) -> AuguryDataError:
    """The same error with one more note on its first diagnostic."""
    from dataclasses import replace
    first = err.diagnostics[0]
    return AuguryDataError(first.message, diagnostics=[replace(first, notes=first.notes + (note,)),
                                                       *err.diagnostics[1:]])


def _default_data(file: str) -> list[str]:
    stem = Path(file).with_suffix("")
    for suffix in (".json", ".npz"):
        cand = stem.with_suffix(suffix)
        if cand.is_file():
            return [str(cand)]
    return []


def _run(args, parser) -> int:
    import augury
    from augury.dsl.signatures import METHODS

    sets = _pairs(args.set, parser)
    from augury.dsl.ast import ConstDecl
    from augury.dsl.parser import parse
    from augury.model import _read_source
    # compiled with the consts among them, as `augury check --set` does: checked (K=2.5 for an int K
    # is an error naming K), and the `infer` line's settings read them (never its defaults' clash)
    program = parse(*_read_source(_model_path(args.file)))
    declared = {st.name for st in program.statements if isinstance(st, ConstDecl)}
    consts = {k: v for k, v in sets.items() if k in declared}
    settings = {k: v for k, v in sets.items() if k not in consts}
    model = augury.compile(_model_path(args.file), consts=consts or None, allow_python=args.allow_python)
    method = model.resolve_method(args.method)  # does it apply? before judging its settings
    if method in METHODS:
        unknown = [k for k in settings if k not in METHODS[method].params]
        if unknown:
            from augury.errors import did_you_mean
            names = list(METHODS[method].params) + list(model.structure.consts)
            note = did_you_mean(unknown[0], names)
            raise AuguryError(f"`{unknown[0]}` is neither a setting of `{method}` nor a const of the model",
                              notes=[note] if note else [f"settings of `{method}`: {', '.join(METHODS[method].params)}"])
    inverse = method in METHODS and METHODS[method].family == "diffusion"
    stem = Path(args.file).stem
    if inverse and not args.no_files:
        args.out = args.out or f"{stem}_posterior.npz"
        args.plot = args.plot or f"{stem}.png"
    _check_outputs(args)  # before sampling, not after
    shown = _summary_vars(args, model)
    data = args.data or _default_data(args.file)
    if not args.data and data:
        print(f"using data from {data[0]}", file=sys.stderr)
    try:
        post = model.sample(data=data or None, method=method, seed=args.seed, progress=not args.no_progress,
                            precision=args.precision, checkpoint=args.checkpoint,
                            checkpoint_every=args.checkpoint_every, resume=args.resume, **settings)
    except AuguryDataError as err:
        if data:
            raise
        raise _noted(err, f"no data file was given, and there is no {stem}.json or {stem}.npz next to the "
                          f"model: give one with `--data FILE.json`") from None
    missing = [n for n in shown or [] if n not in post.names]
    print(post.describe([n for n in shown if n in post.names] if shown else None,
                        max_rows=None if args.all else _summary_rows()))
    if missing:
        print(f"note: `{method}` keeps no draws of {', '.join(f'`{n}`' for n in missing)}", file=sys.stderr)
    if args.out:
        post.save(args.out)
        print(f"saved posterior to {args.out}" + (" (partial: interrupted)" if post.interrupted else ""),
              file=sys.stderr)
    if args.plot:
        _figure(model, post, data, args.plot, inverse)
        print(f"wrote {args.plot}", file=sys.stderr)
    _write_pictures(args, model, post, data)
    sys.stdout.flush()
    # last, where a user sees them
    for w in post.warnings or []:
        print(("warning: " + w) if ": warning:" not in w else w, file=sys.stderr)
    return 130 if post.interrupted else 0


def _check_outputs(args) -> None:
    """The posterior file and the figure can be written (user errors, before any sampling)."""
    from augury.runtime.posterior import check_writable
    if args.out:
        check_writable(args.out)
    if args.plot:
        check_writable(args.plot, _figure_suffixes(), "a figure")
    if args.plots or args.report:
        _figure_suffixes()  # matplotlib is there
    if args.plots:
        from augury.runtime.plots import check_plots_dir
        check_plots_dir(args.plots)
    if args.report:
        from augury.runtime.report import check_report_path
        check_report_path(args.report)


def _write_pictures(args, model, post, data) -> None:
    """`--plots DIR` and `--report FILE` after the run (an interrupted one too: marked partial);
    the truth is `FILE_truth.json` next to the model, where there is one."""
    if not (args.plots or args.report):
        return
    from augury.runtime.plots import render, write_plots
    from augury.runtime.plots_context import run_context, truth_beside
    ctx = run_context(model, data or None, post, truth_beside(args.file))
    rendered = render(post, ctx)  # drawn once for both
    if args.plots:
        paths = write_plots(post, args.plots, ctx, rendered)
        print(f"wrote {len(paths)} figures to {args.plots}", file=sys.stderr)
    if args.report:
        from augury.runtime.report import write_report
        write_report(post, args.report, ctx, rendered=rendered, run_info=[("seed", args.seed)])
        print(f"wrote {args.report}" + (" (partial: interrupted)" if post.interrupted else ""), file=sys.stderr)


def _figure_suffixes() -> tuple[str, ...]:
    """The file types matplotlib can write (.png, .svg, .pdf, ...)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise AuguryError("plotting needs matplotlib: `pip install augury[plot]`") from None
    return tuple(sorted("." + k for k in FigureCanvasBase.get_supported_filetypes()))


def _figure(model, post, data, path: str, inverse: bool) -> None:
    """The inverse problem's grid (measurement with its hidden pixels, truth, mean, sd, draws) or
    the posterior's plot."""
    if inverse:
        from augury.compiler.inverse import recognize
        from augury.runtime.figures import image_grid
        from augury.runtime.plots_context import run_context, truth_beside
        ctx = run_context(model, data or None, post, truth_beside(model.program.file))
        x = recognize(model.structure).param
        image_grid(post, x, ctx.measurements.get(x), path, hidden=ctx.hidden.get(x), truth=ctx.truth.get(x))
    else:
        post.plot(path=path)


def _model_path(file: str) -> Path:
    """The CLI's argument is always a path (never model text)."""
    p = Path(file)
    if not p.is_file():
        raise AuguryError(f"no model file `{file}`" + ("" if not p.exists() else " (it is a folder)"))
    return p


def _version() -> str:
    from augury import __version__
    return __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            import augury
            model = augury.compile(_model_path(args.file), consts=_pairs(args.set, parser))
            print(model.check_report())
            return 0
        if args.command == "graph":
            import augury
            model = augury.compile(_model_path(args.file))
            if args.out == "-":
                sys.stdout.write(model.to_dot())
                return 0
            out = args.out or str(Path(args.file).with_suffix(".dot"))
            model.render(out)
            print(f"wrote {out}", file=sys.stderr)
            return 0
        from augury.runtime import interrupts
        # Ctrl-C: the run stops between compiled blocks, keeps what is done and exits 130; while
        # nothing can be kept (binding, compiling), it exits 130 within a few seconds
        with interrupts.deferred(exit_after=_EXIT_AFTER):
            if args.command == "sbc":  # Ctrl-C keeps the runs done (exit 130)
                from augury import cli_sbc
                return cli_sbc.run(args, parser)
            return _run(args, parser)
    except AuguryError as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `augury check FILE | head`: the reader left; nothing is wrong
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug, not a user error
        if args.debug:
            import traceback
            traceback.print_exc()
        print(f"internal error in Augury {_version()} while running `{args.command} {args.file}`: "
              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        print("this is a bug in Augury: please report it with the model file and this message "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
