"""Figure 4: transfer gain against the task correlation corr = s a^2 / (||mu_S|| ||mu_T||).

Prototype setup (figure 2) at n_S = 40, alpha = 0.5, b_S = 0 (so mu_S = u, ||mu_S|| = a).
(a) through the alignment s at fixed norms: a = R and b_T = R sqrt(1 - s^2), so
||mu_S|| = ||mu_T|| = R = 2 and corr = s runs from -1 to 1 while the scratch problem (SNR2)
stays the same; (b) through a at s = +-1 with b_T = 2 fixed (corr = s a / sqrt(a^2 + 4);
||mu_T|| grows with a, so the scratch problem gets easier too).  Markers: measured gain,
mean +- s.e. over paired seeds; lines: the theory's predicted gain from the configuration
alone (H1 corrected, H1 with the default lambda, H3 for anti-aligned tasks, H4).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from figures import common as C
from figures import plotting as P

import matplotlib.pyplot as plt  # noqa: E402
import theory  # noqa: E402

NAME = "task_correlation"
N_S = 40
R = 2.0
S_VALUES = [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0]
A_VALUES = [0.5, 1.0, 2.0, 4.0]
B_T = 2.0
THEORY = [
    ("H1_corrected", "H1 corrected", "-"),
    ("H1_default_lambda", "H1, default $\\lambda$", "--"),
    ("H3", "H3", "-."),
    ("H4", "H4", ":"),
]


def _pred(setting, tag):
    return C.predict(setting, tag)


def _corr(st) -> float:
    den = st.norm_mu_S * st.norm_mu_T
    return 0.0 if den == 0 else st.s * st.a**2 / den


def s_point(s: float, r: float) -> dict:
    """Fields of the fixed-norm point with alignment s: a = r, b_T = r sqrt(1 - s^2)."""
    return {"task.s": float(s), "task.a": float(r), "task.b_T": float(r * math.sqrt(max(0.0, 1.0 - s * s)))}


def compute(config=None, quick: bool = False):
    base = (C.quick_base() if quick else C.prototype().set(n_source=N_S)) if config is None else config
    seeds = C.SEEDS_QUICK if quick else C.SEEDS
    svals = [-1.0, 0.5] if quick else S_VALUES
    avals = [1.0] if quick else A_VALUES
    ps = C.run_points(base, "task.s", [s_point(s, R) for s in svals], seeds, f"{NAME} through s (fixed norms)")
    pa = C.run_sweep(base.set(**{"task.b_T": B_T}), {"task.s": [-1.0, 1.0], "task.a": avals}, seeds,
                     f"{NAME} through a (s = +-1)")  # fmt: skip
    return C.combine({"s": ps, "a": pa}, R=R, b_T=B_T)


def plot(ds, out_dir):
    ps, pa = C.panel(ds, "s"), C.panel(ds, "a")
    fig, axs = plt.subplots(1, 2, figsize=(12.5, 4.9), layout="constrained", sharey=True)
    cols = P.line_colors(len(THEORY), "viridis")

    # (a) through s, fixed norms
    ax = axs[0]
    g, gse = C.mean_se(ps["gain"], C.valid(ps))
    base = C.exp_of(ps.attrs["config"])
    st0 = theory.setting_of(base)
    r = float(ds.attrs["R"])
    corr = np.array([_corr(theory.setting_of(e)) for _, e in C.point_configs(ps)])
    sf = np.linspace(-1, 1, 201)
    for (tag, lab, ls), col in zip(THEORY, cols):
        pred = [_pred(dataclasses.replace(st0, s=float(s), a=r, b_T=r * math.sqrt(max(0, 1 - s * s))), tag).pred_gain
                for s in sf]  # fmt: skip
        ax.plot(sf, pred, color=col, linestyle=ls, linewidth=1.5, label=f"theory: {lab}")
    ax.errorbar(corr, g, yerr=gse, color="k", marker="o", linestyle="none", label="measured (± s.e.)", zorder=5)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel(P.SYMBOLS["corr"])
    ax.set_ylabel(P.LABEL_GAIN)
    ax.set_title(f"(a) through $s$: $a = \\|\\mu_S\\| = \\|\\mu_T\\| = {r:g}$, $n_S$ = {st0.n_S}, "
                 f"$\\alpha$ = {st0.alpha:g}")  # fmt: skip
    ax.legend(loc="upper left")

    # (b) through a at s = +-1
    ax = axs[1]
    g, gse = C.mean_se(pa["gain"], C.valid(pa))  # (s, a)
    basea = C.exp_of(pa.attrs["config"])
    sta = theory.setting_of(basea)
    svals = pa["task.s"].values
    avals = pa["task.a"].values
    af = np.geomspace(min(avals) / 1.3, max(avals) * 1.3, 80)
    for i, s in enumerate(svals):
        for (tag, lab, ls), col in zip(THEORY, cols):
            sts = [dataclasses.replace(sta, s=float(s), a=float(x)) for x in af]
            ax.plot([_corr(q) for q in sts], [_pred(q, tag).pred_gain for q in sts], color=col, linestyle=ls,
                    linewidth=1.5, label=f"theory: {lab}" if i == 0 else None)  # fmt: skip
        cs = [_corr(dataclasses.replace(sta, s=float(s), a=float(x))) for x in avals]
        ax.errorbar(cs, g[i], yerr=gse[i], color="k", marker="s" if s > 0 else "D", linestyle="none", zorder=5,
                    label=f"measured, $s$ = {s:+g} (± s.e.)")  # fmt: skip
        for x, c_, y in zip(avals, cs, g[i]):
            ax.annotate(f"$a$={x:g}", (c_, y), textcoords="offset points", xytext=(4, 6), fontsize=9)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set_xlim(-1.02, 1.02)
    ax.set_xlabel(P.SYMBOLS["corr"])
    ax.set_title(f"(b) through $a$ at $s = \\pm 1$, $b_T$ = {sta.b_T:g} ($\\|\\mu_T\\|$ grows with $a$)")
    ax.legend(loc="lower right")
    return fig


def summary(ds) -> dict:
    ps, pa = C.panel(ds, "s"), C.panel(ds, "a")
    g, gse = C.mean_se(ps["gain"], C.valid(ps))
    ga, gase = C.mean_se(pa["gain"], C.valid(pa))
    return {"s": ps["task.s"].values.tolist(), "gain_s": g.round(4).tolist(), "se_s": gse.round(4).tolist(),
            "a": pa["task.a"].values.tolist(), "s_a": pa["task.s"].values.tolist(),
            "gain_a": ga.round(4).tolist(), "se_a": gase.round(4).tolist()}  # fmt: skip


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
