"""The command line and the table of ``simtransfer falsify`` (:mod:`.falsify`).

Command line::

    python -m simtransfer falsify --hypothesis H4|module:fn|file.py:fn --space SPACE.toml
        [--budget 64] [--seeds 16] [--out DIR] [--key 0] [--confirm-key K] [--round-size 16]
        [--threshold X] [--z 2] [--include-out-of-domain] [--quick] [--sampler-seed 0] [--quiet]
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Mapping, Sequence

__all__ = ["format_table", "main"]


def _short(field: str) -> str:
    alias = {"upstream.eta": "eta_up", "downstream.eta": "eta_down", "upstream.steps": "T_up",
             "downstream.steps": "T_down", "n_source": "n_S", "n_target": "n_T", "model.m_up": "m_up"}  # fmt: skip
    return alias.get(field, field.split(".")[-1])


def _v(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _num(x: Any, spec: str) -> str:
    return "nan" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def format_table(table: Mapping[str, Any], commands: bool = True) -> str:
    """The ranked table of confirmed counterexamples as text (and their commands)."""
    m = table["meta"]
    rows = table["rows"]
    head = (f"falsify {m['hypothesis']}: {table['searched']} configurations searched at {m['seeds']} seeds "
            f"(key {m['key']}), {table['candidates']} candidates (w > {m['z']:g}), {len(rows)} confirmed at "
            f"{m['seeds']} fresh seeds (key {m['confirm_key']})")  # fmt: skip
    if table.get("skipped"):
        head += f"; {table['skipped']} draws skipped (out of domain or invalid)"
    ood = sum(1 for e in table.get("evaluated", ()) if e["wrongness"] is None and not e["in_domain"])
    if ood:  # plug-ins: the domain is known only once the measured quantities are
        head += f"; {ood} evaluated configurations out of domain, not scored"
    lines = [head]
    if not rows:
        lines.append("no confirmed counterexample")
        return "\n".join(lines)
    lines.append(
        f"{'#':>3} {'gain ± s.e.':>15s} {'predicted':>11s} {'w':>5s} {'domain':>6s}  config (diff from the base)"
    )
    for i, r in enumerate(rows, 1):
        diff = ", ".join(f"{_short(k)}={_v(v)}" for k, v in r["diff"].items()) or "(the base)"
        pred = f"{r['pred_sign']:+d}" + (f" ({r['pred_gain']:+.3f})" if r["pred_gain"] is not None else "")
        dom = "in" if r["in_domain"] else "OUT"
        gain = f"{_num(r['gain'], '+.4f')}±{_num(r['se'], '.4f')}"
        lines.append(f"{i:>3} {gain:>15s} {pred:>11s} {_num(r['w_confirm'], '.1f'):>5s} {dom:>6s}  {diff}")
        if not r["in_domain"] and r["outside"]:
            lines.append(f"      outside the domain: {', '.join(r['outside'])}")
    if commands:
        lines.append("reproduce (the confirmation run):")
        lines += [f"  #{i}: {r['command']}" for i, r in enumerate(rows, 1)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simtransfer falsify`` (one-line errors come from ``simtransfer.cli``)."""
    from ..runs import distributed
    from .falsify import falsify

    desc = "search a space of configurations for counterexamples to a hypothesis"
    p = argparse.ArgumentParser(prog="python -m simtransfer falsify", description=desc)
    p.add_argument("--hypothesis", required=True, metavar="H",
                   help="a built-in name (H1, H4, H4-plugin ...), module:function or file.py:function")  # fmt: skip
    p.add_argument("--space", metavar="SPACE.toml", help="the searched fields ([base] and [space] tables)")
    p.add_argument("--budget", type=int, default=64, help="configurations evaluated by the search")
    p.add_argument("--seeds", type=int, default=16, help="paired seeds per configuration (search and confirmation)")
    p.add_argument(
        "--out", metavar="DIR", help="save every round here; rerunning resumes; table in DIR/counterexamples.json"
    )
    p.add_argument("--key", type=int, default=0, help="root seed of the search")
    p.add_argument(
        "--confirm-key", type=int, default=None, help="root seed of the confirmation (default key + 1000003)"
    )
    p.add_argument("--round-size", type=int, default=16, help="configurations per round (one batched evaluation)")
    p.add_argument("--threshold", type=float, default=None,
                   help="also count a predicted gain off by more than this (significantly) as wrong")  # fmt: skip
    p.add_argument("--z", type=float, default=2.0, help="significance: w > z standard errors (default 2)")
    p.add_argument(
        "--include-out-of-domain",
        action="store_true",
        default=None,
        help="also search where the hypothesis is out of its domain (labelled; implied by --quick)",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny shapes and short training (tests); the tiny space if no --space"
    )
    p.add_argument("--sampler-seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    distributed.add_arguments(p)
    args = p.parse_args(argv)
    distributed.initialize_from_args(args)
    table = falsify(args.hypothesis, args.space, args.budget, args.seeds, args.out, key=args.key,
                    confirm_key=args.confirm_key, round_size=args.round_size, threshold=args.threshold, z=args.z,
                    include_out_of_domain=args.include_out_of_domain, quick=args.quick,
                    sampler_seed=args.sampler_seed, quiet=args.quiet)  # fmt: skip
    print(format_table(table))
    where = f"; table written to {args.out}/counterexamples.json" if args.out else ""
    print(f"({table['meta']['seconds']:.0f} s{where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
