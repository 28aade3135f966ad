"""Figure 6: the theory's predictions against the simulation, over every grid point of
figures 1-4 (read from their datasets in ``<out_dir>/data/``; a missing one is made first).

(a) scratch test error: the calibrated law (docs/theory.md section 1) at SNR2(n_T, mu_T) against
the measured error, every scratch model of figures 1-4;
(b) transfer test error predicted by the configuration-only hypotheses (H1 with the default
lambda, H4 and H5 drawn; the table also has H1 with lambda = inf, the corrected H1, H2 and
H3) against the measured one, every point with alpha > 0 of figures 2-4;
(c) the transfer gain, predicted against measured.

Every prediction carries its validity domain (docs/theory.md section 5): points outside a
hypothesis' domain are drawn as grey crosses, not in its colour, and its legend and the
table give its scores on the in-domain points (the count of flagged points beside them).

Measured values are means over paired seeds with s.e. error bars; points that appear in
several figures (same configuration, same seeds) are counted once.  The legends give R^2
about the identity line (1 - sum (measured - predicted)^2 / sum (measured - mean)^2) and,
for the gain, the sign agreement on the cells whose measured gain is significant
(|gain| > 2 s.e.), with the trivial predictors' agreement on the same cells for reference
(docs/theory.md section 3 warns that "transfer always helps" is right in most s = +1 cells).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from figures import common as C
from figures import plotting as P
from figures.theory_scores import HYPS, TRIVIAL, in_domain, scratch_key, scratch_points, stats

import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

NAME = "theory_vs_sim"
SOURCES = ("scratch_phase", "transfer_phase", "fraction_inherited", "task_correlation")


def load_sources(out_dir, quick: bool) -> dict[str, xr.Dataset]:
    """The datasets of figures 1-4, making (and saving) any that is missing or was made
    with the other ``quick`` setting."""
    out = {}
    for name in SOURCES:
        p = C.data_path(out_dir, name)
        ds = xr.load_dataset(p) if p.exists() else None
        if ds is None or int(ds.attrs.get("quick", -1)) != int(quick):
            C.log(f"{NAME}: {p} missing (or of the other size): making {name} first")
            importlib.import_module(f"figures.{name}").main(out_dir=out_dir, quick=quick)
            ds = xr.load_dataset(p)
        out[name] = ds
    return out


def collect(sources: dict[str, xr.Dataset]) -> xr.Dataset:
    """One row per distinct configuration: measured means and s.e., and every theory_* value."""
    rows: dict[str, dict] = {}
    for name, ds in sources.items():
        for p in json.loads(ds.attrs["panels"]):
            sub = C.panel(ds, p)
            ok = C.valid(sub)
            stats = {v: C.mean_se(sub[v], ok) for v in ("err_scratch", "err_transfer", "gain")}
            th = [v for v in sub.data_vars if v.startswith("theory_")]
            dims = C.grid_dims(sub)
            for idx, exp in C.point_configs(sub):
                key = exp.to_toml()
                if key in rows:
                    continue
                at = dict(zip(dims, idx))
                r = {"figure": name, "panel": p, "k": exp.k_inherited, "s": exp.task.s, "scratch_key": scratch_key(exp)}
                for v, (m, s) in stats.items():
                    r[v], r[f"{v}_se"] = float(m[idx]), float(s[idx])
                for v in th:
                    r[v] = float(sub[v].isel(at).values)
                for tag, _, _ in HYPS:  # from the configuration: every hypothesis with its domain
                    pr = C.predict(exp, tag)
                    r.update({f"theory_{tag}_err_transfer": pr.pred_err_transfer, f"theory_{tag}_err_scratch":
                              pr.pred_err_scratch, f"theory_{tag}_gain": pr.pred_gain, f"theory_{tag}_sign": pr.sign,
                              f"theory_{tag}_in_domain": float(pr.in_domain)})  # fmt: skip
                rows[key] = r
    names = sorted({k for r in rows.values() for k in r})
    data = {k: ("point", [r.get(k, np.nan) for r in rows.values()]) for k in names}
    ds = xr.Dataset(data, coords={"point": np.arange(len(rows))})
    ds["config"] = ("point", list(rows))
    return ds


def compute(config=None, quick: bool = False, out_dir="figures"):
    pts = collect(load_sources(out_dir, quick))
    pts.attrs["stats"] = json.dumps(stats(pts))
    pts.attrs["sources"] = json.dumps(list(SOURCES))
    return pts


#: The hypotheses drawn in the scatter panels (all of them are in the table).
DRAWN = ("H1_default_lambda", "H4", "H5")


def plot(pts: xr.Dataset, out_dir):
    st = json.loads(pts.attrs["stats"])
    fig = plt.figure(figsize=(17, 8.2), layout="constrained")
    gs = fig.add_gridspec(2, 3, height_ratios=[3.2, 1])
    axs = [fig.add_subplot(gs[0, i]) for i in range(3)]
    fig_markers = dict(zip(SOURCES, ("o", "s", "^", "D")))
    cols = P.line_colors(len(SOURCES), "viridis")

    # (a) scratch
    ax = axs[0]
    sc = pts.isel(point=scratch_points(pts))
    for (name, mk), col in zip(fig_markers.items(), cols):
        sel = sc["figure"].values == name
        if sel.any():
            ax.errorbar(sc["theory_H1_err_scratch"].values[sel], sc["err_scratch"].values[sel],
                        yerr=sc["err_scratch_se"].values[sel], color=col, marker=mk, linestyle="none",
                        markersize=4.5, label=f"{name} ({int(sel.sum())} points)")  # fmt: skip
    ax.plot([0, 0.5], [0, 0.5], color="k", linewidth=1, label="identity")
    ax.set_xlabel("predicted " + P.LABEL_ERR + " (calibrated scratch law)")
    ax.set_ylabel("measured " + P.LABEL_ERR + " (scratch, mean ± s.e.)")
    ax.set_title(f"(a) scratch error, {st['scratch']['n']} distinct scratch configurations: $R^2$ = {st['scratch']['r2']:.3f}, "
                 f"RMSE = {st['scratch']['rmse']:.3f}")  # fmt: skip
    ax.legend(loc="upper left")

    tr = pts.isel(point=np.flatnonzero(pts["k"].values > 0))
    drawn = [h for h in HYPS if h[0] in DRAWN]
    hcols = P.line_colors(len(drawn), "viridis")
    for ax, var, title in ((axs[1], "err_transfer", "(b) transfer error"), (axs[2], "gain", "(c) transfer gain")):
        vals = [tr[var].values]
        flagged = False
        for (tag, lab, mk), col in zip(drawn, hcols):
            x = tr[f"theory_{tag}_{var}"].values
            vals.append(x)
            s = st[tag]
            ind = in_domain(tr, tag)
            lab2 = f"{lab}: $R^2$ = {s['r2_' + var]:.2f}"
            if var == "gain":
                lab2 += f", sign {100 * s['sign_agreement']:.0f}%"
            lab2 += f" ({s['n_in_domain']} in domain)"
            ax.errorbar(x[ind], tr[var].values[ind], yerr=tr[f"{var}_se"].values[ind], color=col, marker=mk,
                        linestyle="none", markersize=4.5, alpha=0.9, markerfacecolor="none", label=lab2)  # fmt: skip
            if (~ind).any():
                ax.plot(x[~ind], tr[var].values[~ind], color="0.55", marker="x", linestyle="none", markersize=4,
                        alpha=0.7, label=None if flagged else "out of the hypothesis' domain (flagged)")  # fmt: skip
                flagged = True
        lo = float(np.nanmin([np.nanmin(v) for v in vals]))
        hi = float(np.nanmax([np.nanmax(v) for v in vals]))
        ax.plot([lo, hi], [lo, hi], color="k", linewidth=1, label="identity")
        if var == "gain":
            ax.axhline(0, color="0.6", linewidth=0.7)
            ax.axvline(0, color="0.6", linewidth=0.7)
        ax.set_xlabel("predicted " + (P.LABEL_ERR + " (transfer)" if var == "err_transfer" else P.LABEL_GAIN))
        ax.set_ylabel("measured " + (P.LABEL_ERR + " (transfer)" if var == "err_transfer" else "gain") + " (mean ± s.e.)")
        ax.set_title(f"{title}, {tr.sizes['point']} points with $\\alpha > 0$ (figures 2-4)")
        ax.legend(loc="upper left")

    # table: every hypothesis and the trivial predictors
    ax = fig.add_subplot(gs[1, :])
    ax.axis("off")
    n_sig = st["always_helps"]["n_significant"]
    head = ["prediction (configuration only)", "points in / out of domain", "$R^2$ transfer error",
            "RMSE transfer error", "$R^2$ gain", f"sign agreement (significant cells in domain, of {n_sig})",
            "balanced accuracy"]  # fmt: skip
    rows = []
    for tag, lab, _ in HYPS:
        s = st[tag]
        rows.append([lab, f"{s['n_in_domain']} / {s['n_out_of_domain']}", f"{s['r2_err_transfer']:.2f}",
                     f"{s['rmse_err_transfer']:.3f}", f"{s['r2_gain']:.2f}",
                     f"{100 * s['sign_agreement']:.0f}% ({s['n_significant']})", f"{100 * s['balanced_accuracy']:.0f}%"])  # fmt: skip
    for tag, lab in TRIVIAL:
        s = st[tag]
        rows.append([f"trivial: {lab}", "-", "-", "-", "-", f"{100 * s['sign_agreement']:.0f}% ({s['n_significant']})",
                     f"{100 * s['balanced_accuracy']:.0f}%"])  # fmt: skip
    tab = ax.table(cellText=rows, colLabels=head, loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(9.5)
    tab.scale(1, 1.25)
    return fig


def summary(pts) -> dict:
    return json.loads(pts.attrs["stats"])


def main(config=None, out_dir="figures", quick: bool = False):
    P.setup()
    pts = compute(config, quick, out_dir)
    C.save_data(pts, out_dir, NAME, quick)
    return P.save_figure(plot(pts, out_dir), out_dir, NAME)


if __name__ == "__main__":
    P.cli(main)
