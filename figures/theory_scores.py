"""Scores of the theory's predictions against the simulation, for figure 6
(``figures/theory_vs_sim.py``): R^2 and RMSE about the identity line, sign agreement on the
significant cells, each on the points in a hypothesis' validity domain (docs/theory.md
section 5), and the scratch models counted once (docs/theory.md sections 1 and 3).

The points are the rows of ``theory_vs_sim.collect``: one per distinct configuration, with
measured means and s.e. (``err_scratch``, ``err_transfer``, ``gain`` and ``*_se``), ``k``, ``s``,
``scratch_key`` and every ``theory_<tag>_*`` prediction.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

#: The hypotheses scored (tag, label, marker), all of them from the configuration alone.
HYPS = [
    ("H1", "H1, $\\lambda=\\infty$", "v"),
    ("H1_default_lambda", "H1, default $\\lambda$", "s"),
    ("H1_corrected", "H1 corrected", "o"),
    ("H2", "H2", "^"),
    ("H3", "H3", "D"),
    ("H4", "H4", "P"),
    ("H5", "H5", "X"),
]
TRIVIAL = [("always_helps", "always helps"), ("sign_of_s", "sign of $s$")]


def r2(meas, pred) -> float:
    meas, pred = np.asarray(meas, float), np.asarray(pred, float)
    ok = np.isfinite(meas) & np.isfinite(pred)
    if ok.sum() < 2:
        return float("nan")
    ss_tot = np.sum((meas[ok] - meas[ok].mean()) ** 2)
    return float(1 - np.sum((meas[ok] - pred[ok]) ** 2) / ss_tot) if ss_tot > 0 else float("nan")


def in_domain(pts: xr.Dataset, tag: str) -> np.ndarray:
    """Points in hypothesis ``tag``'s domain (all points for a predictor without one)."""
    v = f"theory_{tag}_in_domain"
    return pts[v].values > 0.5 if v in pts else np.ones(pts.sizes["point"], bool)


def rmse(meas, pred) -> float:
    """Root-mean-square of measured - predicted over the finite pairs (nan if none)."""
    d = np.asarray(meas, float) - np.asarray(pred, float)
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d**2))) if d.size else float("nan")


def sign_stats(pts: xr.Dataset, tag: str) -> tuple[float, float, int]:
    """Sign agreement and balanced accuracy on the significant cells (|gain| > 2 s.e.) in the
    hypothesis' domain."""
    g, se = pts["gain"].values, pts["gain_se"].values
    sig = (pts["k"].values > 0) & (np.abs(g) > 2 * se) & in_domain(pts, tag)
    if not sig.any():
        return float("nan"), float("nan"), 0
    truth = np.sign(g[sig])
    pred = pts[f"theory_{tag}_sign"].values[sig]
    agree = pred == truth
    bal = np.mean([agree[truth == c].mean() for c in (-1, 1) if np.any(truth == c)])
    return float(agree.mean()), float(bal), int(sig.sum())


def scratch_key(exp) -> str:
    """The configuration of the scratch model alone: it ignores the upstream stage, n_S,
    b_S and the inheritance, and sees a and s only through mu_T = s a e_u + b_T e_T."""
    import dataclasses

    sa = exp.task.s * exp.task.a
    ref = type(exp)()
    exp = dataclasses.replace(exp.set(**{"model.m_up": None}), upstream=ref.upstream, transfer=ref.transfer)
    return exp.set(**{"n_source": 1, "task.b_S": 0.0, "task.a": abs(sa), "task.s": 1.0 if sa >= 0 else -1.0}).to_toml()


def scratch_points(pts: xr.Dataset) -> np.ndarray:
    """Indices of the distinct scratch models: points that differ only in what the scratch
    model ignores (:func:`scratch_key`) hold the same paired scratch runs; counted once."""
    _, first = np.unique(pts["scratch_key"].values.astype(str), return_index=True)
    return np.sort(first)


def stats(pts: xr.Dataset) -> dict:
    tr = pts.isel(point=np.flatnonzero(pts["k"].values > 0))
    sc = pts.isel(point=scratch_points(pts))
    out = {"n_points": int(pts.sizes["point"]), "n_transfer_points": int(tr.sizes["point"]),
           "scratch": {"r2": r2(sc["err_scratch"], sc["theory_H1_err_scratch"]), "n": int(sc.sizes["point"]),
                       "rmse": float(np.sqrt(np.nanmean((sc["err_scratch"] - sc["theory_H1_err_scratch"]) ** 2)))}}  # fmt: skip
    for tag, _, _ in HYPS:
        agree, bal, n = sign_stats(tr, tag)
        ind = in_domain(tr, tag)
        t_in = tr.isel(point=np.flatnonzero(ind))
        out[tag] = {"r2_err_transfer": r2(t_in["err_transfer"], t_in[f"theory_{tag}_err_transfer"]),
                    "rmse_err_transfer": rmse(t_in["err_transfer"], t_in[f"theory_{tag}_err_transfer"]),
                    "r2_gain": r2(t_in["gain"], t_in[f"theory_{tag}_gain"]), "sign_agreement": agree,
                    "balanced_accuracy": bal, "n_significant": n, "n_in_domain": int(ind.sum()),
                    "n_out_of_domain": int((~ind).sum())}  # fmt: skip
    for tag, _ in TRIVIAL:
        agree, bal, n = sign_stats(tr, tag)
        out[tag] = {"sign_agreement": agree, "balanced_accuracy": bal, "n_significant": n}
    return out
