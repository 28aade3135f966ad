"""Fit H5's few empirical constants and write its domain (docs/theory.md sections 5 and 8).

    .venv/bin/python scripts/fit_theory.py [--families theory/families.json] [--out theory/h5.json]

Inputs: the calibration grid's records (``scripts/calibrate_families.py``, root seed 31337)
and the scratch calibration points of ``theory/calibration.json`` (root seed 0).  Never the
check grid.  Fits, in this order, each with everything before it fixed:

1. the scratch law err = Phi(-c r^(2k)) in H5's derived SNR units r (``theory.h5_model.parts``), on
   the scratch points with p = 0 (``theory.scratch.calibrate``, law gauss_free, in r^2);
2. beta, the label-noise exponent of the signal ((1 - 2p)^beta), on the scratch points with
   p > 0 (least squares over a grid of beta);
3. kappa = 1 + c f^q / (m (P - 1)), f = k/m, on the fine-tuned (not frozen) transfer cells: each
   cell's measured transfer SNR (read relative to its measured scratch SNR) gives kappa, c
   is least squares (residuals in SNR units) for each q of a grid, the q with the smallest
   RMSE is kept.

The scratch points are the alpha = 0 blocks, the scratch model of every transfer cell (one
per distinct scratch configuration: the scratch run does not depend on the upstream fields)
and the shipped scratch calibration.

Then writes ``theory/h5.json`` (constants, fit diagnostics, the command) and the "h5" entry
of ``theory/domains.json``: the range every numeric field spans over the calibration grid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

import theory
from simtransfer import Experiment
from theory import h5_model as H5
from theory.scratch import calibrate

UPSTREAM_ONLY = ["n_S", "b_S", "eta_up", "T_up", "eta_up*T_up", "d/n_S", "m_up", "policy", "freeze", "rescale",
                 "optimizer_up"]  # fmt: skip
#: Numeric fields and quantities whose calibration range bounds H5's domain.
RANGED = ["d", "n_S", "n_T", "m", "m_up", "P", "a", "b_S", "b_T", "s", "sigma_p", "alpha", "label_flip", "sigma_0",
          "rescale", "eta_up", "eta_down", "eta_up*T_up", "eta_down*T_down", "d/n_S", "d/n_T"]  # fmt: skip


def _settings(fam):
    """One theory.Setting per recorded cell (base, block's static part, the cell's values)."""
    return [theory.setting_of(Experiment().set(**{**fam["base"], **fam["static"][c["block"]], **c["values"]}))
            for c in fam["cells"]]  # fmt: skip


def _scratch_points(fam, cal_path="theory/calibration.json"):
    """(Setting, err, se, block) of every scratch measurement: the family grid's alpha = 0
    blocks, the scratch model of its transfer cells (deduplicated) and the shipped scratch
    calibration's points."""
    pts, seen = [], set()
    for c, st in zip(fam["cells"], _settings(fam)):
        key = (st.b_T, st.s * st.a, st.d, st.n_T, st.m, st.P, st.sigma_0, st.eta_down, st.T_down, st.label_flip,
               st.sigma_p)  # what the scratch model depends on
        if key in seen:
            continue
        seen.add(key)
        pts.append((st, c["err_scratch"], c["se_err_scratch"], c["block"]))
    cal = json.load(open(cal_path))
    for p in cal["points"]:
        st = theory.Setting(a=0.0, b_T=float(p["norm_mu"]), d=int(p["d"]), n_T=int(p["n"]), alpha=0.0)
        pts.append((st, p["err"], p["se"], "calibration.json"))
    return pts


def fit(fam) -> dict:
    consts = {"law": {"c": 1.0, "k": 0.5, "beta": 0.0}, "kappa": {"c": 0.0, "q": 1.0}}
    pts = _scratch_points(fam)
    r = np.array([H5.parts(st, consts)["snr_scratch"] for st, *_ in pts])
    err = np.array([e for _, e, _, _ in pts])
    se = np.array([s for _, _, s, _ in pts])
    p = np.array([st.label_flip for st, *_ in pts])
    clean = p == 0
    law = calibrate(r[clean] ** 2, err[clean], se[clean], law="gauss_free", bootstrap=200, seed=1)
    consts["law"].update(c=law.estimate[0], k=law.estimate[1])
    # 2. beta on p > 0 scratch points
    noisy = ~clean
    betas = np.round(np.arange(0.0, 4.01, 0.05), 3)

    def rmse_beta(b):
        cc = {**consts, "law": {**consts["law"], "beta": float(b)}}
        pred = [H5.law_error(H5.parts(pts[i][0], cc)["snr_scratch"], p[i], cc) for i in np.flatnonzero(noisy)]
        return float(np.sqrt(np.mean((np.array(pred) - err[noisy]) ** 2)))

    by_beta = {float(b): rmse_beta(b) for b in betas}
    beta = min(by_beta, key=by_beta.get)
    consts["law"]["beta"] = beta
    pred_sc = np.array([H5.law_error(H5.parts(pt[0], consts)["snr_scratch"], pi, consts) for pt, pi in zip(pts, p)])
    by_block = {}
    for (_, _, _, blk), e, q in zip(pts, err, pred_sc):
        by_block.setdefault(blk, []).append(q - e)
    # 3. kappa on fine-tuned transfer cells
    tr = [(c, st) for c, st in zip(fam["cells"], _settings(fam)) if c["block"].startswith("tr-")]
    rows = []
    for c, st in tr:
        if st.k == 0 or st.freeze:
            continue
        pr = H5.parts(st, consts)
        r_sc_meas = H5.law_snr(c["err_scratch"], st.label_flip, consts)
        if r_sc_meas < 0.1 or pr["S_sc"] <= 0:
            continue
        r_tr = H5.law_snr(c["err_transfer"], st.label_flip, consts) * pr["snr_scratch"] / r_sc_meas
        kap = (r_tr * math.hypot(pr["N_inh"], pr["N_learn"]) - pr["S_inh"]) / pr["S_learn"]
        w = pr["S_learn"] / math.hypot(pr["N_inh"], pr["N_learn"])
        rows.append((st.k / st.m, kap, w, c["block"], st.m * (st.P - 1)))
    f = np.array([x[0] for x in rows])
    kap = np.array([x[1] for x in rows])
    w = np.array([x[2] for x in rows])  # d SNR / d kappa: residuals in SNR units
    m = np.array([x[4] for x in rows], float)
    by_q = {}
    for q in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0):
        x = f**q / m
        cc = float(np.sum(w * w * x * (kap - 1)) / np.sum(w * w * x * x))
        by_q[str(q)] = {"c": cc, "rmse_snr": float(np.sqrt(np.mean((w * (kap - 1 - cc * x)) ** 2)))}
    best = min(by_q, key=lambda e: by_q[e]["rmse_snr"])
    consts["kappa"] = {"c": by_q[best]["c"], "q": float(best)}
    kap_by_m = {}
    for fr, k_, _, blk, m in rows:  # m here is m (P - 1)
        kap_by_m.setdefault(f"m={m}, alpha={fr:.2g}", []).append(round(float(k_), 3))
    return {
        **consts,
        "fit": {
            "law": {"names": law.names, "estimate": law.estimate, "ci95_boot": law.ci95_boot, "rmse": law.rmse,
                    "n": law.n, "weights": law.extra.get("weights")},
            "beta": {"rmse_by_beta": {str(b): round(v, 5) for b, v in by_beta.items()}, "n": int(noisy.sum())},
            "scratch_bias_by_block": {b: {"n": len(v), "mean": float(np.mean(v)),
                                          "rmse": float(np.sqrt(np.mean(np.square(v))))}
                                      for b, v in by_block.items()},
            "kappa": {"by_q": by_q, "n": len(rows), "measured_by_m_alpha": kap_by_m},
        },
    }  # fmt: skip


def domain_of(fam) -> dict:
    """The h5 domain: ranges every numeric field spans over the calibration grid's cells (the
    transfer cells for the upstream fields, all cells for the others)."""
    sts = _settings(fam)
    trs = [st for st, c in zip(sts, fam["cells"]) if c["block"].startswith("tr-")]
    qs = theory.domain.QUANTITIES
    ranges = {}
    for f in RANGED:
        pool = trs if f in UPSTREAM_ONLY else sts
        vals = [qs[f](st) if f in qs else float(getattr(st, f)) for st in pool]
        ranges[f] = [min(vals), max(vals)]
    return {
        "source": f"the calibration grid of scripts/calibrate_families.py (root seed {fam['key']}, {len(sts)} cells)",
        "assumed": {"mode": ["inherit"], "optimizer_up": ["sgd"], "optimizer_down": ["sgd"], "activation": ["relu"],
                    "data": ["synthetic"], "policy": ["first", "random", "top_signal"]},
        "ranges": ranges,
        "upstream_only": UPSTREAM_ONLY,
    }  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="theory/families.json")
    ap.add_argument("--out", default="theory/h5.json")
    ap.add_argument("--domains", default="theory/domains.json")
    a = ap.parse_args(argv)
    fam = json.load(open(a.families))
    res = fit(fam)
    res["command"] = "scripts/fit_theory.py"
    res["inputs"] = {"families": os.path.basename(a.families), "key": fam["key"], "cells": len(fam["cells"]),
                     "scratch_calibration": "calibration.json (root seed 0)"}  # fmt: skip
    with open(a.out, "w") as fh:
        json.dump(res, fh, indent=1, default=float)
        fh.write("\n")
    doms = json.load(open(a.domains))
    doms["h5"] = domain_of(fam)
    with open(a.domains, "w") as fh:
        json.dump(doms, fh, indent=1)
        fh.write("\n")
    print(json.dumps({k: res[k] for k in ("law", "kappa")}, indent=1))
    print(json.dumps(res["fit"]["scratch_bias_by_block"], indent=1))
    print(json.dumps(res["fit"]["kappa"], indent=1)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
