"""The cost of float64: every posteriordb port under NUTS in float32 and in float64.

    python benchmarks/precision_cost.py                 # all 13 ports (several minutes)
    python benchmarks/precision_cost.py --only arK-arK eight_schools-eight_schools_noncentered

Each port runs with its conformance settings (tests/conformance/test_posteriordb.py) and seed 0,
once per precision to compile and sample (`first s`), then again with another seed, which
reuses the compiled program (`again s`: the sampling cost alone).  It prints, per port, both
times in both precisions, their ratio (float64 / float32), and what each run got right: the
worst |mean − reference| in reference sds, the divergences and the smallest bulk ESS.
The posteriordb folder is read in place from ../shared/posteriordb (or $AUGURY_POSTERIORDB).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import test_posteriordb as conf  # noqa: E402  (the ports, their settings and the reference reader)


def run(name: str, settings: dict, precision: str) -> dict:
    import augury
    model = augury.compile(str(conf.EXAMPLES / f"{name}.aug"))
    data = str(conf.PDB / f"{name}.data.json")
    t0 = time.perf_counter()
    model.sample(data=data, seed=0, precision=precision, **settings)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    post = model.sample(data=data, seed=1, precision=precision, **settings)
    again = time.perf_counter() - t0
    ref = conf.load_reference(name)
    worst, min_ess = 0.0, float("inf")
    for key, r in ref.items():
        var, idx = conf.parse_key(key)
        x = post.draws[var].astype("float64")[(slice(None), slice(None)) + idx]
        worst = max(worst, abs(float(x.mean()) - r["mean"]) / r["sd"])
        min_ess = min(min_ess, conf.ess_bulk(x))
    return dict(first=first, again=again, err=worst, ess=min_ess,
                div=int(post.sample_stats["diverging"].sum()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=None)
    args = ap.parse_args(argv)
    cases = {**conf.CASES, **conf.SLOW_CASES}
    names = args.only or list(cases)
    rows = []
    for name in names:
        r32 = run(name, cases[name], "float32")
        r64 = run(name, cases[name], "float64")
        rows.append((name, r32, r64))
        print(f"{name}: f32 {r32}  f64 {r64}", file=sys.stderr, flush=True)
    print("| port | first s f32 / f64 | again s f32 / f64 | ratio (again) | mean err f32 / f64 | "
          "divergences f32 / f64 | min ESS f32 / f64 |")
    print("|---|---|---|---|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a['first']:.1f} / {b['first']:.1f} | {a['again']:.2f} / {b['again']:.2f} | "
              f"{b['again'] / a['again']:.2f} | {a['err']:.3f} / {b['err']:.3f} | {a['div']} / {b['div']} | "
              f"{a['ess']:.0f} / {b['ess']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
