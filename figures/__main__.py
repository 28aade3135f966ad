"""``python -m figures [--quick] [--out-dir DIR] [--only a,b] [--jobs N]``: make every figure.

Figures run in the order of ``figures.FIGURES`` (theory_vs_sim last: it reads the datasets
of figures 1-4).  With ``--jobs 1`` they run in this process, so figures 2-4 share the
compilations of their common static configurations; ``--jobs 2`` (the default on a
machine with >= 2 cores) runs two groups side by side in two processes (XLA compiles on
one core, so one group's compilations overlap the other's), then theory_vs_sim.  A summary
of the numbers quoted in the README is written to ``<out-dir>/data/summary.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import FIGURES

#: The two groups of --jobs 2: figures 2-4 share static configurations (one process).
GROUPS = (("transfer_phase", "fraction_inherited", "task_correlation", "digits"),
          ("scratch_phase", "dynamics", "distillation", "estimators"))


def run_inprocess(names, out_dir: str, quick: bool) -> None:
    for name in names:
        t0 = time.perf_counter()
        importlib.import_module(f"figures.{name}").main(out_dir=out_dir, quick=quick)
        print(f"[figures] {name} done in {time.perf_counter() - t0:.1f} s", flush=True)


def write_summary(out_dir: str) -> dict:
    import xarray as xr

    out = {}
    for name in FIGURES:
        p = Path(out_dir) / "data" / f"{name}.nc"
        mod = importlib.import_module(f"figures.{name}")
        if p.exists() and hasattr(mod, "summary"):
            out[name] = mod.summary(xr.load_dataset(p))
    path = Path(out_dir) / "data" / "summary.json"
    path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(f"[figures] wrote {path}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m figures", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny versions (as in the tests)")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--only", default="", help="comma-separated figure names (default: all)")
    ap.add_argument("--jobs", type=int, default=2 if (os.cpu_count() or 1) >= 2 else 1)
    ap.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(FIGURES)
    unknown = set(names) - set(FIGURES)
    if unknown:
        ap.error(f"unknown figure(s): {', '.join(sorted(unknown))}; known: {', '.join(FIGURES)}")
    t0 = time.perf_counter()
    if args.jobs > 1 and len(names) > 1:
        groups = [[n for n in g if n in names] for g in GROUPS]
        groups = [g for g in groups if g]
        rest = [n for n in names if not any(n in g for g in groups)]
        cmd = [sys.executable, "-m", "figures", "--out-dir", args.out_dir, "--jobs", "1"] + (["--quick"] if args.quick else [])
        procs = [subprocess.Popen(cmd + ["--only", ",".join(g), "--no-summary"]) for g in groups]
        codes = [p.wait() for p in procs]
        if any(codes):
            print(f"[figures] a group failed (exit codes {codes})", file=sys.stderr)
            return 1
        run_inprocess(rest, args.out_dir, args.quick)
    else:
        run_inprocess(names, args.out_dir, args.quick)
    if not args.no_summary:
        write_summary(args.out_dir)
    what = "group " + ",".join(names) if args.no_summary else "all"
    print(f"[figures] {what} done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
