"""Entry points of the theory check: ``check``, ``calibrate_h4`` and the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from ...runs import distributed
from ...runs.devices import use_cpu_devices
from ...runs.io import atomic_write
from .cells import FAMILY_ROWS
from .cells import cell_summary as _cell
from .cells import hypotheses as _hypotheses  # check()'s argument of that name shadows it
from .grid import (
    BASE,
    CALIBRATION_BLOCKS,
    CALIBRATION_KEY,
    CHECK_BLOCKS,
    CHECK_KEY,
    DEFAULT_CACHE,
    HELDOUT_BLOCKS,
    HELDOUT_KEY,
    MEASURE_SEEDS,
    QUICK_BLOCKS,
    Block,
    run_blocks,
)
from .score import family_table, format_table, score


def _blocks_meta(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [{"name": b.name, "static": dict(b.static), "grids": [dict(g) for g in b.grids]} for b in blocks]


def _write_json(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, (json.dumps(obj, indent=1, default=float) + "\n").encode())


#: The grids ``check`` scores: name -> (blocks, default root seed).
GRIDS = {"check": (CHECK_BLOCKS, CHECK_KEY), "heldout": (HELDOUT_BLOCKS, HELDOUT_KEY)}


def check(
    seeds: int = 32,
    key: int | None = None,
    quick: bool = False,
    out: str | None = None,
    *,
    cache_dir: str | None = DEFAULT_CACHE,
    quiet: bool = True,
    verbose: bool = True,
    hypotheses: Any = None,
    grid: str = "check",
) -> dict[str, Any]:
    """Run the check grid (``grid``: ``"check"``, :data:`CHECK_BLOCKS` at root seed ``key``
    (default :data:`CHECK_KEY`), or ``"heldout"``, :data:`HELDOUT_BLOCKS` (default
    :data:`HELDOUT_KEY`); :data:`QUICK_BLOCKS` at <= 4 seeds if ``quick``),
    score every hypothesis (:func:`score`: over all, in-domain and out-of-domain cells) and
    every family (:func:`family_table`), print the tables and return them as a dict
    ``{"rows", "families", "cells", "meta"}``, also written as JSON to ``out`` if given.  Results are
    cached under ``cache_dir`` (None: no cache), so a rerun only re-scores.  ``hypotheses``:
    the user's own, ``{name: fn}`` or specs (``simtransfer.experiments.user_hypotheses``),
    scored as rows beside the built-ins; one that fails raises ``HypothesisError`` naming it
    and the cell: before any run (configuration-only ones), or after every cell is cached."""
    from ..predictions import grid_points, precheck
    from ..user_hypotheses import resolve_all
    from .grid import _base_experiment

    if grid not in GRIDS:
        raise ValueError(f"grid: must be one of {', '.join(GRIDS)}, got {grid!r}")
    extra = resolve_all(hypotheses)
    blocks, default_key = GRIDS[grid]
    key = default_key if key is None else key
    blocks = QUICK_BLOCKS if quick else blocks
    cfgs = ((_base_experiment(b.static).set(**v), v) for b in blocks for g in b.grids for v in grid_points(g))
    precheck(cfgs, extra)  # a configuration-only hypothesis that fails does so before any run
    seeds = min(seeds, 4) if quick else seeds
    t0 = time.perf_counter()
    records = run_blocks(blocks, seeds, key, cache_dir, quiet)
    cells = [_cell(r) for r in records]
    preds = [_hypotheses(r["cfg"], c, extra) for r, c in zip(records, cells)]
    rows = score(cells, preds)
    families = family_table(cells, preds, FAMILY_ROWS)
    for c, p in zip(cells, preds):
        c["pred"] = {n: {"sign": int(v.sign), "err_transfer": float(v.pred_err_transfer), "err_scratch":
                         float(v.pred_err_scratch), "gain": float(v.pred_gain), "in_domain": bool(v.in_domain),
                         "outside": list(v.outside)} for n, (_, v) in p.items()}  # fmt: skip
    seconds = time.perf_counter() - t0
    import theory

    table = {
        "rows": rows,
        "families": families,
        "cells": cells,
        "meta": {
            "grid": "quick" if quick else grid, "seeds": seeds, "key": key, "quick": quick,
            "seconds": round(seconds, 1),
            "significance": "|mean gain| > 2 s.e. (paired over seeds, exact conditional errors)",
            "balanced_accuracy": "mean over the true classes (better, worse) present of the fraction predicted right",
            "plug_ins": f"lambda = median over the first {min(MEASURE_SEEDS, seeds)} seeds of theory.lambda_measured "
                        "(inherited filters at initialisation vs the scratch model); r_zeroshot = "
                        "theory.snr_of_error(mean zero-shot error over all seeds); G (H3) = upstream signal "
                        "on mu_T / scratch-learned signal on mu_T (coefficient curves)",
            "h4_constants": theory.load_h4().get("kappa"),
            "h5_constants": {k: theory.load_h5()[k] for k in ("law", "kappa")},
            "bootstrap": "95% percentile interval of the balanced accuracy over 2000 resamples of the "
                         "significant cells",
            "in_domain": "per hypothesis: theory.Prediction.in_domain (docs/theory.md section 5)",
            "base": BASE, "blocks": _blocks_meta(blocks),
        },
    }  # fmt: skip
    if out is not None:
        _write_json(out, table)
    if verbose:
        print(format_table(rows, families))
        print(f"({len(cells)} cells x {seeds} seeds, {seconds:.0f} s{'; table written to ' + out if out else ''})")
    return table


def calibrate_h4(
    seeds: int = 32, key: int = CALIBRATION_KEY, out: str | None = None, *, cache_dir: str | None = DEFAULT_CACHE,
    quiet: bool = True, verbose: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Fit H4's kappa constants (:func:`theory.fit_kappa`) on :data:`CALIBRATION_BLOCKS` (never on
    the check grid) and write them, with the fit's diagnostics, to ``out`` (default
    ``theory/h4.json`` in the installed theory package).

    Each cell contributes its measured transfer SNR in calibrated units, read relative to the
    measured scratch SNR (``r_transfer * r_T / r_scratch``, so the scratch law's own error does
    not enter kappa), against H4's configuration-only lambda and c_z r_inh.
    """
    import theory

    t0 = time.perf_counter()
    records = run_blocks(CALIBRATION_BLOCKS, seeds, key, cache_dir, quiet)
    cells = [_cell(r) for r in records]
    # cells with inherited filters and a scratch SNR far enough from 0 to divide by
    use = [i for i, c in enumerate(cells) if c["r_scratch"] >= 0.05 and theory.setting_of(records[i]["cfg"]).k > 0]
    cfgs = [records[i]["cfg"] for i in use]
    lam = np.array([theory.lambda_h4(c) for c in cfgs])
    rz = np.array([theory.inh_factor_h4(c) * theory.r_inh(c) for c in cfgs])
    rtr = np.array([cells[i]["r_transfer"] * theory.r_target(records[i]["cfg"]) / cells[i]["r_scratch"] for i in use])
    fit = theory.fit_kappa(cfgs, lam, rz, rtr)
    lr = np.log(lam / np.array([cells[i]["lam_measured"] for i in use]))
    rz_meas = np.array([cells[i]["r_zeroshot"] for i in use])
    result = {
        "kappa": {"c": fit["c"], "p": fit["p"]},
        "law": "kappa = 1 + c * k / (m - k + 1) * lambda_h4^p (theory.kappa_h4); every other input of H4 is derived",
        "fit": fit,
        "checks": {
            "lambda_h4_over_measured_median": float(np.exp(np.median(lr))),
            "lambda_h4_log_rmse": float(np.sqrt(np.mean(lr**2))),
            "zeroshot_rmse_snr": float(np.sqrt(np.mean((rz - rz_meas) ** 2))),
        },
        "command": "python -m simtransfer.experiments.check --calibrate-h4 --out theory/h4.json",
        "seeds": seeds, "key": key, "cells": len(cfgs), "seconds": round(time.perf_counter() - t0, 1),
        "base": BASE, "blocks": _blocks_meta(CALIBRATION_BLOCKS),
    }  # fmt: skip
    if out is None:
        from importlib import resources

        out = str(resources.files("theory").joinpath(theory.H4_PATH))
    _write_json(out, result)
    if verbose:
        print(json.dumps({k: result[k] for k in ("kappa", "fit", "checks", "cells", "seconds")}, indent=1))
        print(f"written to {out}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simtransfer.experiments.check`` (and ``python -m simtransfer check``)."""
    use_cpu_devices()
    p = argparse.ArgumentParser(prog="python -m simtransfer check",
                                description="how well does each transfer hypothesis predict the sign of the gain?")
    p.add_argument("--seeds", type=int, default=32)
    p.add_argument("--key", type=int, default=None,
                   help=f"root seed (default {CHECK_KEY}; {HELDOUT_KEY} with --grid heldout; {CALIBRATION_KEY} "
                        "with --calibrate-h4)")  # fmt: skip
    p.add_argument("--grid", choices=tuple(GRIDS), default="check",
                   help="the check grid (149 cells) or the held-out grid (78 cells, laid out after H5 was frozen)")
    p.add_argument("--quick", action="store_true", help="a tiny grid at <= 4 seeds (seconds; for tests)")
    p.add_argument("--out", metavar="FILE", help="write the table (or, with --calibrate-h4, the constants) as JSON")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE,
                   help="results cache (default: check/ under SIMTRANSFER_CACHE_DIR or the user cache directory)")
    p.add_argument("--no-cache", action="store_true", help="recompute everything, cache nothing")
    p.add_argument("--calibrate-h4", action="store_true", help="fit H4's kappa on the calibration grid")
    p.add_argument("--progress", action="store_true", help="progress bars")
    distributed.add_arguments(p)
    p.add_argument("--hypothesis", action="append", metavar="[NAME=]MODULE:FN",
                   help="also score your own hypothesis: package.module:function or file.py:function (repeatable)")
    args = p.parse_args(argv)
    distributed.initialize_from_args(args)
    if args.seeds < 2:
        print(f"error: --seeds: need >= 2 for a standard error, got {args.seeds}", file=sys.stderr)
        return 2
    cache = None if args.no_cache else args.cache_dir
    kw = dict(cache_dir=cache, quiet=not args.progress)
    if args.calibrate_h4:
        calibrate_h4(args.seeds, CALIBRATION_KEY if args.key is None else args.key, args.out, **kw)
    else:
        check(args.seeds, args.key, args.quick, args.out, **kw, hypotheses=args.hypothesis, grid=args.grid)
    return 0
