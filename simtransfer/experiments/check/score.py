"""Scoring of the theory check: per-cell seed means, every hypothesis's prediction, balanced
accuracy of the gain's sign, R^2/RMSE of the transfer error, and the printed table."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np


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
