"""Measure the families of configurations the theory is extended to (docs/theory.md section 6).

    .venv/bin/python scripts/calibrate_families.py [--seeds 32] [--out theory/families.json]

Runs, with the public simulator API and the exact ``gram`` backend, a calibration grid that
spans the new families: scratch runs (alpha = 0) over P, the label-flip rate p, sigma_0, d
(up to 64000), d/n small, eta and T separately and the width m; transfer runs over m, m_up,
freeze_inherited, the policies, rescale, P, p, sigma_0, d and eta/T.  Root seed
:data:`KEY` (the check grid uses 20250, H4's old calibration 777, the scratch calibration
0); its cells are chosen off the check grid's values.  Writes one seed-mean record per cell
(errors, gain and its paired s.e.) to ``--out``; ``scripts/fit_theory.py`` fits the few
constants that are not derived from those records.  Sweeps are cached under
``~/.cache/simtransfer/families`` (a rerun only assembles).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np

from simtransfer import Experiment

try:  # the public function after the package restructuring
    from simtransfer import sweep

    assert callable(sweep)
except (ImportError, AssertionError):  # before it
    from simtransfer.sweep import sweep

KEY = 31337
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "simtransfer", "families")
BASE = {
    "backend": "gram", "eval.n_test": 0, "eval.mc_draws": 4096, "eval.curve_draws": 16,
    "upstream.steps": 300, "downstream.steps": 300, "upstream.log_every": 300, "downstream.log_every": 300,
}  # fmt: skip
#: Scratch-only runs: alpha = 0 (transfer = scratch), a trivial upstream stage.
SCRATCH = {"transfer.alpha": 0.0, "upstream.steps": 1, "upstream.log_every": 1, "n_source": 2, "task.a": 0.0}


def b_of_snr2(snr2: float, d: int, n: int, sigma_p: float = 1.0) -> float:
    """||mu_T|| = b_T (a = 0) with SNR2 = n ||mu||^4 / (sigma_p^4 d) = snr2."""
    return round((snr2 * sigma_p**4 * d / n) ** 0.25, 4)


def _snr_grid(d: int, n: int, scale: float = 1.0, values=(0.03, 0.1, 0.3, 1.0, 3.0)) -> list[float]:
    return [b_of_snr2(v * scale, d, n) for v in values]


def blocks() -> list[tuple[str, dict, list[dict]]]:
    """(name, static overrides, list of traced grids) of the calibration grid."""
    sc = []
    sc.append(("sc-base", {**SCRATCH}, [
        {"task.b_T": _snr_grid(1000, 20), "task.label_flip": [0.1, 0.2]},
        {"task.b_T": _snr_grid(1000, 20), "model.sigma_0": [0.003, 0.03]},
    ]))
    sc.append(("sc-P3", {**SCRATCH, "task.P": 3}, [{"task.b_T": _snr_grid(1000, 20, 4.0)}]))
    sc.append(("sc-P4", {**SCRATCH, "task.P": 4}, [{"task.b_T": _snr_grid(1000, 20, 9.0)}]))
    sc.append(("sc-d8000", {**SCRATCH, "task.d": 8000}, [
        {"task.b_T": _snr_grid(8000, 20), "model.sigma_0": [0.003, 0.01]},
    ]))
    sc.append(("sc-d64000", {**SCRATCH, "task.d": 64000}, [{"task.b_T": _snr_grid(64000, 20)}]))
    sc.append(("sc-d250n80", {**SCRATCH, "task.d": 250, "n_target": 80}, [{"task.b_T": _snr_grid(250, 80)}]))
    sc.append(("sc-T1200", {**SCRATCH, "downstream.steps": 1200, "downstream.log_every": 1200}, [
        {"task.b_T": _snr_grid(1000, 20), "downstream.eta": [0.125, 0.5]},
    ]))
    sc.append(("sc-m20", {**SCRATCH, "model.m": 20}, [{"task.b_T": _snr_grid(1000, 20)}]))
    sc.append(("sc-m5", {**SCRATCH, "model.m": 5}, [{"task.b_T": _snr_grid(1000, 20)}]))
    a3, al3 = [0.42, 0.62, 0.85], [0.3, 0.6, 1.0]
    tr = []
    tr.append(("tr-base", {"n_source": 160}, [
        {"task.a": a3, "task.b_T": [1.7], "transfer.alpha": al3},
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": [0.6, 1.0], "transfer.rescale": [0.5, 2.0]},
        {"task.a": [0.62, 0.85], "task.b_T": [1.7], "transfer.alpha": [0.3, 1.0], "task.label_flip": [0.1]},
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": [0.6, 1.0], "model.sigma_0": [0.003, 0.03]},
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": [0.3, 1.0], "task.s": [-1.0, -0.5, 0.0]},
        {"task.a": [0.0], "task.b_T": [1.7], "transfer.alpha": [0.6, 1.0]},
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": [0.6, 1.0], "upstream.eta": [0.15, 1.6],
         "downstream.eta": [0.1, 1.6]},
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": [0.6, 1.0], "task.sigma_p": [0.75, 1.3]},
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": [0.6, 1.0], "task.b_S": [0.0, 2.5]},
    ]))
    tr.append(("tr-nS40", {"n_source": 40}, [{"task.a": [0.6, 1.1], "task.b_T": [1.9], "transfer.alpha": al3}]))
    tr.append(("tr-nS640", {"n_source": 640}, [
        {"task.a": [0.3, 0.45, 0.62], "task.b_T": [1.3, 2.3], "transfer.alpha": al3}]))
    tr.append(("tr-Tup1000", {"n_source": 160, "upstream.steps": 1000, "upstream.log_every": 1000}, [
        {"task.a": [0.42, 0.62], "task.b_T": [1.7], "transfer.alpha": [0.3, 1.0], "upstream.eta": [0.1, 0.5]}]))
    tr.append(("tr-m20", {"n_source": 160, "model.m": 20}, [{"task.a": a3, "task.b_T": [1.7], "transfer.alpha": al3}]))
    tr.append(("tr-m5", {"n_source": 160, "model.m": 5}, [
        {"task.a": a3, "task.b_T": [1.7], "transfer.alpha": [0.4, 0.6, 1.0]}]))
    tr.append(("tr-mup20", {"n_source": 160, "model.m_up": 20}, [
        {"task.a": a3, "task.b_T": [1.7], "transfer.alpha": al3}]))
    tr.append(("tr-freeze", {"n_source": 160, "transfer.freeze_inherited": True}, [
        {"task.a": a3, "task.b_T": [1.7], "transfer.alpha": al3}]))
    tr.append(("tr-top", {"n_source": 160, "transfer.policy": "top_signal"}, [
        {"task.a": a3, "task.b_T": [1.7], "transfer.alpha": al3}]))
    tr.append(("tr-random", {"n_source": 160, "transfer.policy": "random"}, [
        {"task.a": [0.42, 0.85], "task.b_T": [1.7], "transfer.alpha": [0.3, 0.6]}]))
    tr.append(("tr-P3", {"n_source": 160, "task.P": 3}, [
        {"task.a": [0.6, 0.85, 1.2], "task.b_T": [2.4], "transfer.alpha": al3}]))
    tr.append(("tr-d8000", {"n_source": 640, "task.d": 8000}, [
        {"task.a": [0.6, 0.85, 1.2], "task.b_T": [2.8], "transfer.alpha": al3}]))
    tr.append(("tr-T1200", {"n_source": 160, "downstream.steps": 1200, "downstream.log_every": 1200}, [
        {"task.a": [0.62], "task.b_T": [1.7], "transfer.alpha": al3, "downstream.eta": [0.125, 0.5]}]))
    return sc + tr


def _tag(*objs) -> str:
    return hashlib.sha1(json.dumps(objs, sort_keys=True, default=str).encode()).hexdigest()[:10]


def cell_record(name: str, static: dict, values: dict, pt) -> dict:
    """Seed means of one swept point (diverged seeds dropped) and its overrides."""
    div = [np.asarray(pt[f"diverged_{s}"]) for s in ("upstream", "transfer", "scratch")]
    ok = ~(div[0] | div[1] | div[2])
    S = int(ok.sum())
    rec = {"block": name, "values": values, "seeds": S}
    for k in ("err_transfer", "err_scratch", "err_zeroshot", "gain"):
        v = np.asarray(pt[k].values, float)[ok]
        rec[k] = round(float(v.mean()), 6) if S else math.nan
        rec["se_" + k] = round(float(v.std(ddof=1) / math.sqrt(S)), 6) if S > 1 else math.nan
    return rec


def overrides_of(doc: dict, cell: dict) -> dict:
    """The ``Experiment.set`` overrides of one recorded cell: base, its block's static part, its values."""
    return {**doc["base"], **doc["static"][cell["block"]], **cell["values"]}


def run_all(seeds: int, key: int, only: str | None = None, log=sys.stderr) -> list[dict]:
    out = []
    for name, static, grids in blocks():
        if only and not name.startswith(only):
            continue
        exp = Experiment().set(**BASE).set(**static)
        for grid in grids:
            t0 = time.perf_counter()
            path = os.path.join(CACHE, f"{name}-{_tag(exp.to_toml(), grid, seeds, key)}")
            ds = sweep(exp, grid, seeds=seeds, key=key, out=path, quiet=True, chunk_trials=seeds)
            names = list(grid)
            for idx in np.ndindex(*(len(grid[n]) for n in names)):
                vals = {n: grid[n][i] for n, i in zip(names, idx)}
                out.append(cell_record(name, static, vals, ds.isel(dict(zip(names, idx)))))
            print(f"{name}: {math.prod(len(v) for v in grid.values())} cells, {time.perf_counter() - t0:.0f} s",
                  file=log, flush=True)  # fmt: skip
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=32)
    p.add_argument("--key", type=int, default=KEY)
    p.add_argument("--only", help="run only the blocks whose name starts with this")
    p.add_argument("--out", default="theory/families.json")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    cells = run_all(a.seeds, a.key, a.only)
    doc = {
        "command": "scripts/calibrate_families.py" + (f" --only {a.only}" if a.only else ""),
        "seeds": a.seeds, "key": a.key, "base": BASE, "seconds": round(time.perf_counter() - t0, 1),
        "static": {name: static for name, static, _ in blocks()}, "cells": cells,
    }  # fmt: skip
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:  # one cell a line
        head = json.dumps({k: v for k, v in doc.items() if k != "cells"})[:-1]
        fh.write(head + ', "cells": [\n' + ",\n".join(json.dumps(c) for c in cells) + "\n]}\n")
    os.replace(tmp, a.out)
    print(f"{len(cells)} cells written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
