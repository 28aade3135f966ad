"""Command line: ``python -m simtransfer run|sweep|check|falsify|bench|cache ...``.

Bad input (a config field out of range, an unknown field, a corrupt or foreign results
directory) prints one line naming the field or file and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from .config import ConfigError, Experiment, load_toml, parse_overrides, with_overrides
from .runs import distributed
from .runs.devices import use_cpu_devices
from .runs.distributed import DistributedError
from .runs.memory import TrialTooLarge
from .runs.result import ResultsError

__all__ = ["main"]


def _experiment(args: argparse.Namespace) -> Experiment:
    exp = load_toml(args.config) if args.config else Experiment()
    return with_overrides(exp, parse_overrides(args.set or []))


def _cmd_run(args: argparse.Namespace) -> int:
    from .runs.run import DivergenceWarning, run

    exp = _experiment(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergenceWarning)
        res = run(exp, seeds=args.seeds, key=args.key, batch=args.batch, out=args.out)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(res.summary().to_dict(), indent=1))
    else:
        print(repr(res))
        if args.out:
            print(f"saved to {args.out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from .config import parse_grid
    from .runs.io import save_dataset
    from .runs.sweep import sweep

    exp = _experiment(args)
    grid = parse_grid(args.grid or [])
    if not grid:
        raise ConfigError("--grid: give at least one field=values")
    ds = sweep(exp, grid, seeds=args.seeds, key=args.key, out=args.out, quiet=args.quiet,
               chunk_trials=args.chunk_trials)
    names = list(grid)
    head = "  ".join(f"{n:>12}" for n in names)
    print(f"{head}  {'err_transfer':>14}  {'err_scratch':>14}  {'gain':>16}  {'win':>5}")
    S = ds.sizes["seed"]
    for idx in np.ndindex(*(ds.sizes[n] for n in names)):
        pt = ds.isel(dict(zip(names, idx)))
        row = "  ".join(f"{pt[n].item()!s:>12}" for n in names)

        def ms(v):
            x = np.asarray(pt[v])
            return f"{x.mean():.4f}±{x.std(ddof=1) / np.sqrt(S) if S > 1 else float('nan'):.4f}"

        win = float(np.mean(np.asarray(pt["gain"]) > 0))
        print(f"{row}  {ms('err_transfer'):>14}  {ms('err_scratch'):>14}  {ms('gain'):>16}  {win:5.2f}")
    if args.out:
        path = os.path.join(args.out, "dataset.nc")
        save_dataset(ds, path)
        print(f"saved to {path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .experiments.bench import bench_all

    print(json.dumps(bench_all(_experiment(args), args.part, args.repeats, args.baseline), indent=1))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from .runs import cache

    print(json.dumps(cache.clear() if args.clear else cache.info(), indent=1))
    if args.clear:
        print("cleared", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simtransfer", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", metavar="FILE", help="TOML config file (default: the built-in defaults)")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a field, e.g. --set transfer.alpha=0.5 (repeatable)")  # fmt: skip

    r = sub.add_parser("run", help="run S paired seeds of one experiment and print the summary")
    common(r)
    r.add_argument("--seeds", type=int, default=32)
    r.add_argument("--key", type=int, default=0, help="root PRNG seed")
    r.add_argument("--batch", type=int, default=None, help="seeds per compiled call (memory bound)")
    r.add_argument("--out", metavar="DIR", help="save the Result here; a rerun with the same config loads it")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=_cmd_run)

    sw = sub.add_parser("sweep", help="run a grid of configurations (resumable) and print a table")
    common(sw)
    sw.add_argument("--grid", action="append", metavar="FIELD=VALUES",
                    help="n_source=10,40,160 | task.a=0.5:3:8 | task.a=log0.1:10:5 (repeatable)")  # fmt: skip
    sw.add_argument("--seeds", type=int, default=32)
    sw.add_argument("--key", type=int, default=0)
    sw.add_argument("--out", metavar="DIR", help="save chunks here; rerunning resumes")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.add_argument("--chunk-trials", type=int, default=256, help="trials per saved chunk")
    distributed.add_arguments(sw)
    sw.set_defaults(func=_cmd_sweep)

    sub.add_parser("check", help="measure the theory's predictions on a grid (see: check --help)", add_help=False)
    sub.add_parser("falsify", help="search a space for counterexamples to a hypothesis (see: falsify --help)",
                   add_help=False)  # fmt: skip
    b = sub.add_parser("bench", help="benchmark the trial and print JSON")
    common(b)
    b.add_argument("--repeats", type=int, default=2)
    b.add_argument("--part", choices=("all", "trial", "gram", "latency"), default="all",
                   help="trial: the default dense trial (seeds/s, GFLOP/s); gram: gram vs dense over d; "
                        "latency: compile and first-call times in new processes")  # fmt: skip
    b.add_argument("--baseline", metavar="DIR", default=None,
                   help="latency: also measure the checkout in DIR (e.g. a git worktree of an older commit), "
                        "alternately with this one, and report the ratios")  # fmt: skip
    b.set_defaults(func=_cmd_bench)

    c = sub.add_parser("cache", help="show or empty the cache (compiled programs, check results)")
    what = c.add_mutually_exclusive_group()
    what.add_argument("--info", action="store_true", help="where it is and what it holds (default)")
    what.add_argument("--clear", action="store_true", help="delete everything in it")
    c.set_defaults(func=_cmd_cache)
    return p


def main(argv: list[str] | None = None) -> int:
    use_cpu_devices()  # this process is ours: one XLA CPU device per core (runs.devices)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["check"], ["falsify"]):  # these have their own options (simtransfer.experiments.check, .falsify)
        if argv[0] == "check":
            from .experiments.check import main as sub_main
        else:
            from .experiments.falsify_report import main as sub_main

        try:
            return sub_main(argv[1:])
        except (ConfigError, ResultsError, DistributedError, TrialTooLarge) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted (rerun the same command to resume)", file=sys.stderr)
            return 130
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "seeds", 1) < 1:
            raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
        if hasattr(args, "coordinator"):
            distributed.initialize_from_args(args)
        return args.func(args)
    except (ConfigError, ResultsError, DistributedError, TrialTooLarge) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
