"""Calibrate the scratch law of docs/theory.md section 1 on scratch-only simulations.

    python -m simtransfer.experiments.calibrate --out theory/calibration.json

runs ``simtransfer.runs.run`` with ``transfer.alpha = 0`` (transfer and scratch are then the same
model; ``err_scratch`` is read, per seed, as the exact conditional test error) on the grid
:data:`GRID` and fits every law of :mod:`theory.scratch` to the seed-mean errors
(weights ``1 / (se^2 + 0.005^2)``, 200 bootstrap resamples over points).  The JSON holds
the estimates with 95% CIs, the RMSE, the grid, every point and this command;
``theory.load_calibration()`` reads it.

Grid: (d, n_T) pairs x 7 target SNR2 values from 0.01 to 10 (errors from ~0.42 to ~0);
``||mu_T|| = (SNR2 sigma_p^4 d / n_T)^(1/4)`` is put on ``v_T`` (``a = 0``), so the points
cover the transition evenly in SNR2 while d varies 4-fold at n_T = 10, n_T 4-fold at
d = 500, plus the default (1000, 20).  Training as the prototype of docs/theory.md: m = 10,
sigma_0 = 0.01, eta = 0.5, T_down = 300, plain GD, 32 seeds a point; the upstream stage is
irrelevant to scratch and runs 1 step on 2 samples.  Each (d, n_T) pair is one compilation
(~20-35 s on CPU, most of the cost); the SNR2 values are traced and reuse it.  The
seconds the run took are recorded in the JSON.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

import numpy as np

from theory.calibration import Calibration
from theory.scratch import LAWS, calibrate, snr2

from ..config import Eval, Experiment, Model, Task, Train, Transfer
from ..runs.devices import use_cpu_devices
from ..runs.run import run

__all__ = ["GRID", "QUICK_GRID", "scratch_experiment", "measure", "fit_all", "main"]

#: (d, n_T) pairs and target SNR2 values of the default calibration.
GRID: dict[str, Any] = {
    "d_n": [[500, 10], [500, 40], [2000, 10], [1000, 20]],
    "snr2": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
    "sigma_p": 1.0,
    "seeds": 32,
}
#: A tiny grid for smoke tests.
QUICK_GRID: dict[str, Any] = {"d_n": [[200, 10]], "snr2": [0.03, 0.3, 1.0, 3.0], "sigma_p": 1.0, "seeds": 4}

SETTINGS: dict[str, Any] = {
    "model.m": 10, "model.sigma_0": 0.01, "downstream.eta": 0.5, "downstream.steps": 300,
    "upstream.steps": 1, "n_source": 2, "transfer.alpha": 0.0, "task.label_flip": 0.0,
    "eval.n_test": 0, "eval.mc_draws": 4096,
}  # fmt: skip


def scratch_experiment(d: int, n: int, norm_mu: float, sigma_p: float = 1.0) -> Experiment:
    """A scratch-only experiment: target signal ``mu_T = v_T`` of norm ``norm_mu``, alpha = 0."""
    s = SETTINGS
    return Experiment(
        task=Task(d=d, a=0.0, b_S=1.0, b_T=float(norm_mu), s=1.0, sigma_p=sigma_p, label_flip=s["task.label_flip"]),
        model=Model(m=s["model.m"], sigma_0=s["model.sigma_0"]),
        upstream=Train(steps=s["upstream.steps"], eta=0.5, log_every=1),
        downstream=Train(steps=s["downstream.steps"], eta=s["downstream.eta"], log_every=s["downstream.steps"]),
        transfer=Transfer(alpha=s["transfer.alpha"]),
        eval=Eval(n_test=s["eval.n_test"], mc_draws=s["eval.mc_draws"], curve_draws=16, scores=False),
        n_source=s["n_source"],
        n_target=n,
    )


def measure(grid: dict[str, Any], key: int = 0, log=sys.stderr) -> list[dict[str, float]]:
    """Seed-mean scratch error (exact conditional) and its standard error at every grid point."""
    points = []
    sp = float(grid["sigma_p"])
    for d, n in grid["d_n"]:
        for target in grid["snr2"]:
            norm = (target * sp**4 * d / n) ** 0.25
            t0 = time.perf_counter()
            res = run(scratch_experiment(d, n, norm, sp), seeds=int(grid["seeds"]), key=key)
            ok = res.valid
            e = np.asarray(res.err_scratch, np.float64)[ok]
            pt = {
                "d": d, "n": n, "norm_mu": norm, "snr2": float(snr2(n, norm, sp, d)),
                "err": float(e.mean()), "se": float(e.std(ddof=1) / np.sqrt(e.size)),
                "mc_se": float(np.mean(res.se_scratch[ok])), "seeds": int(e.size),
            }  # fmt: skip
            points.append(pt)
            if log is not None:
                print(f"d={d:5d} n={n:3d} |mu|={norm:6.3f} SNR2={pt['snr2']:7.3f} err={pt['err']:.4f} "
                      f"+- {pt['se']:.4f} ({time.perf_counter() - t0:.1f} s)", file=log, flush=True)  # fmt: skip
    return points


def fit_all(points: list[dict[str, float]], bootstrap: int = 200) -> dict[str, Any]:
    """Every law of :data:`theory.scratch.LAWS` fitted to the points."""
    s = np.array([p["snr2"] for p in points])
    y = np.array([p["err"] for p in points])
    se = np.array([p["se"] for p in points])
    return {law: calibrate(s, y, se, p=SETTINGS["task.label_flip"], law=law, bootstrap=bootstrap) for law in LAWS}


def main(argv: list[str] | None = None) -> Calibration:
    use_cpu_devices()
    ap = argparse.ArgumentParser(prog="python -m simtransfer.experiments.calibrate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="theory/calibration.json", help="JSON file to write")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per point (default: the grid's)")
    ap.add_argument("--key", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny grid, for smoke tests")
    args = ap.parse_args(argv)
    grid = dict(QUICK_GRID if args.quick else GRID)
    if args.seeds is not None:
        grid["seeds"] = args.seeds
    t0 = time.perf_counter()
    points = measure(grid, key=args.key)
    fits = fit_all(points)
    default = min(("gauss", "gauss_free"), key=lambda k: fits[k].rmse)
    args_used = sys.argv[1:] if argv is None else argv
    command = "python -m simtransfer.experiments.calibrate " + " ".join(shlex.quote(a) for a in args_used)
    meta = {
        "command": command.strip(),
        "default_rule": "the gauss law (k = 1/2 or free) with the smaller RMSE",
        "grid": grid,
        "settings": SETTINGS,
        "key": args.key,
        "seconds": round(time.perf_counter() - t0, 1),
        "points": points,
    }
    cal = Calibration(fits, default, meta)
    cal.save(args.out)
    for law, f in fits.items():
        est = ", ".join(f"{k} = {v:.3f} [{lo:.3f}, {hi:.3f}]" for k, v, (lo, hi) in zip(f.names, f.estimate, f.ci95))
        print(f"{law:10s} {est}  RMSE {f.rmse:.4f}  n {f.n}")
    print(f"default law: {default}; wrote {args.out} in {meta['seconds']} s")
    return cal


if __name__ == "__main__":
    main()
