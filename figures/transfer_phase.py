"""Figure 2: the transfer phase diagram over (n_S, a), and the upstream budget T_up.

(a) heatmap of the measured transfer gain err_scratch - err_transfer (exact conditional
errors, mean over paired seeds) over the source sample size n_S and the universal signal
norm a, in the prototype's setup (docs/theory.md section 3: d = 1000, n_T = 20, m = 10, b_S = 0,
b_T = 2, s = +1, alpha = 0.5, T_up = 500, T_down = 300); cells with gain < -2 s.e.
(negative transfer) are hatched; the lines are the transfer-beats-scratch boundaries the
theory predicts from the configuration alone (H1 with lambda = inf and with the default
lambda, the empirical corrected H1, and H4), on a fine grid.
(b) the same gains with error bars (s.e. over seeds) against a, with H4's predicted gain
(``theory.h4``: lambda and the zero-shot factor derived, kappa fitted on another grid).
(c) the upstream budget at n_S = 640: gain against T_up in {100, 500, 2000}, with the
predictions of H2 and H4 (the hypotheses that depend on T_up; H1's do not).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from figures import common as C
from figures import plotting as P

import matplotlib.pyplot as plt  # noqa: E402  (after plotting: Agg backend)
import theory  # noqa: E402

NAME = "transfer_phase"
N_S = [10, 40, 160, 640]
A = [0.25, 0.35, 0.5, 0.7, 1.0]
T_UP = [100, 2000]  # with the base T_up = 500 of panel (a)
A_TUP = [0.5, 0.7]  # a values of the T_up panel (near the boundary, where the sign can flip)
N_S_TUP = 640

#: The configuration-only hypotheses whose boundaries are drawn (sweep variable tags).
BOUNDARIES = [
    ("H1", "H1, $\\lambda=\\infty$", ":"),
    ("H1_default_lambda", "H1, default $\\lambda$", "--"),
    ("H1_corrected", "H1 corrected", "-"),
    ("H4", "H4", "-."),
]


def grids(base, quick: bool):
    if quick:
        return {"n_source": [base.n_source], "task.a": [0.5, 1.0]}, {"upstream.steps": [base.upstream.steps], "task.a": [1.0]}, base.n_source
    return {"n_source": N_S, "task.a": A}, {"upstream.steps": T_UP, "task.a": A_TUP}, N_S_TUP


def compute(config=None, quick: bool = False):
    base = (C.quick_base() if quick else C.prototype()) if config is None else config
    seeds = C.SEEDS_QUICK if quick else C.SEEDS
    g_main, g_tup, n_tup = grids(base, quick)
    main = C.run_sweep(base, g_main, seeds, f"{NAME} (n_S, a)")
    tup = C.run_sweep(base.set(n_source=n_tup), g_tup, seeds, f"{NAME} T_up at n_S = {n_tup}")
    return C.combine({"main": main, "tup": tup}, n_S_tup=n_tup)


def theory_gain(setting, hyp: str) -> float:
    return C.predict(setting, hyp).pred_gain


def theory_margin(setting, hyp: str) -> float:
    """SNR_transfer - SNR_scratch (its sign is the predicted sign, calibration-free)."""
    p = C.predict(setting, hyp)
    return p.snr_transfer - p.snr_scratch


def plot(ds, out_dir):
    main, tup = C.panel(ds, "main"), C.panel(ds, "tup")
    n_tup = int(ds.attrs["n_S_tup"])
    ok = C.valid(main)
    g, gse = C.mean_se(main["gain"], ok)  # (n_S, a)
    nS = main["n_source"].values
    a = main["task.a"].values
    base = C.exp_of(main.attrs["config"])
    st = theory.setting_of(base)

    fig, axs = plt.subplots(1, 3, figsize=(15.5, 5.0), gridspec_kw={"width_ratios": [1.25, 1, 0.8]}, layout="constrained")
    # (a) heatmap
    ax = axs[0]
    lim = max(np.nanmax(np.abs(g)), 1e-3)
    labels = [[f"{g[i, j]:+.3f}\n±{gse[i, j]:.3f}" for j in range(len(a))] for i in range(len(nS))]
    im, xe, ye = P.log_heatmap(ax, a, nS, g, labels, P.DIV_CMAP, -lim, lim)
    for i in range(len(nS)):  # hatch the cells of significantly negative transfer
        for j in range(len(a)):
            if g[i, j] < -2 * gse[i, j]:
                ax.add_patch(plt.Rectangle((xe[j], ye[i]), xe[j + 1] - xe[j], ye[i + 1] - ye[i], fill=False,
                                           hatch="///", edgecolor="0.15", linewidth=1.2))  # fmt: skip
    # theory boundaries on a fine grid
    fa = np.geomspace(xe[0], xe[-1], 80)
    fn = np.geomspace(ye[0], ye[-1], 80)
    handles = []
    for tag, lab, ls in BOUNDARIES:
        Z = np.array([[theory_margin(dataclasses.replace(st, a=float(x), n_S=float(y)), tag) for x in fa] for y in fn])
        if np.nanmin(Z) < 0 < np.nanmax(Z):
            ax.contour(fa, fn, Z, levels=[0.0], colors="k", linestyles=ls, linewidths=2.0)
        handles.append(plt.Line2D([], [], color="k", linestyle=ls, linewidth=2.0, label=lab + " boundary"))
    handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, hatch="///", edgecolor="0.15",
                                 label="gain < -2 s.e. (negative transfer)"))  # fmt: skip
    ax.set_xticks(a, [f"{v:g}" for v in a])
    ax.set_yticks(nS, [f"{v:g}" for v in nS])
    ax.minorticks_off()
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    ax.set_xlabel(P.SYMBOLS["task.a"])
    ax.set_ylabel(P.SYMBOLS["n_source"])
    ax.set_title(f"(a) measured gain (mean ± s.e., {main.sizes['seed']} seeds);\nlines: predicted boundary (gain = 0)")
    cb = fig.colorbar(im, ax=ax, pad=0.02)
    cb.set_label(LABEL_GAIN_SHORT)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9, frameon=False)

    # (b) gain vs a, per n_S, with H1-corrected's prediction
    ax = axs[1]
    cols = P.line_colors(len(nS))
    fine = np.geomspace(a[0], a[-1], 60)
    for i, n in enumerate(nS):
        ax.errorbar(a, g[i], yerr=gse[i], color=cols[i], marker=P.MARKERS[i], linestyle="-",
                    label=f"$n_S$ = {n:g}")  # fmt: skip
        pred = [theory_gain(dataclasses.replace(st, a=float(x), n_S=float(n)), "H4") for x in fine]
        ax.plot(fine, pred, color=cols[i], linestyle="--", linewidth=1.2)
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xticks(a, [f"{v:g}" for v in a])
    ax.minorticks_off()
    ax.set_xlabel(P.SYMBOLS["task.a"])
    ax.set_ylabel(P.LABEL_GAIN)
    ax.plot([], [], color="0.3", linestyle="--", linewidth=1.2, label="H4 (theory)")
    ax.legend(loc="best")
    ax.set_title("(b) measured (markers, ± s.e.) vs H4's prediction (dashed)")

    # (c) T_up at n_S = n_tup
    ax = axs[2]
    okt = C.valid(tup)
    gt, gtse = C.mean_se(tup["gain"], okt)  # (T_up, a)
    T = list(tup["upstream.steps"].values)
    T0 = base.upstream.steps
    at = tup["task.a"].values
    colt = P.line_colors(len(at), "cividis")
    Tf = np.geomspace(min(T + [T0]) * 0.8, max(T + [T0]) * 1.25, 40)
    for j, av in enumerate(at):
        xs, ys, es = [float(t) for t in T], list(gt[:, j]), list(gtse[:, j])
        i_main = np.flatnonzero(np.isclose(a, av))
        if n_tup in nS and i_main.size and T0 not in T:  # the base T_up from panel (a): same seeds, same config
            k = int(np.flatnonzero(nS == n_tup)[0])
            xs.append(float(T0)), ys.append(g[k, i_main[0]]), es.append(gse[k, i_main[0]])
        order = np.argsort(xs)
        ax.errorbar(np.array(xs)[order], np.array(ys)[order], yerr=np.array(es)[order], color=colt[j],
                    marker=P.MARKERS[j], label=f"$a$ = {av:g}")  # fmt: skip
        s_j = dataclasses.replace(st, a=float(av), n_S=float(n_tup))
        ax.plot(Tf, [theory_gain(dataclasses.replace(s_j, T_up=float(t)), "H2") for t in Tf], color=colt[j],
                linestyle="--", linewidth=1.2)  # fmt: skip
        ax.plot(Tf, [theory_gain(dataclasses.replace(s_j, T_up=float(t)), "H4") for t in Tf], color=colt[j],
                linestyle="-.", linewidth=1.2)  # fmt: skip
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xticks(sorted(set(T + [T0])), [f"{v:g}" for v in sorted(set(T + [T0]))])
    ax.minorticks_off()
    ax.set_xlabel(P.SYMBOLS["upstream.steps"] + " (upstream GD steps)")
    ax.set_ylabel(P.LABEL_GAIN)
    ax.plot([], [], color="0.3", linestyle="--", linewidth=1.2, label="H2 (theory)")
    ax.plot([], [], color="0.3", linestyle="-.", linewidth=1.2, label="H4 (theory)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    ax.set_title(f"(c) upstream budget at $n_S$ = {n_tup}, $\\alpha$ = {base.transfer.alpha:g}")
    return fig


LABEL_GAIN_SHORT = r"gain $\mathrm{err}_{scratch} - \mathrm{err}_{transfer}$"


def summary(ds) -> dict:
    """Numbers quoted in the README."""
    main, tup = C.panel(ds, "main"), C.panel(ds, "tup")
    g, gse = C.mean_se(main["gain"], C.valid(main))
    gt, gtse = C.mean_se(tup["gain"], C.valid(tup))
    nS, a = main["n_source"].values, main["task.a"].values
    imax, imin = np.unravel_index(np.nanargmax(g), g.shape), np.unravel_index(np.nanargmin(g), g.shape)
    return {
        "gain": g.round(4).tolist(), "se": gse.round(4).tolist(), "n_S": nS.tolist(), "a": a.tolist(),
        "max": (float(g[imax]), float(gse[imax]), int(nS[imax[0]]), float(a[imax[1]])),
        "min": (float(g[imin]), float(gse[imin]), int(nS[imin[0]]), float(a[imin[1]])),
        "negative_cells": [(int(nS[i]), float(a[j])) for i, j in zip(*np.nonzero(g < -2 * gse))],
        "positive_cells": [(int(nS[i]), float(a[j])) for i, j in zip(*np.nonzero(g > 2 * gse))],
        "tup": {"T_up": tup["upstream.steps"].values.tolist(), "a": tup["task.a"].values.tolist(),
                "gain": gt.round(4).tolist(), "se": gtse.round(4).tolist()},
    }  # fmt: skip


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
