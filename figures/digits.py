"""Real images (issue 6): the transfer protocol on scikit-learn's 8x8 digits.

Target task 4-vs-7 (n_T = 10 images), learnt from scratch or after inheriting filters from
an upstream model trained on a *related* pair, 1-vs-7 (the digit 7 is class -1 in both;
the class-mean differences have cosine 0.61), or an *unrelated* one, 5-vs-8 (no digit in
common; cosine 0.02).  Images cut into four 4x4 quadrants (P = 4, d = 16; see
``simtransfer.config.digits``).  (a) target test error against the upstream sample size n_S at
alpha = 1; (b) against the inherited fraction alpha at n_S = 40.  Mean +- s.e. over paired
seeds; the scratch model does not depend on the source pair, n_S or alpha (same target
data and fresh filters at each seed), so one scratch band serves all curves.  The titles
give the paired transfer gain err_scratch - err_transfer (mean +- s.e.).
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
from simtransfer.config import digits  # noqa: E402

NAME = "digits"
TARGET = "4,7"
#: (panel tag, source pair, legend label, marker, line style)
PAIRS = [
    ("related", "1,7", "related source 1-vs-7", "o", "-"),
    ("unrelated", "5,8", "unrelated source 5-vs-8", "s", "--"),
]
N_S = [10, 40, 160]
ALPHA_N_S = 1.0
N_S_ALPHA = 40
ALPHAS = [0.0, 0.1, 0.3, 0.5, 0.7, 1.0]
SEEDS = 64


def base_config():
    """The README's digits configuration (``simtransfer.config.digits.experiment``), target 4-vs-7."""
    return digits.experiment(**{"task.target_digits": TARGET})


def quick_config():
    """Tiny version for the tests: 40 + 40 steps, m = 4."""
    return base_config().set(**{"model.m": 4, "upstream.steps": 40, "downstream.steps": 40,
                                "upstream.log_every": 20, "downstream.log_every": 20})  # fmt: skip


def compute(config=None, quick: bool = False):
    base = (quick_config() if quick else base_config()) if config is None else config
    seeds = C.SEEDS_QUICK if quick else SEEDS
    n_s = [20] if quick else N_S
    n_alpha = 20 if quick else N_S_ALPHA
    alphas = [0.0, 1.0] if quick else ALPHAS
    pairs = PAIRS[:1] if quick else PAIRS  # quick: one pair (one compilation)
    panels = {}
    for tag, src, *_ in pairs:
        exp = base.set(**{"task.source_digits": src})
        panels[f"ns_{tag}"] = C.run_sweep(exp.set(**{"transfer.alpha": ALPHA_N_S}), {"n_source": n_s}, seeds,
                                          f"{NAME} {src} -> {exp.task.target_digits}, vs n_S")  # fmt: skip
        panels[f"alpha_{tag}"] = C.run_sweep(exp.set(n_source=n_alpha), {"transfer.alpha": alphas}, seeds,
                                             f"{NAME} {src} -> {exp.task.target_digits}, vs alpha")  # fmt: skip
    return C.combine(panels, pairs=[p[:2] for p in pairs], target=base.task.target_digits, alpha_n_S=ALPHA_N_S,
                     n_S_alpha=n_alpha)  # fmt: skip


def _styles(ds):
    """(tag, source pair, label, marker, line style) of every pair in the dataset."""
    known = {p[1]: p for p in PAIRS}
    return [known.get(src, (tag, src, f"source {src}", "^", ":")) for tag, src in json.loads(ds.attrs["pairs"])]


def plot(ds, out_dir=None):
    target = ds.attrs["target"].replace(",", "-vs-")
    fig, axs = plt.subplots(1, 2, figsize=(11.5, 4.6), layout="constrained")
    for j, (kind, dim) in enumerate((("ns", "n_source"), ("alpha", "transfer.alpha"))):
        ax = axs[j]
        lo, hi, gains = np.inf, -np.inf, []
        for i, (tag, src, label, marker, ls) in enumerate(_styles(ds)):
            p = C.panel(ds, f"{kind}_{tag}")
            ok = C.valid(p)
            x = p[dim].values
            et, ets = C.mean_se(p["err_transfer"], ok)
            g, gse = C.mean_se(p["gain"], ok)
            if i == 0:  # scratch: the same at every point and for every source pair
                es, ess = C.mean_se(p["err_scratch"].isel({dim: 0}), ok.isel({dim: 0}))
                ax.axhspan(es - ess, es + ess, color="0.8", linewidth=0)
                ax.axhline(es, color="0.3", linewidth=1.4, linestyle="-.", label=f"scratch ({es:.3f} ± {ess:.3f})")
                lo, hi = es - ess, es + ess
            col = "0.0" if i == 0 else "0.45"
            ax.errorbar(x, et, yerr=ets, color=col, marker=marker, linestyle=ls, markerfacecolor="white" if i else col,
                        label=f"transfer, {label}")  # fmt: skip
            lo, hi = min(lo, np.nanmin(et - ets)), max(hi, np.nanmax(et + ets))
            gains.append(f"{tag} {g[-1]:+.3f} ± {gse[-1]:.3f}")
        if kind == "ns":
            ax.set_xscale("log")
            ax.set_xticks(x, [str(v) for v in x])
            ax.minorticks_off()
            ax.set_xlabel(P.SYMBOLS["n_source"] + " (upstream training images)")
            at = f"$n_S$ = {x[-1]}"
            ax.set_title(f"(a) target {target}, $\\alpha$ = {ds.attrs['alpha_n_S']:g}: error vs $n_S$\n"
                         f"gain at {at}: " + ", ".join(gains))  # fmt: skip
        else:
            ax.set_xlabel(P.SYMBOLS["transfer.alpha"] + " (inherited fraction k/m)")
            ax.set_xlim(-0.03, 1.03)
            at = f"$\\alpha$ = {x[-1]:g}"
            ax.set_title(f"(b) target {target}, $n_S$ = {ds.attrs['n_S_alpha']}: error vs $\\alpha$\n"
                         f"gain at {at}: " + ", ".join(gains))  # fmt: skip
        ax.set_ylabel(P.LABEL_ERR + " on held-out target images")
        pad = 0.12 * (hi - lo) + 0.005
        ax.set_ylim(max(0.0, lo - pad), hi + pad)
        ax.legend(loc="best", frameon=True)
    return fig


def summary(ds) -> dict:
    out = {}
    for kind, dim in (("ns", "n_source"), ("alpha", "transfer.alpha")):
        for tag, src, *_ in _styles(ds):
            p = C.panel(ds, f"{kind}_{tag}")
            ok = C.valid(p)
            r = {dim: p[dim].values.tolist()}
            for v in ("err_transfer", "err_scratch", "gain", "err_zeroshot", "err_upstream"):
                m, se = C.mean_se(p[v], ok)
                r[v], r[f"{v}_se"] = m.round(4).tolist(), se.round(4).tolist()
            out[f"{kind}: {src} -> {ds.attrs['target']}"] = r
    return out


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
