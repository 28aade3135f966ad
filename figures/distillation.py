"""Figure: scratch vs inheritance vs distillation vs partitioned distillation (issue 7).

Target test error (exact conditional, mean +- s.e. over seeds) against the task
correlation corr = s a^2 / (||mu_S|| ||mu_T||) (through the alignment s), for a small and
a large upstream sample n_S.  All variants run with ``transfer.mode = "inherit+distill"``
and select the variant by traced fields (inheritance: alpha = 0.5, lam = 0, which is
exactly the inheritance loss; distillation: alpha = 0, lam > 0), so one compilation
serves them; the partitioned variant (distillation only where the teacher agrees with
the label, Roth et al. 2024) is a second compilation.  Scratch is the paired baseline.
The dashed line is the theory's scratch prediction (calibrated Gaussian-tail law).
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from simtransfer import Experiment  # noqa: E402
from simtransfer.runs.io import save_dataset  # noqa: E402
from simtransfer import sweep  # noqa: E402

NAME = "distillation"
VARIANTS = (  # label, partition, {traced fields}
    ("inheritance (alpha = 0.5)", "none", {"transfer.alpha": [0.5], "transfer.lam": [0.0]}),
    ("distillation (lam = 0.5)", "none", {"transfer.alpha": [0.0], "transfer.lam": [0.5]}),
    ("partitioned distillation", "agree", {"transfer.alpha": [0.0], "transfer.lam": [0.5]}),
)


def default_config(quick: bool = False) -> Experiment:
    exp = Experiment().set(**{
        "task.d": 200 if quick else 1000, "task.a": 0.7, "task.b_S": 0.0, "task.b_T": 1.0,
        "n_target": 10 if quick else 20, "model.m": 4 if quick else 10,
        "upstream.steps": 40 if quick else 500, "downstream.steps": 40 if quick else 300,
        "upstream.log_every": 40 if quick else 100, "downstream.log_every": 40 if quick else 100,
        "eval.n_test": 0, "transfer.mode": "inherit+distill", "transfer.tau": 2.0,
    })  # fmt: skip
    return exp


def run_data(exp: Experiment, quick: bool = False, key: int = 7) -> xr.Dataset:
    seeds = 4 if quick else 16
    n_S = [20] if quick else [20, 320]
    s_vals = [-1.0, 1.0] if quick else [-1.0, -0.5, 0.0, 0.5, 1.0]
    parts = []
    for label, partition, fields in VARIANTS:
        grid = {"n_source": n_S, "task.s": s_vals, **fields}
        ds = sweep(exp.set(**{"transfer.partition": partition}), grid, seeds=seeds, key=key, quiet=True)
        ds = ds.squeeze(["transfer.alpha", "transfer.lam"], drop=True)
        parts.append(ds[["err_transfer", "err_scratch", "gain", "theory_H1_err_scratch"]].expand_dims(variant=[label]))
    out = xr.concat(parts, dim="variant")
    out.attrs.update(parts[0].attrs)
    return out


def plot(ds: xr.Dataset, exp: Experiment, path_base: str) -> None:
    t = exp.task
    norm_S = np.hypot(t.a, t.b_S)
    corr = [s * t.a**2 / (norm_S * np.hypot(s * t.a, t.b_T)) for s in ds["task.s"].values]
    S = ds.sizes["seed"]
    fig, axes = plt.subplots(1, ds.sizes["n_source"], figsize=(5.2 * ds.sizes["n_source"], 4.0), sharey=True)
    styles = {"scratch": ("0.15", "o", "-")}
    markers = ["s", "^", "D"]
    colors = ["#1b7837", "#5e3c99", "#e66101"]
    for ax, n_S in zip(np.atleast_1d(axes), ds["n_source"].values):
        sub = ds.sel(n_source=n_S)
        sc = sub.err_scratch.isel(variant=0)
        m, se = sc.mean("seed"), sc.std("seed", ddof=1) / np.sqrt(S)
        c, mk, ls = styles["scratch"]
        ax.errorbar(corr, m, yerr=se, color=c, marker=mk, ls=ls, capsize=3, label="scratch")
        for i, label in enumerate(ds["variant"].values):
            e = sub.err_transfer.sel(variant=label)
            ax.errorbar(corr, e.mean("seed"), yerr=e.std("seed", ddof=1) / np.sqrt(S), color=colors[i],
                        marker=markers[i], ls="-", capsize=3, label=label)  # fmt: skip
        ax.plot(corr, sub.theory_H1_err_scratch.isel(variant=0), color="0.4", ls="--", label="scratch, theory")
        ax.set_title(f"n_S = {n_S}", fontsize=11)
        ax.set_xlabel("task correlation corr = s a² / (‖μ_S‖ ‖μ_T‖)", fontsize=10)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("target test error", fontsize=10)
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Inheritance vs distillation (d = {exp.task.d}, n_T = {exp.n_target}, a = {t.a}, "
                 f"b_T = {t.b_T}; mean ± s.e. over {S} seeds)", fontsize=11)  # fmt: skip
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(f"{path_base}.{ext}", dpi=130)
    plt.close(fig)


def main(config: Experiment | None = None, out_dir: str = "figures", quick: bool = False) -> xr.Dataset:
    exp = config or default_config(quick)
    ds = run_data(exp, quick)
    os.makedirs(os.path.join(out_dir, "data"), exist_ok=True)
    save_dataset(ds, os.path.join(out_dir, "data", f"{NAME}.nc"))
    plot(ds, exp, os.path.join(out_dir, NAME))
    return ds


if __name__ == "__main__":
    main()
