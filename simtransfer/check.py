"""``simtransfer check``: how well does each transfer hypothesis predict the sign of the gain?

THEORY.md section 3 asks for a grid the theory was not tuned on, built around the
transfer-beats-scratch boundary, on which every hypothesis of ``theory.predict`` (from
the configuration alone), the plug-in versions (fed with quantities measured *before
fine-tuning*), H4 and the trivial predictors are scored side by side:

* balanced accuracy of the predicted sign of ``gain = err_scratch - err_transfer`` on the
  *significant* cells (``|mean gain| > 2 s.e.``, paired over seeds), overall and for s > 0;
* R^2 and RMSE of the predicted transfer error against the measured one (every cell);
* the worst cells (wrong sign, largest |t|).

Rows: the configuration-only hypotheses (every entry of ``theory.predict``, and H4,
:func:`theory.h4`), their plug-in versions and the trivial predictors ("sign of s",
"transfer always helps").  The plug-ins use only what is available *before fine-tuning*:
lambda = the inherited filters' noise output s.d. (at initialisation of the transfer model)
over the scratch model's (:func:`theory.lambda_measured`, median over the first
:data:`MEASURE_SEEDS` seeds), the zero-shot model's SNR read off its error in calibrated
units (:func:`theory.snr_of_error`), and H3's G from the upstream and scratch models'
signal learning.  The fine-tuned transfer model itself is never an input.

The check grid (:data:`CHECK_BLOCKS`, 68 cells, root seed :data:`CHECK_KEY`) varies a, b_T,
alpha, n_S (40, 160, 640), sigma_p, d (1000, 2000) and the budgets eta_up T_up, eta_down T_down
(through the traced learning rates, T = 300), mostly with s = +1 near the crossover, plus
anti-aligned (s = -1, -0.5) and uncorrelated (s = 0; a = 0) cells.  H4's constants are
fitted on :data:`CALIBRATION_BLOCKS` (other points, root seed :data:`CALIBRATION_KEY`).

Errors are the exact conditional errors (``eval.n_test = 0``).  Every block of the grid is
run by :func:`simtransfer.sweep.sweep` (traced fields batched, one compilation per shape,
one point per chunk) and measured by :func:`simtransfer.measure.measure`; both are cached
under ``cache_dir`` (default ``~/.cache/simtransfer/check``), so a rerun only assembles.

Command line::

    python -m simtransfer.check [--seeds 32] [--key 20250] [--quick] [--out table.json]
    python -m simtransfer.check --calibrate-h4 [--out theory/h4.json]   # H4's constants
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "Block",
    "CHECK_BLOCKS",
    "CALIBRATION_BLOCKS",
    "QUICK_BLOCKS",
    "BASE",
    "balanced_accuracy",
    "score",
    "hypotheses",
    "run_blocks",
    "check",
    "calibrate_h4",
    "format_table",
    "CHECK_KEY",
    "CALIBRATION_KEY",
    "main",
]

#: Overrides of ``Experiment()`` shared by every cell (the prototype's setting of THEORY.md
#: section 3, with T_up = T_down = 300: budgets are varied through the traced learning rates).
BASE: dict[str, Any] = {
    "backend": "gram",  # exact in distribution and ~4x faster than dense at d = 1000 on CPU
    "eval.n_test": 0,
    "eval.mc_draws": 4096,
    "eval.curve_draws": 64,
    "upstream.steps": 300,
    "downstream.steps": 300,
    "upstream.log_every": 300,  # only the final coefficients (gamma) are used: log the ends only
    "downstream.log_every": 300,
}

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "simtransfer", "check")


@dataclass(frozen=True)
class Block:
    """Cells sharing a shape: ``static`` overrides (d, n_S, ...) on :data:`BASE` and a list of
    ``grids``, each a Cartesian product over fields (traced ones, so one compilation)."""

    name: str
    static: Mapping[str, Any]
    grids: Sequence[Mapping[str, Sequence[Any]]]


def _g(**kw: Sequence[Any]) -> dict[str, list]:
    alias = {"alpha": "transfer.alpha", "eta_up": "upstream.eta", "eta_down": "downstream.eta"}
    return {alias.get(k, k if "." in k else f"task.{k}"): list(v) for k, v in kw.items()}


# -- the check grid (THEORY.md section 3: around the boundary, s > 0 mostly) -----------------
CHECK_BLOCKS: tuple[Block, ...] = (
    Block("nS160", {"n_source": 160}, (
        _g(a=[0.45, 0.65, 0.9], b_T=[1.5, 2.5], alpha=[0.3, 0.6, 1.0]),
        _g(a=[0.6], b_T=[2.0], sigma_p=[0.8, 1.25], alpha=[0.6, 1.0]),
        _g(a=[0.6, 1.2], b_T=[2.0], s=[-1.0], alpha=[0.3, 1.0]),
        _g(a=[0.0, 1.0], b_T=[2.0], s=[0.0], alpha=[0.6]),
    )),
    Block("nS640", {"n_source": 640}, (
        _g(a=[0.35, 0.5, 0.7], b_T=[1.5, 2.5], alpha=[0.3, 0.6, 1.0]),
        _g(a=[0.5], b_T=[2.0], alpha=[0.6, 1.0], eta_up=[0.17, 1.5], eta_down=[0.1, 0.5, 1.5]),
        _g(a=[0.5], b_T=[2.0], s=[-0.5], alpha=[0.3, 1.0]),
    )),
    Block("nS40", {"n_source": 40}, (_g(a=[0.5, 1.0], b_T=[2.0], alpha=[0.6, 1.0]),)),
    Block("d2000", {"n_source": 640, "task.d": 2000}, (_g(a=[0.5, 0.75], b_T=[2.5], alpha=[0.3, 1.0]),)),
)  # fmt: skip

# -- the calibration grid of H4 (other points, other seeds key; never scored) ----------------
CALIBRATION_BLOCKS: tuple[Block, ...] = (
    Block("cal-nS80", {"n_source": 80}, (
        _g(a=[0.55, 0.8, 1.1], b_T=[1.2, 2.2], alpha=[0.2, 0.5, 0.8, 1.0]),
        _g(a=[0.8], b_T=[1.8], alpha=[0.5, 1.0], eta_up=[0.25, 1.0], eta_down=[0.25, 1.0]),
        _g(a=[0.8], b_T=[1.8], s=[-1.0, -0.5], alpha=[0.5, 1.0]),
    )),
    Block("cal-nS320", {"n_source": 320}, (
        _g(a=[0.4, 0.55, 0.8], b_T=[1.2, 2.2], alpha=[0.2, 0.5, 0.8, 1.0]),
        _g(a=[0.55], b_T=[1.8], alpha=[0.5, 1.0], eta_up=[0.25, 1.0], eta_down=[0.25, 1.0]),
        _g(a=[0.55], b_T=[1.8], alpha=[0.5, 1.0], sigma_p=[0.9, 1.1], b_S=[0.5, 2.0]),
    )),
)  # fmt: skip

#: A tiny version for tests: d = 200, small n, short training (seconds).
QUICK_STATIC: dict[str, Any] = {
    "task.d": 200, "n_source": 40, "n_target": 10, "model.m": 4, "upstream.steps": 40,
    "downstream.steps": 40, "upstream.log_every": 40, "downstream.log_every": 40, "eval.mc_draws": 512,
}  # fmt: skip
QUICK_BLOCKS: tuple[Block, ...] = (
    Block("quick", QUICK_STATIC, (_g(a=[0.5, 1.5], b_T=[1.5], alpha=[0.5, 1.0]), _g(a=[1.0], s=[-1.0], alpha=[0.5]))),
)


# -- running and caching ------------------------------------------------------------------------
def _base_experiment(static: Mapping[str, Any]):
    from .config import Experiment

    return Experiment().set(**BASE).set(**dict(static))


def _tag(*objs: Any) -> str:
    return hashlib.sha1(json.dumps(objs, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _cached_npz(path: str | None, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    from .result import _atomic_write

    if path is not None and os.path.exists(path):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    arrays = compute()
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _atomic_write(path, lambda fh: np.savez(fh, **arrays))
    return arrays


#: Per-seed outputs of the sweep kept for every cell.
_SWEPT = ("err_transfer", "err_scratch", "err_zeroshot", "gain", "err_upstream",
          "diverged_upstream", "diverged_transfer", "diverged_scratch")  # fmt: skip
#: Coefficient curves whose final value is kept (H3's plug-in G): signal learning along u
#: upstream, and along u and v_T by the scratch model.
_GAMMAS = ("curve_upstream_gamma_u", "curve_scratch_gamma_u", "curve_scratch_gamma_T")


#: Seeds whose trial is measured for the plug-ins (the first of the sweep's seeds: the same
#: trials).  Measured lambda varies little between seeds (c.v. 2.5% on the calibration grid;
#: the median of 8 seeds is within 0.7% of that of 32, 3% at worst), and the measurement
#: reruns the trial, so measuring fewer seeds keeps the check's runtime down.
MEASURE_SEEDS = 8


def run_blocks(
    blocks: Iterable[Block], seeds: int, key: int, cache_dir: str | None = DEFAULT_CACHE, quiet: bool = True,
    measure_seeds: int = MEASURE_SEEDS,
) -> list[dict[str, Any]]:  # fmt: skip
    """Run (or load from ``cache_dir``) every cell of ``blocks``: one record per cell with its
    ``cfg`` (Experiment), ``block`` name, the sweep's per-seed arrays (``seeds``) and
    :data:`simtransfer.measure.MEASURES` of its first ``measure_seeds`` seeds."""
    from .measure import measure
    from .sweep import sweep

    n_meas = min(measure_seeds, seeds)
    records = []
    for block in blocks:
        exp = _base_experiment(block.static)
        for grid in block.grids:
            out = None
            if cache_dir is not None:
                out = os.path.join(cache_dir, f"{block.name}-{_tag(exp.to_toml(), grid, seeds, key)}")
            ds = sweep(exp, grid, seeds=seeds, key=key, out=out, quiet=quiet, chunk_trials=seeds)
            names = list(grid)
            for flat, idx in enumerate(np.ndindex(*(len(grid[n]) for n in names))):
                vals = {n: grid[n][i] for n, i in zip(names, idx)}
                cfg = exp.set(**vals)
                path = None if out is None else os.path.join(out, f"measure-{n_meas}", f"point-{flat:04d}.npz")
                meas = _cached_npz(path, lambda cfg=cfg: {k: v[0] for k, v in measure([cfg], n_meas, key).items()})
                pt = ds.isel(dict(zip(names, idx)))
                rec = {"cfg": cfg, "block": block.name, "values": vals}
                rec.update({k: np.asarray(pt[k].values) for k in _SWEPT})
                rec.update({k: np.asarray(pt[k].values)[:, -1] for k in _GAMMAS})
                rec.update(meas)
                records.append(rec)
    return records


# -- scoring ------------------------------------------------------------------------------------
def balanced_accuracy(true_sign: Sequence[int], pred_sign: Sequence[int]) -> float:
    """Mean, over the classes (+1, -1) present in ``true_sign``, of the fraction of that class's
    cells whose ``pred_sign`` equals it (a predicted 0, "no difference", is wrong for both).
    NaN when ``true_sign`` is empty.  With one class present it is that class's recall."""
    t, p = np.asarray(true_sign), np.asarray(pred_sign)
    recalls = [float(np.mean(p[t == c] == c)) for c in (1, -1) if np.any(t == c)]
    return float(np.mean(recalls)) if recalls else math.nan


def _r2_rmse(pred: np.ndarray, meas: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(pred) & np.isfinite(meas)
    if ok.sum() < 2:
        return math.nan, math.nan
    res = meas[ok] - pred[ok]
    tot = meas[ok] - meas[ok].mean()
    return float(1 - np.sum(res**2) / np.sum(tot**2)), float(np.sqrt(np.mean(res**2)))


def _cell(rec: Mapping[str, Any]) -> dict[str, Any]:
    """Seed means of one cell (diverged seeds dropped): gain, its paired s.e. and t, errors,
    and the plug-in inputs measured before fine-tuning (median lambda, zero-shot SNR)."""
    import theory

    ok = ~(rec["diverged_upstream"] | rec["diverged_transfer"] | rec["diverged_scratch"])
    S = int(ok.sum())
    gain = rec["gain"][ok]
    se = float(gain.std(ddof=1) / math.sqrt(S)) if S > 1 else math.nan
    mean = float(gain.mean()) if S else math.nan
    cfg = rec["cfg"]
    p = float(cfg.task.label_flip)
    err = {k: float(rec[f"err_{k}"][ok].mean()) if S else math.nan for k in ("transfer", "scratch", "zeroshot")}
    return {
        "block": rec["block"],
        "values": dict(rec["values"]),
        "s": float(cfg.task.s),
        "alpha": float(cfg.transfer.alpha),
        "seeds": S,
        "gain": mean,
        "se": se,
        "t": math.nan if S < 2 else (mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))),
        "err_transfer": err["transfer"],
        "err_scratch": err["scratch"],
        "err_zeroshot": err["zeroshot"],
        "lam_measured": float(np.median(rec["lam"][ok[: rec["lam"].shape[0]]])) if S else math.nan,
        "G_measured": _g_measured(rec, ok, float(cfg.task.s)),
        "r_zeroshot": theory.snr_of_error(err["zeroshot"], p) if S else math.nan,
        "r_transfer": theory.snr_of_error(err["transfer"], p) if S else math.nan,
        "r_scratch": theory.snr_of_error(err["scratch"], p) if S else math.nan,
    }


def _g_measured(rec: Mapping[str, Any], ok: np.ndarray, s: float) -> float:
    """H3's G measured before fine-tuning: the upstream filters' signal on mu_T, s <w - w0, u>,
    over what the scratch model learned on mu_T, s <w - w0, u> + <w - w0, v_T> (seed means of
    the class-signed filter averages ``gamma_*`` of the coefficient curves)."""
    up = s * rec["curve_upstream_gamma_u"][ok].mean()
    sc = s * rec["curve_scratch_gamma_u"][ok].mean() + rec["curve_scratch_gamma_T"][ok].mean()
    return float(up / sc) if sc != 0 else math.nan


#: Rows of the table: (name, kind); kinds: "config" (configuration only), "plug-in" (fed
#: with quantities measured before fine-tuning), "trivial".
def hypotheses(cfg: Any, cell: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Every prediction for one cell: ``name -> (kind, theory.Prediction)``."""
    import theory

    preds: dict[str, tuple[str, Any]] = {}
    for name, pred in theory.predict(cfg).items():
        preds[name] = ("trivial" if name in ("sign_of_s", "always_helps") else "config", pred)
    preds["H4"] = ("config", theory.h4(cfg))
    lam = cell["lam_measured"]
    preds["H1-plugin"] = ("plug-in", theory.h1_plugin(cfg, lam))
    preds["H1-corrected-plugin"] = ("plug-in", theory.h1_corrected(cfg, lam=lam))
    preds["H2-plugin"] = ("plug-in", theory.h2_plugin(cfg, lam))
    preds["H3-plugin"] = ("plug-in", theory.h3_plugin(cfg, cell["G_measured"]))
    preds["H4-plugin"] = ("plug-in", theory.h4_plugin(cfg, lam, cell["r_zeroshot"]))
    order = ("config", "plug-in", "trivial")
    return dict(sorted(preds.items(), key=lambda kv: order.index(kv[1][0])))


def score(cells: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, tuple[str, Any]]], worst: int = 3):
    """The table: one row per hypothesis (see the module docstring), from per-cell summaries
    (:func:`_cell`) and per-cell predictions (:func:`hypotheses`)."""
    t = np.array([c["t"] for c in cells], float)
    sig = np.abs(t) > 2
    true = np.sign([c["gain"] for c in cells]).astype(int)
    spos = np.array([c["s"] > 0 for c in cells])
    meas = np.array([c["err_transfer"] for c in cells], float)
    rows = []
    for name in preds[0]:
        kind = preds[0][name][0]
        sign = np.array([p[name][1].sign for p in preds], int)
        pe = np.array([p[name][1].pred_err_transfer for p in preds], float)
        r2, rmse = _r2_rmse(pe, meas)
        wrong = np.flatnonzero(sig & (sign != true))
        wrong = wrong[np.argsort(-np.abs(t[wrong]))][:worst]
        rows.append({
            "hypothesis": name,
            "kind": kind,
            "n_cells": len(cells),
            "n_sig": int(sig.sum()),
            "n_sig_s_pos": int((sig & spos).sum()),
            "n_sig_better": int((sig & (true > 0)).sum()),
            "n_sig_worse": int((sig & (true < 0)).sum()),
            "bal_acc": balanced_accuracy(true[sig], sign[sig]),
            "bal_acc_s_pos": balanced_accuracy(true[sig & spos], sign[sig & spos]),
            "acc": float(np.mean(sign[sig] == true[sig])) if sig.any() else math.nan,
            "r2_err_transfer": r2,
            "rmse_err_transfer": rmse,
            "worst": [{"block": cells[i]["block"], "values": cells[i]["values"], "gain": cells[i]["gain"],
                       "t": float(t[i]), "pred_sign": int(sign[i]), "pred_err_transfer": float(pe[i]),
                       "err_transfer": cells[i]["err_transfer"]} for i in wrong],
        })  # fmt: skip
    return rows


def _short(field: str) -> str:
    return {"upstream.eta": "eta_up", "downstream.eta": "eta_down"}.get(field, field.split(".")[-1])


def _fmt(x: float, spec: str = ".3f") -> str:
    return "nan" if x is None or not math.isfinite(x) else format(x, spec)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table as text: one line per hypothesis, then each one's worst cells."""
    r0 = rows[0]
    head = (f"{r0['n_cells']} cells, {r0['n_sig']} significant (|mean gain| > 2 s.e.; {r0['n_sig_better']} better, "
            f"{r0['n_sig_worse']} worse), {r0['n_sig_s_pos']} of them with s > 0")  # fmt: skip
    lines = [head, f"{'hypothesis':22s} {'kind':8s} {'bal.acc':>7s} {'s>0':>7s} {'acc':>7s} {'R^2':>7s} {'RMSE':>7s}"]
    for r in rows:
        lines.append(f"{r['hypothesis']:22s} {r['kind']:8s} {_fmt(r['bal_acc']):>7s} {_fmt(r['bal_acc_s_pos']):>7s} "
                     f"{_fmt(r['acc']):>7s} {_fmt(r['r2_err_transfer']):>7s} "
                     f"{_fmt(r['rmse_err_transfer'], '.4f'):>7s}")  # fmt: skip
    lines.append("worst cells (significant, wrong sign, largest |t|):")
    for r in rows:
        for w in r["worst"]:
            vals = ", ".join(f"{_short(k)}={v:g}" for k, v in w["values"].items())
            lines.append(f"  {r['hypothesis']:20s} {w['block']:7s} {vals:45s} gain {w['gain']:+.4f} (t {w['t']:+.1f}), "
                         f"predicted {w['pred_sign']:+d}")  # fmt: skip
    return "\n".join(lines)


# -- entry points -------------------------------------------------------------------------------
CHECK_KEY = 20250  # root seed of the check grid
CALIBRATION_KEY = 777  # root seed of H4's calibration grid (other seeds, other points)


def _blocks_meta(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [{"name": b.name, "static": dict(b.static), "grids": [dict(g) for g in b.grids]} for b in blocks]


def _write_json(path: str, obj: Any) -> None:
    from .result import _atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _atomic_write(path, (json.dumps(obj, indent=1, default=float) + "\n").encode())


def check(
    seeds: int = 32,
    key: int = CHECK_KEY,
    quick: bool = False,
    out: str | None = None,
    *,
    cache_dir: str | None = DEFAULT_CACHE,
    quiet: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the check grid (:data:`CHECK_BLOCKS`; :data:`QUICK_BLOCKS` at <= 4 seeds if ``quick``),
    score every hypothesis (:func:`score`), print the table and return it as a dict
    ``{"rows", "cells", "meta"}``, also written as JSON to ``out`` if given.  Results are
    cached under ``cache_dir`` (None: no cache), so a rerun only re-scores."""
    blocks = QUICK_BLOCKS if quick else CHECK_BLOCKS
    seeds = min(seeds, 4) if quick else seeds
    t0 = time.perf_counter()
    records = run_blocks(blocks, seeds, key, cache_dir, quiet)
    cells = [_cell(r) for r in records]
    preds = [hypotheses(r["cfg"], c) for r, c in zip(records, cells)]
    rows = score(cells, preds)
    for c, p in zip(cells, preds):
        c["pred"] = {n: {"sign": int(v.sign), "err_transfer": float(v.pred_err_transfer)} for n, (_, v) in p.items()}
    seconds = time.perf_counter() - t0
    import theory

    table = {
        "rows": rows,
        "cells": cells,
        "meta": {
            "seeds": seeds, "key": key, "quick": quick, "seconds": round(seconds, 1),
            "significance": "|mean gain| > 2 s.e. (paired over seeds, exact conditional errors)",
            "balanced_accuracy": "mean over the true classes (better, worse) present of the fraction predicted right",
            "plug_ins": f"lambda = median over the first {min(MEASURE_SEEDS, seeds)} seeds of theory.lambda_measured "
                        "(inherited filters at initialisation vs the scratch model); r_zeroshot = "
                        "theory.snr_of_error(mean zero-shot error over all seeds); G (H3) = upstream signal "
                        "on mu_T / scratch-learned signal on mu_T (coefficient curves)",
            "h4_constants": theory.load_h4().get("kappa"),
            "base": BASE, "blocks": _blocks_meta(blocks),
        },
    }  # fmt: skip
    if out is not None:
        _write_json(out, table)
    if verbose:
        print(format_table(rows))
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
        "command": "python -m simtransfer.check --calibrate-h4 --out theory/h4.json",
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
    """``python -m simtransfer.check`` (and ``python -m simtransfer check``)."""
    p = argparse.ArgumentParser(prog="python -m simtransfer check", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=32)
    p.add_argument("--key", type=int, default=None,
                   help=f"root seed (default {CHECK_KEY}; {CALIBRATION_KEY} with --calibrate-h4)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="a tiny grid at <= 4 seeds (seconds; for tests)")
    p.add_argument("--out", metavar="FILE", help="write the table (or, with --calibrate-h4, the constants) as JSON")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE, help=f"results cache (default {DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true", help="recompute everything, cache nothing")
    p.add_argument("--calibrate-h4", action="store_true", help="fit H4's kappa on the calibration grid")
    p.add_argument("--progress", action="store_true", help="progress bars")
    args = p.parse_args(argv)
    if args.seeds < 2:
        print(f"error: --seeds: need >= 2 for a standard error, got {args.seeds}", file=sys.stderr)
        return 2
    cache = None if args.no_cache else args.cache_dir
    kw = dict(cache_dir=cache, quiet=not args.progress)
    if args.calibrate_h4:
        calibrate_h4(args.seeds, CALIBRATION_KEY if args.key is None else args.key, args.out, **kw)
    else:
        check(args.seeds, CHECK_KEY if args.key is None else args.key, args.quick, args.out, **kw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
