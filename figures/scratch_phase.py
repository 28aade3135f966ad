"""Figure 1: the scratch phase diagram (benign vs harmful overfitting, docs/theory.md section 1).

Scratch alone: transfer.alpha = 0 (the transfer model is then the scratch model, bit for
bit), a = 0 (the target signal is v_T, ||mu_T|| = b_T), and a one-step upstream stage on two
samples (irrelevant to scratch).  Exact conditional test errors, mean over seeds.

(a) over (n_T, ||mu_T||) at d = 1000; (b) over (d, ||mu_T||) at n_T = 20.  Solid line: the
theory's boundary n ||mu||^4 = C sigma_p^4 d, with C the SNR2 at which the shipped
calibration (``theory.load_calibration()``, fitted on other scratch runs) gives error 0.25;
dashed line: where the measured error crosses 0.25.
(c) every cell of (a) and (b) against SNR2 = n ||mu||^4 / (sigma_p^4 d), with error bars
(s.e. over seeds), and the calibrated laws: the collapse onto one curve of SNR2.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from figures import common as C
from figures import plotting as P

import matplotlib.pyplot as plt  # noqa: E402
import theory  # noqa: E402
from theory.scratch import norm_ppf  # noqa: E402

NAME = "scratch_phase"
N_T = [5, 10, 20, 40, 80]
D = [250, 1000, 4000]  # each d (and n_T) is a compilation (~25 s): few values
NORMS = [0.6, 0.8, 1.1, 1.5, 2.0, 2.7, 3.6, 4.8]
LEVEL = 0.25  # the error that defines the boundary
#: Seeds per cell: the s.e. is <= 0.013 at 8 seeds against errors spanning 0-0.5, and every
#: (n_T, d) pair is a compilation, so the budget goes to cells rather than seeds.
SEEDS = 8


def scratch_base(base, quick: bool):
    """alpha = 0, a = 0 (signal on v_T only); upstream irrelevant: 1 step on 2 samples (the
    quick version keeps the quick base's upstream, to share its compilation)."""
    exp = base.set(**{"transfer.alpha": 0.0, "task.a": 0.0})
    return exp if quick else exp.set(**{"upstream.steps": 1, "n_source": 2})


def compute(config=None, quick: bool = False):
    base = scratch_base((C.quick_base() if quick else C.prototype()) if config is None else config, quick)
    seeds = C.SEEDS_QUICK if quick else SEEDS
    norms = [1.0, 2.0, 4.0] if quick else NORMS
    n_T = [base.n_target] if quick else N_T
    dd = [base.task.d] if quick else D
    pn = C.run_sweep(base, {"n_target": n_T, "task.b_T": norms}, seeds, f"{NAME} (n_T, ||mu_T||)")
    pd = C.run_sweep(base, {"task.d": dd, "task.b_T": norms}, seeds, f"{NAME} (d, ||mu_T||)")
    cal = theory.load_calibration()
    return C.combine({"n": pn, "d": pd}, snr2_boundary=boundary_snr2(cal), law=cal.default)


def boundary_snr2(cal=None, level: float = LEVEL) -> float:
    """C: the SNR2 at which the calibrated default law gives error ``level`` (p = 0)."""
    cal = theory.load_calibration() if cal is None else cal
    fit = cal.fit()
    z = -float(norm_ppf(level))  # Phi(-c SNR2^k) = level  <=>  c SNR2^k = z
    if fit.law == "exp":
        return float(-fit.estimate[0] * np.log(2 * level))
    c, k = fit.estimate[0], (fit.k if fit.law == "gauss" else fit.estimate[1])
    return float((z / c) ** (1.0 / k))


def _heatmap(ax, fig, err, se, norms, rows, row_label, Cb, n_of, d_of, sigma_p, title):
    labels = [[f"{err[i, j]:.2f}\n±{se[i, j]:.3f}" for j in range(len(norms))] for i in range(len(rows))]
    im, xe, ye = P.log_heatmap(ax, norms, rows, err, labels, P.SEQ_CMAP, 0.0, 0.5)
    # theory: n ||mu||^4 = C sigma_p^4 d  <=>  ||mu|| = (C sigma_p^4 d / n)^(1/4)
    yf = np.geomspace(ye[0], ye[-1], 100)
    mu_b = (Cb * sigma_p**4 * d_of(yf) / n_of(yf)) ** 0.25
    ax.plot(mu_b, yf, color="w", linewidth=4.5)
    ax.plot(mu_b, yf, color="k", linewidth=2.2, label=f"theory: $n\\|\\mu\\|^4 = C\\sigma_p^4 d$, C = {Cb:.3f}")
    # measured: where the mean error crosses LEVEL (log-linear interpolation along ||mu||)
    if len(rows) > 1:
        xs = np.full(len(rows), np.nan)
        for i in range(len(rows)):
            e = err[i]
            for j in range(len(norms) - 1):
                if (e[j] - LEVEL) * (e[j + 1] - LEVEL) <= 0 and e[j] != e[j + 1]:
                    t = (e[j] - LEVEL) / (e[j] - e[j + 1])
                    xs[i] = np.exp(np.log(norms[j]) + t * (np.log(norms[j + 1]) - np.log(norms[j])))
                    break
        ax.plot(xs, rows, color="w", linewidth=4.5, linestyle="-")
        ax.plot(xs, rows, color="#d62728", linewidth=2.2, linestyle="--", marker="o", markersize=4,
                label=f"measured: error = {LEVEL}")  # fmt: skip
    ax.set_xticks(norms, [f"{v:g}" for v in norms])
    ax.set_yticks(rows, [f"{v:g}" for v in rows])
    ax.minorticks_off()
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    ax.set_xlabel(P.SYMBOLS["norm_mu_T"])
    ax.set_ylabel(row_label)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, frameon=False)
    return im


def plot(ds, out_dir):
    pn, pd = C.panel(ds, "n"), C.panel(ds, "d")
    Cb = float(ds.attrs["snr2_boundary"])
    base = C.exp_of(pn.attrs["config"])
    sp = base.task.sigma_p
    en, sn = C.mean_se(pn["err_scratch"], C.valid(pn))  # (n_T, b_T)
    ed, sd = C.mean_se(pd["err_scratch"], C.valid(pd))  # (d, b_T)
    nT, dd = pn["n_target"].values, pd["task.d"].values
    norms = pn["task.b_T"].values
    S = pn.sizes["seed"]

    fig, axs = plt.subplots(1, 3, figsize=(17, 5.4), gridspec_kw={"width_ratios": [1, 1, 0.95]}, layout="constrained")
    im = _heatmap(axs[0], fig, en, sn, norms, nT, P.SYMBOLS["n_target"], Cb, lambda y: y,
                  lambda y: base.task.d * np.ones_like(y), sp,
                  f"(a) scratch test error, $d$ = {base.task.d} (mean ± s.e., {S} seeds)")  # fmt: skip
    _heatmap(axs[1], fig, ed, sd, norms, dd, P.SYMBOLS["task.d"], Cb, lambda y: base.n_target * np.ones_like(y),
             lambda y: y, sp, f"(b) scratch test error, $n_T$ = {base.n_target}")  # fmt: skip
    cb = fig.colorbar(im, ax=axs[:2], pad=0.015, fraction=0.03)
    cb.set_label(P.LABEL_ERR + " (scratch)")

    # (c) collapse on SNR2
    ax = axs[2]
    cal = theory.load_calibration()
    s_all = []
    cols = P.line_colors(len(nT))
    for i, n in enumerate(nT):
        s = theory.snr2(n, norms, sp, base.task.d)
        s_all.append(s)
        ax.errorbar(s, en[i], yerr=sn[i], color=cols[i], marker="o", linestyle="none", label=f"(a) $n_T$ = {n:g}")
    cold = P.line_colors(len(dd), "cividis")
    for i, d in enumerate(dd):
        s = theory.snr2(base.n_target, norms, sp, d)
        s_all.append(s)
        ax.errorbar(s, ed[i], yerr=sd[i], color=cold[i], marker="s", markerfacecolor="none", linestyle="none",
                    label=f"(b) $d$ = {d:g}")  # fmt: skip
    s_all = np.concatenate(s_all)
    sf = np.geomspace(s_all.min() / 1.5, s_all.max() * 1.5, 200)
    fit = cal.fit()
    lab = {"gauss_free": f"$\\Phi(-{fit.estimate[0]:.2f}\\,\\mathrm{{SNR2}}^{{{fit.estimate[-1]:.2f}}})$"}.get(fit.law, fit.law)
    ax.plot(sf, cal.error(sf), color="k", linewidth=2, label=f"theory (calibrated): {lab}")
    if "gauss" in cal.fits and cal.default != "gauss":
        g = cal.fit("gauss")
        ax.plot(sf, cal.error(sf, law="gauss"), color="k", linestyle=":", linewidth=1.5,
                label=f"theory, $k = 1/2$: $\\Phi(-{g.estimate[0]:.2f}\\sqrt{{\\mathrm{{SNR2}}}})$")  # fmt: skip
    ax.axhline(LEVEL, color="0.5", linewidth=0.8)
    ax.axvline(Cb, color="0.5", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(P.SYMBOLS["snr2"])
    ax.set_ylabel(P.LABEL_ERR + " (scratch)")
    ax.set_ylim(-0.01, 0.52)
    ax.set_title("(c) all cells against SNR2 (± s.e.)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=9, frameon=False)
    return fig


def summary(ds) -> dict:
    pn, pd = C.panel(ds, "n"), C.panel(ds, "d")
    base = C.exp_of(pn.attrs["config"])
    cal = theory.load_calibration()
    rows = []
    for p, rowdim in ((pn, "n_target"), (pd, "task.d")):
        e, s = C.mean_se(p["err_scratch"], C.valid(p))
        for i, r in enumerate(p[rowdim].values):
            for j, b in enumerate(p["task.b_T"].values):
                n = r if rowdim == "n_target" else base.n_target
                d = r if rowdim == "task.d" else base.task.d
                s2 = float(theory.snr2(n, b, base.task.sigma_p, d))
                rows.append((s2, float(e[i, j]), float(s[i, j]), float(cal.error(s2))))
    arr = np.array(rows)
    resid = arr[:, 1] - arr[:, 3]
    return {"C": float(ds.attrs["snr2_boundary"]), "rmse": float(np.sqrt(np.mean(resid**2))),
            "max_abs": float(np.max(np.abs(resid))), "n_cells": len(rows), "max_se": float(arr[:, 2].max())}  # fmt: skip


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
