"""Shared data side of the figure scripts (issue 4): base configurations, sweeps with
shared compilations, panels of one dataset, mean +- standard error over seeds, saving
datasets.  Drawing and saving the figures themselves is ``figures/plotting.py``.

Every figure script has ``main(config=None, out_dir="figures", quick=False)``: ``config``
replaces the figure's base :class:`simtransfer.Experiment`, ``quick`` runs a tiny version
(small d, few seeds, few points) for the tests.  A figure writes ``<out_dir>/<name>.png``,
``<out_dir>/<name>.pdf`` and the dataset it plotted, ``<out_dir>/data/<name>.nc``.

Compilation is the main cost on a CPU (~25 s per distinct static configuration, docs/design.md
section 7), so the sweeps here run one grid point per compiled call (``chunk_trials =
seeds``): every call of a static configuration then has the same input shape, and sweeps
of different figures that share a static configuration in one process share one
compilation (``simtransfer.runs.sweep`` caches the compiled function per static part).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import simtransfer

simtransfer.use_cpu_devices()  # a figure script owns its process: one XLA CPU device per core

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from simtransfer import Experiment  # noqa: E402
from simtransfer.runs.io import save_dataset  # noqa: E402
from simtransfer.config import from_dict  # noqa: E402
from simtransfer import sweep  # noqa: E402

import theory  # noqa: E402

__all__ = [
    "KEY", "SEEDS", "SEEDS_QUICK", "prototype", "quick_base", "log", "exp_of", "run_sweep", "run_points",
    "grid_dims", "point_configs", "combine", "panel", "valid", "mean_se", "data_path", "save_data",
    "HYPOTHESES", "predict",
]  # fmt: skip

#: Root PRNG key of every figure: the same key gives the same picture (common random numbers
#: across figures too: a configuration that appears in two figures has the same seeds).
KEY = 0
#: Seeds per grid point (full figures) and in the quick versions (even: 2 CPU devices).
SEEDS = 16
SEEDS_QUICK = 2


def log(msg: str) -> None:
    print(f"[figures {time.strftime('%H:%M:%S')}] {msg}", flush=True)


#: Configuration-only predictions by the tag ``simtransfer.runs.sweep`` gives them
#: (``theory_<tag>_*``), evaluated here from each point's configuration, with its domain.
HYPOTHESES = {
    "H1": theory.h1,
    "H1_default_lambda": lambda c: theory.h1(c, "default"),
    "H1_corrected": theory.h1_corrected,
    "H2": theory.h2,
    "H3": theory.h3,
    "H4": theory.h4,
    "H5": theory.h5,
}


def predict(setting, tag: str):
    """``theory.Prediction`` of hypothesis ``tag`` for a Setting or an Experiment."""
    return HYPOTHESES[tag](setting)


# -- configurations --------------------------------------------------------------------------


def prototype() -> Experiment:
    """The prototype's transfer setup (docs/theory.md section 3), where the transfer boundary is
    visible: d = 1000, n_T = 20, m = 10, b_S = 0, b_T = 2, s = +1, sigma_0 = 0.01, eta = 0.5,
    T_up = 500, T_down = 300, alpha = 0.5; exact errors only (no empirical test set)."""
    return Experiment().set(
        **{
            "task.d": 1000,
            "n_target": 20,
            "model.m": 10,
            "task.b_S": 0.0,
            "task.b_T": 2.0,
            "task.s": 1.0,
            "model.sigma_0": 0.01,
            "upstream.eta": 0.5,
            "downstream.eta": 0.5,
            "upstream.steps": 500,
            "downstream.steps": 300,
            "transfer.alpha": 0.5,
            "eval.n_test": 0,
        }
    )


def quick_base() -> Experiment:
    """The tiny configuration of every quick figure (d = 200, m = 4, 40 + 40 steps).

    Quick figures vary only traced fields around it (and its own n_S, n_T, d), so the
    quick versions of figures 1-4 share one compilation."""
    return prototype().set(
        **{
            "task.d": 200,
            "n_source": 20,
            "n_target": 10,
            "model.m": 4,
            "task.b_T": 1.5,
            "upstream.steps": 40,
            "downstream.steps": 40,
            "upstream.log_every": 10,
            "downstream.log_every": 10,
            "eval.mc_draws": 1024,
            "eval.curve_draws": 128,
        }
    )


def exp_of(toml_text: str) -> Experiment:
    """The Experiment of a dataset's ``config`` attribute."""
    import tomllib

    return from_dict(tomllib.loads(toml_text), source="dataset attrs")


def _py(v: Any) -> Any:
    v = np.asarray(v).item() if np.ndim(v) == 0 else v
    return v


# -- sweeps ----------------------------------------------------------------------------------


def run_sweep(exp: Experiment, grid: Mapping[str, Sequence], seeds: int, label: str) -> xr.Dataset:
    """``simtransfer.runs.sweep`` with one grid point per compiled call (see the module docstring)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = int(np.prod([len(v) for v in grid.values()]))
    ds = sweep(exp, grid, seeds=seeds, key=KEY, quiet=True, chunk_trials=seeds)
    log(f"{label}: {n} points x {seeds} seeds in {time.perf_counter() - t0:.1f} s "
        f"(cpu {time.process_time() - c0:.1f} s)")  # fmt: skip
    return ds


def run_points(base: Experiment, dim: str, points: Sequence[Mapping[str, Any]], seeds: int, label: str) -> xr.Dataset:
    """Sweeps of points that are not a Cartesian product (e.g. s and b_T tied together):
    point i is ``base.set(**points[i])``; the results are concatenated along ``dim`` (one of
    the fields of every point, its index coordinate) and the other fields become
    coordinates along ``dim``, so :func:`point_configs` can rebuild every configuration."""
    t0, c0 = time.perf_counter(), time.process_time()
    parts = []
    for pt in points:
        rest = {k: v for k, v in pt.items() if k != dim}
        ds = sweep(base.set(**rest), {dim: [pt[dim]]}, seeds=seeds, key=KEY, quiet=True, chunk_trials=seeds)
        parts.append(ds.assign_coords({k: (dim, [v]) for k, v in rest.items()}))
    out = xr.concat(parts, dim=dim, data_vars="all", coords="different", compat="equals", join="outer",
                    combine_attrs="drop_conflicts")  # fmt: skip
    out.attrs["config"] = base.to_toml()
    out.attrs["point_fields"] = json.dumps([k for k in points[0]])
    log(f"{label}: {len(points)} points x {seeds} seeds in {time.perf_counter() - t0:.1f} s "
        f"(cpu {time.process_time() - c0:.1f} s)")  # fmt: skip
    return out


def grid_dims(ds: xr.Dataset) -> list[str]:
    """The grid dimensions of a (panel) sweep dataset: every dim but seed and the steps."""
    return [d for d in ds["gain"].dims if d != "seed"]


def point_configs(ds: xr.Dataset):
    """Yield ``(index, Experiment)`` for every grid point of a (panel) sweep dataset: the base
    config of its attrs with the grid coordinates (and tied coordinates) set."""
    base = exp_of(ds.attrs["config"])
    dims = grid_dims(ds)
    coords = [c for c in ds.coords if c not in ("seed",) and not c.startswith("step_") and ds[c].ndim == 1
              and ds[c].dims[0] in dims]  # fmt: skip
    for idx in np.ndindex(*(ds.sizes[d] for d in dims)):
        at = dict(zip(dims, idx))
        vals = {c: _py(ds[c].values[at[ds[c].dims[0]]]) for c in coords}
        yield idx, base.set(**vals)


def combine(panels: Mapping[str, xr.Dataset], **attrs: Any) -> xr.Dataset:
    """One dataset from the sweeps of several panels: every variable and every dimension
    (but ``seed``) gets the prefix ``<panel>__``; each panel's attrs become ``<panel>__<attr>``."""
    parts = []
    out_attrs: dict[str, Any] = {}
    for p, ds in panels.items():
        names = {n: f"{p}__{n}" for n in list(ds.variables) + list(ds.dims) if n != "seed"}
        parts.append(ds.rename(names))
        for k, v in ds.attrs.items():
            out_attrs[f"{p}__{k}"] = v
    out = xr.merge(parts, combine_attrs="drop", compat="no_conflicts", join="outer")
    out.attrs.update(out_attrs)
    out.attrs["panels"] = json.dumps(list(panels))
    out.attrs.update({k: (json.dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in attrs.items()})
    return out


def panel(ds: xr.Dataset, p: str) -> xr.Dataset:
    """The sweep dataset of panel ``p`` back from :func:`combine` (prefixes removed)."""
    pre = f"{p}__"
    keep = [n for n in ds.data_vars if n.startswith(pre)]
    sub = ds[keep]
    sub = sub.drop_vars([c for c in sub.coords if c != "seed" and not c.startswith(pre)])
    sub = sub.rename({n: n[len(pre):] for n in list(sub.variables) + list(sub.dims) if n.startswith(pre)})
    sub.attrs = {k[len(pre):]: v for k, v in ds.attrs.items() if k.startswith(pre)}
    return sub


# -- statistics ------------------------------------------------------------------------------


def valid(ds: xr.Dataset) -> xr.DataArray:
    """Seeds whose three trainings stayed finite (diverged seeds are excluded, as in Result)."""
    bad = ds["diverged_upstream"].astype(bool) | ds["diverged_transfer"].astype(bool) | ds["diverged_scratch"].astype(bool)
    return ~bad


def mean_se(x: xr.DataArray, ok: xr.DataArray | None = None, dim: str = "seed") -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (s.d. / sqrt(S), ddof = 1) over ``dim`` of the valid seeds."""
    v = np.asarray(x.where(ok) if ok is not None else x, np.float64)
    ax = x.dims.index(dim)
    n = np.sum(np.isfinite(v), axis=ax)
    s = np.where(np.isfinite(v), v, 0.0)
    mean = np.sum(s, axis=ax) / np.maximum(n, 1)
    dev = np.where(np.isfinite(v), v - np.expand_dims(mean, ax), 0.0)
    var = np.sum(dev**2, axis=ax) / np.maximum(n - 1, 1)
    mean = np.where(n > 0, mean, np.nan)
    se = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), np.nan)
    return mean, se


# -- output ----------------------------------------------------------------------------------


def data_path(out_dir: str | os.PathLike, name: str) -> Path:
    return Path(out_dir) / "data" / f"{name}.nc"


def save_data(ds: xr.Dataset, out_dir: str | os.PathLike, name: str, quick: bool) -> Path:
    p = data_path(out_dir, name)
    p.parent.mkdir(parents=True, exist_ok=True)
    ds.attrs["figure"] = name
    ds.attrs["quick"] = int(quick)
    ds.attrs["command"] = f"python figures/{name}.py" + (" --quick" if quick else "")
    save_dataset(ds, str(p))
    log(f"wrote {p}")
    return p


if __name__ == "__main__":  # pragma: no cover
    sys.exit("figures/common.py is a library; run a figure script or `python -m figures`")
