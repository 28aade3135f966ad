"""Command line: ``python -m simtransfer run|bench ...``.

Bad input (a config field out of range, an unknown field, a corrupt or foreign results
directory) prints one line naming the field or file and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from .config import ConfigError, Experiment, load_toml, parse_overrides, with_overrides
from .result import ResultsError

__all__ = ["main"]


def _experiment(args: argparse.Namespace) -> Experiment:
    exp = load_toml(args.config) if args.config else Experiment()
    return with_overrides(exp, parse_overrides(args.set or []))


def _cmd_run(args: argparse.Namespace) -> int:
    from .run import DivergenceWarning, run

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


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench

    exp = _experiment(args)
    print(json.dumps(bench(exp, repeats=args.repeats), indent=1))
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

    b = sub.add_parser("bench", help="benchmark the trial and print JSON")
    common(b)
    b.add_argument("--repeats", type=int, default=2)
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "seeds", 1) < 1:
            raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
        return args.func(args)
    except (ConfigError, ResultsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
