"""`augury sbc FILE`: simulation-based calibration of a method on a model (augury/calibration.py).

Prints the table (parameter, p-value, verdict) on stdout and the failures, loudly, on stderr;
exits 0 whether or not the ranks pass (as `augury run` with failing diagnostics), 1 for a user
error, 130 when interrupted (the runs done are printed and saved, marked partial).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    """The `sbc` subcommand's arguments."""
    s = sub.add_parser("sbc", help="simulation-based calibration: run a method on data drawn from the prior and "
                                   "test that the true values' ranks are uniform (docs/sbc.md)")
    s.add_argument("file")
    s.add_argument("--method", default=None, help="the method to check (default: the model's `infer`, else nuts)")
    s.add_argument("--runs", type=int, default=100, help="prior draws, one run each (default 100)")
    s.add_argument("--draws", type=int, default=99, metavar="L",
                   help="posterior draws each true value is ranked among, after thinning (default 99)")
    s.add_argument("--data", action="append", default=[], metavar="SOURCE",
                   help="what the prior does not draw (sizes, covariates, fixed inputs): as for `augury run`; "
                        "default: FILE's stem with .json or .npz next to it, if present")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a method setting (samples=500) or a const override (repeatable)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--alpha", type=float, default=0.01,
                   help="family-wise level of the uniformity tests, Bonferroni-corrected (default 0.01)")
    s.add_argument("--lets", action="store_true", help="also rank the lets that read parameters")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="write DIR/ranks.npz and DIR/ranks.png (the rank histograms; needs matplotlib)")
    s.add_argument("--precision", default="auto", choices=["auto", "float32", "float64"])
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--allow-python", action="store_true",
                   help="let the model's python(...), torch(...) and jax(...) import paths resolve")


def _out_dir(path: str) -> Path:
    """The output folder, made if missing (its parent must exist), and matplotlib: before any run."""
    from augury.errors import AuguryError
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise AuguryError(f"--out `{path}` is a file; SBC writes a folder (ranks.npz, ranks.png)")
    if not d.exists():
        if not d.parent.is_dir():
            raise AuguryError(f"--out `{path}`: no folder `{d.parent}` to make it in")
        d.mkdir()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise AuguryError("the rank histograms need matplotlib: `pip install augury[plot]`") from None
    return d


def run(args, parser: argparse.ArgumentParser) -> int:
    """The command: compile, draw, run, print; returns the exit code."""
    import augury
    from augury.cli import _default_data, _model_path, _pairs
    from augury.dsl.ast import ConstDecl
    from augury.dsl.parser import parse
    from augury.model import _read_source
    sets = _pairs(args.set, parser)
    program = parse(*_read_source(_model_path(args.file)))
    declared = {st.name for st in program.statements if isinstance(st, ConstDecl)}
    consts = {k: v for k, v in sets.items() if k in declared}
    settings = {k: v for k, v in sets.items() if k not in consts}
    model = augury.compile(_model_path(args.file), consts=consts or None, allow_python=args.allow_python)
    out = _out_dir(args.out) if args.out else None
    data = args.data or _default_data(args.file)
    if not args.data and data:
        print(f"using data from {data[0]} (what the prior does not draw)", file=sys.stderr)
    result = augury.sbc(model, method=args.method, runs=args.runs, data=data or None, seed=args.seed,
                        draws=args.draws, alpha=args.alpha, lets=args.lets, precision=args.precision,
                        progress=not args.no_progress, **settings)
    print(result.summary())
    sys.stdout.flush()
    if out is not None:
        result.save(out / "ranks.npz")
        result.plot(out / "ranks.png")
        print(f"wrote {out / 'ranks.npz'} and {out / 'ranks.png'}" + (" (partial: interrupted)" if result.partial
                                                                    else ""), file=sys.stderr)
    for w in result.loud_warnings():  # last, where a user sees them
        print(w if w.startswith("  ") else "warning: " + w, file=sys.stderr)
    return 130 if result.partial else 0
