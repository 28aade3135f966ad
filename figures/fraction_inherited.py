"""Figure 3: target test error against the inherited fraction alpha.

In the prototype's setup (figure 2), at a strong universal signal (a = 1, where transfer
helps) and a weak one (a = 0.35, where it hurts), for a small and a larger source sample
(n_S = 10: little effect either way; n_S = 160: a clear effect): the transfer model's exact
conditional test error (mean +- s.e. over paired seeds) against alpha = k/m, the scratch
model's error as a flat reference (band: mean +- s.e.; it depends neither on alpha nor on
n_S: same target data and fresh filters), and the theory's predictions from the
configuration alone (H1 corrected and H4; scratch: the calibrated law).
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

import matplotlib.pyplot as plt  # noqa: E402
import theory  # noqa: E402

NAME = "fraction_inherited"
ALPHAS = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
#: One panel per a (transfer helps, transfer hurts in figure 2), one curve per n_S.
A_PANELS = [1.0, 0.35]
N_S = [10, 160]
THEORY = [
    ("H1_corrected", "H1 corrected", "--"),
    ("H4", "H4", ":"),
]


def _pred(setting, tag):
    return C.predict(setting, tag)


def compute(config=None, quick: bool = False):
    base = (C.quick_base() if quick else C.prototype()) if config is None else config
    seeds = C.SEEDS_QUICK if quick else C.SEEDS
    a_panels = [1.0, 0.5] if quick else A_PANELS
    n_s = [base.n_source] if quick else N_S
    alphas = [0.25, 1.0] if quick else ALPHAS
    panels = {}
    for i, a in enumerate(a_panels):
        for n in n_s:
            panels[f"a{i}_n{n}"] = C.run_sweep(base.set(**{"n_source": n, "task.a": a}), {"transfer.alpha": alphas},
                                               seeds, f"{NAME} a = {a}, n_S = {n}")  # fmt: skip
    return C.combine(panels, a_panels=a_panels, n_S=n_s)


def plot(ds, out_dir):
    import json

    a_panels, n_s = json.loads(ds.attrs["a_panels"]), json.loads(ds.attrs["n_S"])
    fig, axs = plt.subplots(1, len(a_panels), figsize=(6.3 * len(a_panels), 5.2), layout="constrained", squeeze=False)
    cols = P.line_colors(len(n_s), "viridis")
    for i, a in enumerate(a_panels):
        ax = axs[0, i]
        gains = []
        for c, n in enumerate(n_s):
            p = C.panel(ds, f"a{i}_n{n}")
            ok = C.valid(p)
            al = p["transfer.alpha"].values
            et, ets = C.mean_se(p["err_transfer"], ok)
            g, gse = C.mean_se(p["gain"], ok)
            gains.append(f"$n_S$ = {n}: {g[-1]:+.3f} ± {gse[-1]:.3f}")
            exp = C.exp_of(p.attrs["config"])
            st = theory.setting_of(exp)
            m = exp.model.m
            if c == 0:
                es, ess = C.mean_se(p["err_scratch"].isel({"transfer.alpha": 0}), ok.isel({"transfer.alpha": 0}))
                ax.axhspan(es - ess, es + ess, color="0.75", alpha=0.7, linewidth=0)
                ax.axhline(es, color="0.35", linewidth=1.4, label=f"scratch, measured ({es:.3f} ± {ess:.3f})")
                ax.axhline(float(_pred(st, "H1_corrected").pred_err_scratch), color="0.35", linestyle="-.",
                           linewidth=1.2, label="scratch, theory (calibrated law)")  # fmt: skip
                lo, hi = es - ess, es + ess
            ax.errorbar(al, et, yerr=ets, color=cols[c], marker=P.MARKERS[c], linestyle="-", linewidth=1.8,
                        label=f"transfer, $n_S$ = {n}, measured")  # fmt: skip
            kk = np.arange(1, m + 1)
            for tag, lab, ls in THEORY:
                pred = [_pred(dataclasses.replace(st, alpha=k / m), tag).pred_err_transfer for k in kk]
                ax.plot(kk / m, pred, color=cols[c], linestyle=ls, linewidth=1.3, label=f"transfer, $n_S$ = {n}, {lab}")
            lo, hi = min(lo, np.nanmin(et - ets)), max(hi, np.nanmax(et + ets))
        ax.set_title(f"({'abcd'[i]}) $a$ = {a:g}; gain at $\\alpha$ = {al[-1]:g}:\n" + ", ".join(gains))
        ax.set_xlabel(P.SYMBOLS["transfer.alpha"] + " (inherited fraction k/m)")
        ax.set_ylabel(P.LABEL_ERR + " on the target")
        ax.set_xlim(0, 1.03)
        ax.set_ylim(max(0.0, lo - 0.15 * (hi - lo) - 0.01), hi + 0.15 * (hi - lo) + 0.01)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    return fig


def summary(ds) -> dict:
    import json

    out = {}
    for i, a in enumerate(json.loads(ds.attrs["a_panels"])):
        for n in json.loads(ds.attrs["n_S"]):
            p = C.panel(ds, f"a{i}_n{n}")
            ok = C.valid(p)
            g, gse = C.mean_se(p["gain"], ok)
            et, ets = C.mean_se(p["err_transfer"], ok)
            es, ess = C.mean_se(p["err_scratch"].isel({"transfer.alpha": 0}), ok.isel({"transfer.alpha": 0}))
            out[f"a={a}, n_S={n}"] = {"alpha": p["transfer.alpha"].values.tolist(), "err_transfer": et.round(4).tolist(),
                                      "se": ets.round(4).tolist(), "err_scratch": [round(float(es), 4), round(float(ess), 4)],
                                      "gain": g.round(4).tolist(), "gain_se": gse.round(4).tolist()}  # fmt: skip
    return out


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
