"""Scoring of the theory check: how well each hypothesis predicts the transfer gain (docs/theory.md section 10).

From per-cell summaries (seed means of the gain with its paired s.e. and t, the errors) and
per-cell predictions (``theory.Prediction``, which carry ``in_domain``):

* balanced accuracy of the predicted sign of ``gain = err_scratch - err_transfer`` on the
  *significant* cells (``|t| > 2``), with a percentile bootstrap interval over those cells;
* RMSE and R^2 of the predicted transfer error and of the predicted gain (every cell);
* each score over all cells, the in-domain cells and the out-of-domain cells separately;
* the per-family table: one row per family (block of the grid) and hypothesis, in-domain
  cells only, beside the baseline "err_transfer = predicted scratch error" (no transfer
  effect), so that R^2 above the baseline's shows the transfer effect itself is predicted.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["balanced_accuracy", "bootstrap_interval", "metrics", "score", "family_table", "format_table", "BOOTSTRAP",
           "BOOT_SEED"]

BOOTSTRAP = 2000  # resamples of the significant cells for a balanced accuracy's interval
BOOT_SEED = 0  # numpy generator seed of the bootstrap (the intervals are reproducible)


def balanced_accuracy(true_sign: Sequence[int], pred_sign: Sequence[int]) -> float:
    """Mean, over the classes (+1, -1) present in ``true_sign``, of the fraction of that class's
    cells whose ``pred_sign`` equals it (a predicted 0, "no difference", is wrong for both).
    NaN when ``true_sign`` is empty.  With one class present it is that class's recall."""
    t, p = np.asarray(true_sign), np.asarray(pred_sign)
    recalls = [float(np.mean(p[t == c] == c)) for c in (1, -1) if np.any(t == c)]
    return float(np.mean(recalls)) if recalls else math.nan


def bootstrap_interval(true_sign, pred_sign, n: int = BOOTSTRAP, seed: int = BOOT_SEED) -> tuple[float, float]:
    """95% percentile interval of :func:`balanced_accuracy` over ``n`` resamples of the cells
    (with replacement); (nan, nan) for fewer than 2 cells."""
    t, p = np.asarray(true_sign), np.asarray(pred_sign)
    if t.size < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.size, (n, t.size))
    vals = np.array([balanced_accuracy(t[i], p[i]) for i in idx])
    vals = vals[np.isfinite(vals)]
    return (float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))) if vals.size else (math.nan, math.nan)


def _r2_rmse(pred: np.ndarray, meas: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(pred) & np.isfinite(meas)
    if ok.sum() < 2:
        return math.nan, math.nan
    res = meas[ok] - pred[ok]
    tot = meas[ok] - meas[ok].mean()
    den = float(np.sum(tot**2))
    return (float(1 - np.sum(res**2) / den) if den > 0 else math.nan), float(np.sqrt(np.mean(res**2)))


def metrics(cells: Sequence[Mapping[str, Any]], preds: Sequence[Any], ci: bool = True) -> dict[str, Any]:
    """Every score of one hypothesis on ``cells`` (per-cell summaries) with ``preds`` (its
    ``theory.Prediction`` per cell)."""
    t = np.array([c["t"] for c in cells], float)
    sig = np.abs(t) > 2
    true = np.sign([c["gain"] for c in cells]).astype(int) if cells else np.zeros(0, int)
    spos = np.array([c["s"] > 0 for c in cells], bool)
    sign = np.array([p.sign for p in preds], int)
    pe = np.array([p.pred_err_transfer for p in preds], float)
    pg = np.array([p.pred_gain for p in preds], float)
    r2, rmse = _r2_rmse(pe, np.array([c["err_transfer"] for c in cells], float))
    r2g, rmseg = _r2_rmse(pg, np.array([c["gain"] for c in cells], float))
    lo, hi = bootstrap_interval(true[sig], sign[sig]) if ci else (math.nan, math.nan)
    return {
        "n_cells": len(cells), "n_sig": int(sig.sum()), "n_sig_s_pos": int((sig & spos).sum()),
        "n_sig_better": int((sig & (true > 0)).sum()),
        "n_sig_worse": int((sig & (true < 0)).sum()),
        "bal_acc": balanced_accuracy(true[sig], sign[sig]), "bal_acc_ci95": [lo, hi],
        "bal_acc_s_pos": balanced_accuracy(true[sig & spos], sign[sig & spos]),
        "acc": float(np.mean(sign[sig] == true[sig])) if sig.any() else math.nan,
        "r2_err_transfer": r2, "rmse_err_transfer": rmse, "r2_gain": r2g, "rmse_gain": rmseg,
    }  # fmt: skip


def _split(cells, preds, name):
    ps = [p[name][1] for p in preds]
    out = {"all": (list(cells), ps)}
    for key, want in (("in_domain", True), ("out_of_domain", False)):
        idx = [i for i, p in enumerate(ps) if bool(p.in_domain) is want]
        out[key] = ([cells[i] for i in idx], [ps[i] for i in idx])
    return out


def score(cells: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, tuple[str, Any]]], worst: int = 3):
    """The table: one row per hypothesis with its scores over all cells (top level, as before),
    and under ``in_domain`` / ``out_of_domain`` the same scores on those cells only, plus its
    worst cells (significant, wrong sign, largest |t|; in-domain first)."""
    t = np.array([c["t"] for c in cells], float)
    true = np.sign([c["gain"] for c in cells]).astype(int)
    rows = []
    for name in preds[0]:
        parts = _split(cells, preds, name)
        row = {"hypothesis": name, "kind": preds[0][name][0], **metrics(*parts["all"])}
        for key in ("in_domain", "out_of_domain"):
            row[key] = metrics(*parts[key])
        ps = parts["all"][1]
        sign = np.array([p.sign for p in ps], int)
        wrong = np.flatnonzero((np.abs(t) > 2) & (sign != true))
        wrong = sorted(wrong, key=lambda i: (not ps[i].in_domain, -abs(t[i])))[:worst]
        row["worst"] = [{"block": cells[i]["block"], "values": cells[i]["values"], "gain": cells[i]["gain"],
                         "t": float(t[i]), "pred_sign": int(sign[i]),
                         "pred_err_transfer": float(ps[i].pred_err_transfer), "err_transfer": cells[i]["err_transfer"],
                         "in_domain": bool(ps[i].in_domain)} for i in wrong]  # fmt: skip
        rows.append(row)
    return rows


def family_table(cells, preds, names: Sequence[str]) -> list[dict[str, Any]]:
    """Per family (the ``block`` of each cell) and hypothesis in ``names``: the in-domain cells'
    scores (:func:`metrics`) and how many of the family's cells are in domain; then one row
    "all families" per hypothesis."""
    fams = list(dict.fromkeys(c["block"] for c in cells))
    rows = []
    for fam in fams + ["all families"]:
        idx = [i for i, c in enumerate(cells) if fam == "all families" or c["block"] == fam]
        for name in names:
            ps = [preds[i][name][1] for i in idx]
            ind = [j for j, p in enumerate(ps) if p.in_domain]
            m = metrics([cells[idx[j]] for j in ind], [ps[j] for j in ind])
            rows.append({"family": fam, "hypothesis": name, "cells": len(idx), "in_domain": len(ind), **m})
    return rows


def _short(field: str) -> str:
    return {"upstream.eta": "eta_up", "downstream.eta": "eta_down"}.get(field, field.split(".")[-1])


def _fmt(x: float, spec: str = ".3f") -> str:
    return "nan" if x is None or not math.isfinite(x) else format(x, spec)


def _ci(m: Mapping[str, Any]) -> str:
    lo, hi = m["bal_acc_ci95"]
    return f"{_fmt(m['bal_acc'], '.2f')} [{_fmt(lo, '.2f')}, {_fmt(hi, '.2f')}]"


def format_table(rows: Sequence[Mapping[str, Any]], families: Sequence[Mapping[str, Any]] = ()) -> str:
    """The table as text: per hypothesis its scores on the in-domain and the out-of-domain cells,
    its worst cells, then the per-family table (in-domain cells)."""
    r0 = rows[0]
    head = (f"{r0['n_cells']} cells, {r0['n_sig']} significant (|mean gain| > 2 s.e.; {r0['n_sig_better']} better, "
            f"{r0['n_sig_worse']} worse)")  # fmt: skip
    lines = [head, f"{'hypothesis':26s} {'kind':8s} {'in':>4s} {'bal.acc in-domain [95%]':>24s} {'RMSE':>6s} "
                   f"{'R2':>6s} {'R2 gain':>7s} | {'out':>4s} {'bal.acc':>7s} {'RMSE':>6s}"]  # fmt: skip
    for r in rows:
        i, o = r["in_domain"], r["out_of_domain"]
        lines.append(f"{r['hypothesis'][:26]:26s} {r['kind']:8s} {i['n_cells']:4d} {_ci(i):>24s} "
                     f"{_fmt(i['rmse_err_transfer'], '.4f'):>6s} {_fmt(i['r2_err_transfer'], '.2f'):>6s} "
                     f"{_fmt(i['r2_gain'], '.2f'):>7s} | {o['n_cells']:4d} {_fmt(o['bal_acc'], '.2f'):>7s} "
                     f"{_fmt(o['rmse_err_transfer'], '.4f'):>6s}")  # fmt: skip
    lines.append("worst cells (significant, wrong sign, largest |t|, in-domain first):")
    for r in rows:
        if r["kind"] in ("trivial", "baseline"):
            continue
        for w in r["worst"]:
            vals = ", ".join(f"{_short(k)}={v:g}" for k, v in w["values"].items())
            lines.append(f"  {r['hypothesis']:20s} {w['block']:10s} {vals:45s} gain {w['gain']:+.4f} "
                         f"(t {w['t']:+.1f}), "
                         f"predicted {w['pred_sign']:+d}{'' if w['in_domain'] else ' (out of domain)'}")  # fmt: skip
    if families:
        lines.append("per family, in-domain cells (balanced accuracy with 95% bootstrap interval):")
        lines.append(f"{'family':12s} {'hypothesis':26s} {'cells':>5s} {'in':>4s} {'sig':>4s} {'bal.acc [95%]':>19s} "
                     f"{'RMSE err':>8s} {'RMSE gain':>9s} {'R2 gain':>7s}")  # fmt: skip
        for f in families:
            lines.append(f"{f['family'][:12]:12s} {f['hypothesis'][:26]:26s} {f['cells']:5d} {f['in_domain']:4d} "
                         f"{f['n_sig']:4d} {_ci(f):>19s} {_fmt(f['rmse_err_transfer'], '.4f'):>8s} "
                         f"{_fmt(f['rmse_gain'], '.4f'):>9s} {_fmt(f['r2_gain'], '.2f'):>7s}")  # fmt: skip
    return "\n".join(lines)
