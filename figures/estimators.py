"""Figure: transferability estimators against the true transfer gain (issue 6).

Every seed scores the inherited (upstream) model before fine-tuning with LogME, the
DISCO-like spectral score, the task relatedness, the H-score (``simtransfer.nn.estimators``)
and the zero-shot error, and measures the paired gain err_scratch - err_transfer (exact
conditional errors).  Prototype setup (docs/theory.md section 3: d = 1000, n_T = 20, m = 10,
b_S = 0, b_T = 2, alpha = 0.5, T_up = 500, T_down = 300) at n_S = 160, over a grid that
spans positive and negative transfer: s in {-0.5, 0.5, 1}, a in {0.5, 0.7, 1, 1.4, 2},
sigma_p in {0.8, 1.25}.  n_S fixes array shapes, so each value is a compilation (~30 s
here): the sweep varies the traced fields a, s, sigma_p instead, which move the upstream
signal/noise balance as n_S does.  The gram backend (exact in distribution, ~4x faster
than the dense one at d = 1000) keeps the script within its time budget.

Panels 1-5: each score against the gain (means +- s.e. over paired seeds per grid point);
titles give the rank correlations across points (and across the s > 0 points alone:
anti-aligned tasks are easy to rank for a score that sees the sign) and within points,
with 95% bootstrap intervals (``simtransfer.experiments.testbed.evaluate_estimators``) and the cross-fitted balanced
accuracy of the sign threshold (dashed: the threshold fitted on every trial of the main
sweep).  Grey crosses: the "lucky Bob" sweep (Mohamud et al. 2025) at zero task
correlation (s = 0: the target signal is orthogonal to everything the source taught),
a in {0.5, 1, 2}, alpha in {0.5, 1}; "fooled" is the fraction of its trials without
positive transfer that the main sweep's threshold calls positive.  Panel 6: the errors
at s = 0: does transfer still beat random guessing (1/2) and scratch?
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from figures import common as C
from figures import plotting as P

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from simtransfer.experiments import testbed  # noqa: E402

NAME = "estimators"
N_S = 160
SEEDS = 12
S_VALUES = [-0.5, 0.5, 1.0]
A_VALUES = [0.5, 0.7, 1.0, 1.4, 2.0]
SIGMA_P = [0.8, 1.25]
LUCKY_A = [0.5, 1.0, 2.0]
LUCKY_ALPHA = [0.5, 1.0]
N_BOOT = 500
#: (testbed name, panel label, axis label)
PANELS = [
    ("logme", "LogME", "LogME (log evidence per sample)"),
    ("spectral", "spectral (DISCO-like)", r"spectral score $\sum_i \frac{\sigma_i}{\sum_j \sigma_j}\,\mathrm{acc}_i$"),
    ("relatedness", "task relatedness", r"relatedness $-(\Delta p + H(Y_T|\hat Y_S) + W_2/s)$"),
    ("hscore", "H-score", r"H-score tr$((\Sigma_f + \epsilon I)^{-1}\Sigma_{E[f|y]})$"),
    ("zeroshot", "zero-shot error", r"$-$err$_{zeroshot}$ (inherited model, before fine-tuning)"),
]
S_MARKERS = {-0.5: "v", 0.5: "s", 1.0: "o"}


def compute(config=None, quick: bool = False):
    base = (C.quick_base() if quick else C.prototype().set(n_source=N_S, backend="gram")) if config is None else config
    seeds = C.SEEDS_QUICK if quick else SEEDS
    if quick:
        grid, lucky = {"task.s": [-0.5, 1.0], "task.a": [0.5, 1.0]}, {"task.a": [1.0], "transfer.alpha": [1.0]}
    else:
        grid = {"task.s": S_VALUES, "task.a": A_VALUES, "task.sigma_p": SIGMA_P}
        lucky = {"task.a": LUCKY_A, "transfer.alpha": LUCKY_ALPHA}
    main = C.run_sweep(base, grid, seeds, f"{NAME} main sweep (s, a, sigma_p)")
    bob = C.run_sweep(base.set(**{"task.s": 0.0}), lucky, seeds, f"{NAME} lucky Bob (s = 0)")
    n_boot = 50 if quick else N_BOOT
    ev = testbed.evaluate_estimators(main, n_boot=n_boot)
    aligned = main.sel({"task.s": [s for s in main["task.s"].values if s > 0]})
    ev_pos = testbed.evaluate_estimators(aligned, n_boot=n_boot)
    fo = testbed.fooled(main, bob, n_boot=n_boot)
    tables = {"evaluation": ev, "evaluation_s_pos": ev_pos, "fooled": fo}
    return C.combine({"main": main, "lucky": bob}, **{k: v.to_json(orient="records") for k, v in tables.items()})


def _table(ds, key):
    import pandas as pd

    return pd.DataFrame(json.loads(ds.attrs[key]))


def _val(df, est, metric):
    r = df[(df.estimator == est) & (df.metric == metric)].iloc[0]
    return r.value, r.lo, r.hi


def _fmt(v, lo, hi):
    return f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else f"{v:+.2f}"


def plot(ds, out_dir=None):
    main, bob = C.panel(ds, "main"), C.panel(ds, "lucky")
    ev, ev_pos = _table(ds, "evaluation"), _table(ds, "evaluation_s_pos")
    fo = _table(ds, "fooled").set_index("estimator")
    scores_m, scores_b = testbed.scores_of(main), testbed.scores_of(bob)
    ok_m, ok_b = C.valid(main), C.valid(bob)
    g, gse = C.mean_se(main["gain"], ok_m)  # (s, a, sigma_p)
    gb, gbse = C.mean_se(bob["gain"], ok_b)
    svals, avals = main["task.s"].values, main["task.a"].values
    spvals = main["task.sigma_p"].values if "task.sigma_p" in main.dims else [None]
    cols = dict(zip(avals, P.line_colors(len(avals), P.SEQ_CMAP)))

    fig, axs = plt.subplots(2, 3, figsize=(14.5, 9.2), layout="constrained")
    for k, (est, label, xlabel) in enumerate(PANELS):
        ax = axs.flat[k]
        sc, sse = C.mean_se(scores_m[est].transpose(*main["gain"].dims), ok_m)
        for idx in np.ndindex(g.shape):
            s, a = svals[idx[0]], avals[idx[1]]
            sp_i = idx[2] if len(idx) > 2 else 0
            filled = sp_i == 0
            ax.errorbar(sc[idx], g[idx], xerr=sse[idx], yerr=gse[idx], marker=S_MARKERS.get(float(s), "o"),
                        color=cols[a], markerfacecolor=cols[a] if filled else "white", markeredgecolor=cols[a],
                        linestyle="none", elinewidth=0.8, markersize=6, zorder=3)  # fmt: skip
        bsc, bsse = C.mean_se(scores_b[est].transpose(*bob["gain"].dims), ok_b)
        ax.errorbar(bsc.ravel(), gb.ravel(), xerr=bsse.ravel(), yerr=gbse.ravel(), marker="x", color="0.35",
                    linestyle="none", elinewidth=0.8, markersize=7, zorder=4)  # fmt: skip
        thr = float(fo.loc[est, "threshold"])
        if np.isfinite(thr):
            ax.axvline(thr, color="k", linestyle="--", linewidth=1.0)
        ax.axhline(0, color="0.5", linewidth=0.8)
        rho, tau, rho_w = (_val(ev, est, m) for m in ("spearman_points", "kendall_points", "spearman_seeds"))
        bal = _val(ev, est, "sign_bal_acc")
        rho_pos = _val(ev_pos, est, "spearman_points")[0]
        ax.set_title(f"{label}\n" + r"points: $\rho$ = " + _fmt(*rho) + r", $\tau$ = " + f"{tau[0]:+.2f}"
                     + r" ($s > 0$: $\rho$ = " + f"{rho_pos:+.2f})\n"
                     + r"within points: $\bar\rho$ = " + _fmt(*rho_w) + "\n"
                     + f"sign bal. acc. {bal[0]:.2f}; fooled at $s = 0$: {fo.loc[est, 'fooled']:.0%}",
                     fontsize=9.5)  # fmt: skip
        ax.set_xlabel(xlabel)
        if k % 3 == 0:
            ax.set_ylabel(P.LABEL_GAIN)

    # panel 6: lucky Bob, s = 0
    ax = axs.flat[5]
    dims = [d for d in bob["gain"].dims if d != "seed"]
    labels = []
    for j, idx in enumerate(np.ndindex(*(bob.sizes[d] for d in dims))):
        at = {d: bob[d].values[i] for d, i in zip(dims, idx)}
        labels.append(", ".join(f"{_short(d)}={v:g}" for d, v in at.items()))
        for off, (q, mk, lab) in enumerate((("err_scratch", "s", "scratch"), ("err_transfer", "o", "transfer"),
                                             ("err_zeroshot", "^", "zero-shot (inherited)"))):  # fmt: skip
            m, se = C.mean_se(bob[q].isel(dict(zip(dims, idx))), ok_b.isel(dict(zip(dims, idx))))
            ax.errorbar(j + 0.22 * (off - 1), m, yerr=se, marker=mk, color=("0.6", "k", "0.35")[off],
                        markerfacecolor=("white", "k", "0.35")[off], linestyle="none", label=lab if j == 0 else None)
    ax.axhline(0.5, color="0.5", linestyle=":", linewidth=1.0, label="random guessing")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8.5)
    ax.set_ylabel(P.LABEL_ERR)
    win = float((bob["gain"].where(ok_b) > 0).sum() / ok_b.sum())
    ax.set_title(f"lucky Bob: $s = 0$ (task correlation 0)\ntransfer beats scratch on {win:.0%} of seeds; "
                 f"mean gain {float(np.nanmean(gb)):+.3f}", fontsize=9.5)  # fmt: skip
    ax.legend(loc="center right", fontsize=8.5)

    handles = [Line2D([], [], marker=S_MARKERS.get(float(s), "o"), color="0.3", linestyle="none", label=f"$s$ = {s:+g}")
               for s in svals]  # fmt: skip
    handles += [Line2D([], [], color=cols[a], linewidth=5, label=f"$a$ = {a:g}") for a in avals]
    if spvals[0] is not None:
        handles += [Line2D([], [], marker="o", color="0.3", markerfacecolor=f, linestyle="none",
                           label=rf"$\sigma_p$ = {sp:g}") for sp, f in zip(spvals, ("0.3", "white"))]  # fmt: skip
    handles += [Line2D([], [], marker="x", color="0.35", linestyle="none", label="$s = 0$ (lucky Bob)"),
                Line2D([], [], color="k", linestyle="--", label="sign threshold (fitted)")]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False)
    base = C.exp_of(main.attrs["config"])
    fig.suptitle(f"Transferability scores vs true gain: $d$ = {base.task.d}, $n_S$ = {base.n_source}, "
                 f"$n_T$ = {base.n_target}, $m$ = {base.model.m}, $\\alpha$ = {base.transfer.alpha:g}, "
                 f"{main.sizes['seed']} seeds a point", fontsize=10.5)  # fmt: skip
    return fig


def _short(d: str) -> str:
    return {"task.a": "a", "transfer.alpha": "α", "task.s": "s", "task.sigma_p": "σp"}.get(d, d)


def summary(ds) -> dict:
    ev, ev_pos, fo = _table(ds, "evaluation"), _table(ds, "evaluation_s_pos"), _table(ds, "fooled")
    bob = C.panel(ds, "lucky")
    ok = C.valid(bob)
    out = {"evaluation": {}, "evaluation_s_pos": {}, "fooled": {}, "lucky_bob": {}}
    for key, df in (("evaluation", ev), ("evaluation_s_pos", ev_pos)):
        for r in df.itertuples():
            out[key].setdefault(r.estimator, {})[r.metric] = [round(float(x), 3) for x in (r.value, r.lo, r.hi)]
    for r in fo.itertuples():
        out["fooled"][r.estimator] = {"fooled": round(float(r.fooled), 3), "ci": [round(float(r.fooled_lo), 3),
                                      round(float(r.fooled_hi), 3)], "pred_pos": round(float(r.pred_pos), 3),
                                      "n_neg": int(r.n_neg), "n_pos": int(r.n_pos)}  # fmt: skip
    dims = [d for d in bob["gain"].dims if d != "seed"]
    for idx in np.ndindex(*(bob.sizes[d] for d in dims)):
        sel = dict(zip(dims, idx))
        key = ", ".join(f"{d}={float(bob[d].values[i]):g}" for d, i in sel.items())
        b, o = bob.isel(sel), ok.isel(sel)
        out["lucky_bob"][key] = {q: [round(float(v), 4) for v in C.mean_se(b[q], o)]
                                 for q in ("err_transfer", "err_scratch", "err_zeroshot", "gain")}  # fmt: skip
        out["lucky_bob"][key]["win_rate"] = round(float((b["gain"].where(o) > 0).sum() / o.sum()), 3)
    return out


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
