"""Convergence of the measured boundaries to the asymptotic theory (docs/theory.md section 1).

Published scratch boundary n ||mu||^4 = C sigma_p^4 d: d log n / d log ||mu|| = -4 and
d log d / d log ||mu|| = +4.  Measured (95% bootstrap CIs, seeds resampled jointly over a
fit's cells) for d = 1e3 .. 1.024e6 on the exact gram backend, scaled as the theorems ask:
d >= n^2 polylog d (n = n_hi/4, n_hi/2, n_hi; d = 1e3, 1.6e4, 2.56e5, 1.024e6 puts n = 8, 32,
64, 128 at two d: the d-slope); small eta, i.e. gradient flow (a step raises a margin by
h = eta sigma_p^2 d / (n m) = 0.25; 0.125, 0.5 move the error <= 0.003); the time of T* ~
n m / (eta sigma_p^2 d eps) fixed, tau = eta sigma_p^2 d T / (n m) = 100 (tau = 400 moves the
d-slope by 0.01); small sigma_0 = 5e-5 / (sigma_p sqrt d), the sigma_0 -> 0 limit (5e-6, 5e-7
give the d-slope to 0.003; 5e-3 gives 4.24, 5e-2 3.77: the main finite-size effect).
Boundary: mean error = 0.25 (probit interpolated on a log grid of ||mu||); slopes: least
squares of log n (log d) on log ||mu*||.  Transfer (transfer_phase's setting scaled alike:
b_S = 0, s = +1, alpha = 0.5, SNR2(n_T, b_T) = 0.32, n_T = sqrt(d / ln d) / 8, n_S = 2, 4, 8
n_T): a* where the gain turns positive in a, and d log a* / d log n_S (a* hardly moves, so
its inverse is unbounded), and the same for H1 (lambda = inf; -1/4 as n_S/n_T -> inf), H4, H5.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import xarray as xr

from figures import common as C
from figures import plotting as P
from figures.boundary import LEVEL, analyse, transfer_boundary

import matplotlib.pyplot as plt  # noqa: E402
from simtransfer import Experiment  # noqa: E402

try:
    from simtransfer.sweep import sweep
except ImportError:  # pragma: no cover  (the layout may move it)
    from simtransfer import sweep

NAME = "asymptotics"
HYPS = ("H1", "H4", "H5")  # H1 with lambda = inf (its default)
H, TAU, S0, SNR2_T, C_GUESS, ALPHA = 0.25, 100.0, 5e-5, 0.32, 0.2, 0.5


def n_hi(d: float) -> int:  # the largest power of 2 with n^2 ln d <= d
    return int(2 ** np.floor(np.log2(np.sqrt(d / np.log(d)))))


def plan(quick: bool) -> dict:
    """Cells: scratch (n, d), transfer (n_S, n_T, d); grids relative to the theory's scale."""
    if quick:
        return dict(scr=[(4, 200), (8, 200)], tr=[(4, 4, 200), (8, 4, 200)], m=4, seeds=C.SEEDS_QUICK, tau=10.0,
                    mu=np.geomspace(0.5, 2.0, 4), a=np.geomspace(0.1, 2.0, 4), scr_up=None)
    scr = [(n_hi(d) // k, d) for d in (1000, 16000, 256000, 1024000) for k in (4, 2, 1)]
    nT = {d: max(2, round(np.sqrt(d / np.log(d)) / 8)) for d in (1000, 32000, 1024000)}
    tr = [(k * t, t, d) for d, t in nT.items() for k in (2, 4, 8)]
    return dict(scr=scr, tr=tr, m=10, seeds=16, tau=TAU, mu=np.geomspace(0.5, 2.0, 12),
                a=np.geomspace(0.05, 2.0, 15), scr_up=(2, 1))


def cell(base: Experiment, n_T: int, d: int, n_S: int, T_up: int, alpha: float, m: int, T: int) -> Experiment:
    sp = base.task.sigma_p  # the scalings of the module docstring
    return base.set(**{
        "backend": "gram", "task.d": d, "n_target": n_T, "n_source": n_S, "model.m": m, "task.b_S": 0.0,
        "task.s": 1.0, "transfer.alpha": alpha, "model.sigma_0": S0 / (sp * np.sqrt(d)),
        "upstream.steps": T_up, "downstream.steps": T, "upstream.log_every": T_up, "downstream.log_every": T,
        "upstream.eta": H * n_S * m / (sp**2 * d), "downstream.eta": H * n_T * m / (sp**2 * d),
        "eval.n_test": 0, "eval.curve_draws": 16})


def _scan(exp, field, vals, seeds, var):
    vals = [float(v) for v in vals]
    ds = sweep(exp, {field: vals}, seeds=seeds, key=C.KEY, quiet=True, chunk_trials=seeds * len(vals))
    return ds[var].where(C.valid(ds)).transpose(field, "seed").values


def _theory_astar(exp, a_grid):
    """a* of each hypothesis in HYPS: where its SNR_transfer - SNR_scratch turns positive."""
    out = []
    for tag in HYPS:
        try:  # the theory package may change: say so, do not fail
            import theory

            h, st = getattr(theory, tag.lower()), theory.setting_of(exp)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # exp() overflows at extreme a: +-inf is fine
                z = [(lambda q: q.snr_transfer - q.snr_scratch)(h(theory.setting_of(st, a=float(a)))) for a in a_grid]
            out.append(float(np.exp(transfer_boundary(np.log(a_grid), np.array(z)))))
        except Exception as e:
            C.log(f"{NAME}: {tag}'s a* unavailable ({type(e).__name__}: {e})")
            out.append(np.nan)
    return out


def compute(config=None, quick: bool = False) -> xr.Dataset:
    base = (C.quick_base() if quick else Experiment()) if config is None else config
    p = plan(quick)
    m, S, sp = p["m"], p["seeds"], base.task.sigma_p
    T = int(round(p["tau"] / H))
    E, MU, TA, G, AS, TH = [], [], [], [], [], []
    for n, d in p["scr"]:
        nS, Tu = p["scr_up"] or (p["tr"][0][0], T)
        mu = (C_GUESS * sp**4 * d / n) ** 0.25 * p["mu"]
        e = cell(base, n, d, nS, Tu, 0.0, m, T).set(**{"task.a": 0.0})
        E.append(_scan(e, "task.b_T", mu, S, "err_scratch")), MU.append(mu)
        C.log(f"{NAME}: scratch n = {n}, d = {d} done")
    for nS, nT, d in p["tr"]:
        bT = (SNR2_T * sp**4 * d / nT) ** 0.25
        a = bT * p["a"]
        e = cell(base, nT, d, nS, T, ALPHA, m, T).set(**{"task.b_T": bT})
        G.append(_scan(e, "task.a", a, S, "gain")), AS.append(a), TA.append(bT)
        TH.append(_theory_astar(e, np.geomspace(a[0], a[-1], 300)))
        C.log(f"{NAME}: transfer n_S = {nS}, n_T = {nT}, d = {d} done")
    (n, d), (nS, nT, td) = np.array(p["scr"]).T, np.array(p["tr"]).T
    sc, tc = ("scell", "mu_i", "seed"), ("tcell", "a_i", "seed")
    v = {"scr_err": (sc, E), "scr_mu": (sc[:2], MU), "scr_n": (sc[:1], n), "scr_d": (sc[:1], d), "tr_gain": (tc, G),
         "tr_a": (tc[:2], AS), "tr_nS": (tc[:1], nS), "tr_nT": (tc[:1], nT), "tr_d": (tc[:1], td),
         "tr_bT": (tc[:1], TA), "tr_astar_theory": (("tcell", "hyp"), TH)}
    return xr.Dataset({k: (dims, np.array(x)) for k, (dims, x) in v.items()}, coords={"hyp": list(HYPS)},
                      attrs={"config": base.to_toml(), "h": H, "tau": p["tau"], "T": T, "sigma0_sqrt_d": S0,
                             "snr2_T": SNR2_T, "alpha": ALPHA, "m": m, "sigma_p": sp})


summary = analyse  # the numbers quoted in docs/theory.md and the README


def _bars(ax, x, rows, key="slope", **kw):
    y = np.array([r[key] for r in rows])
    lo, hi = np.array([r["ci95"] for r in rows]).reshape(-1, 2).T
    ax.errorbar(x, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], **kw)
    ax.set_xscale("log")
    ax.set_xlabel(P.SYMBOLS["task.d"])


def plot(ds, out_dir):
    a = analyse(ds)
    p = Path(out_dir) / "data" / f"{NAME}_slopes.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(a, indent=1, default=float) + "\n")
    fig, axs = plt.subplots(2, 2, figsize=(12, 9), layout="constrained")
    for ax, key, x, ref, col, lab in ((axs[0, 0], "n", "d", -4, "C0", "$d$"),
                                      (axs[0, 1], "d", "d_mid", 4, "C1", "$n$")):
        rows = a[f"scratch_{key}_slope"]
        _bars(ax, [r[x] for r in rows], rows, color=col, marker="o", label=f"measured at fixed {lab}, 95% bootstrap CI")
        ax.axhline(ref, color="k", linestyle="--", linewidth=1.2, label=f"published: {ref:+d}")
        w = np.nanmax(np.abs(np.array([r["ci95"] for r in rows] or [[ref, ref]]) - ref), initial=0.0)
        ax.set_ylim(ref - np.clip(1.2 * w, 0.15, 2), ref + np.clip(1.2 * w, 0.15, 2))  # d = 1e3 runs off: see the JSON
        ax.set_ylabel(f"$d\\log {key}\\,/\\,d\\log\\|\\mu^*\\|$ at fixed {lab}")
        ax.set_title(f"({'ab'[key == 'd']}) scratch boundary (error = {LEVEL}), ${key}$-slope")
        ax.legend()
    for k, r in enumerate(a["scratch_d_slope"]):
        axs[0, 1].annotate(f"n={r['n']:g}", (r["d_mid"], r["slope"]), textcoords="offset points",
                           xytext=(4, 6 - 16 * (k % 2)))
    ax, rows = axs[1, 0], a["snr2_star"]
    fs = sorted({r["n"] / n_hi(r["d"]) for r in rows})
    for k, f in enumerate(fs):
        rr = [r for r in rows if np.isclose(r["n"] / n_hi(r["d"]), f)]
        _bars(ax, [r["d"] for r in rr], rr, "value", marker=P.MARKERS[k], color=P.line_colors(len(fs))[k],
              label=f"$n = n_{{hi}}(d) \\times {f:g}$")
    ax.set_ylabel(r"SNR2 at the boundary $= n\|\mu^*\|^4/(\sigma_p^4 d)$")
    ax.set_title("(c) the theory's C per cell (constant if the law holds)")
    ax.legend()
    ax, rows = axs[1, 1], a["transfer_a_slope"]
    for k, r in enumerate(rows):
        col, x = P.line_colors(len(rows))[k], np.array(r["n_S"]) / r["n_T"]
        _bars(ax, x, r["a_star_over_bT"], "value", color=col, marker="o", label=f"$d$ = {r['d']:g}: slope "
              f"{r['slope']:+.2f} [{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]; "
              f"H4 {r['theory_H4']:+.2f}, H5 {r['theory_H5']:+.2f}")
        ax.plot(x, r["theory_H4_a_star_over_bT"], color=col, linestyle="--")
        ax.plot(x, r["theory_H5_a_star_over_bT"], color=col, linestyle="-.")
    if rows:
        ax.plot(x, r["theory_H1_a_star_over_bT"], "k:",
                label=f"H1, $\\lambda=\\infty$ (any $d$): slope {r['theory_H1']:+.2f}")
        ax.minorticks_off()
        ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.plot([], [], color="0.4", linestyle="--", label="H4 (per $d$)")
    ax.plot([], [], color="0.4", linestyle="-.", label="H5 (per $d$)")
    ax.set(yscale="log", xlabel="$n_S / n_T$", ylabel="$a^* / b_T$ (gain = 0: end of negative transfer)")
    ax.set_title("(d) transfer boundary; slope $d\\log a^*/d\\log n_S$ (H1 as $n_S/n_T \\to \\infty$: $-1/4$)")
    ax.legend(fontsize=8)
    return fig


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
