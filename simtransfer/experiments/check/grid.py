"""The grids of the theory check and of H4's calibration, and running them (cached): see
``simtransfer.experiments.check``."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ...config import Experiment
from ...protocol.measures import MEASURE_DRAWS, MEASURES
from ...runs.cache import cache_dir as _cache_dir
from ...runs.cache import code_version
from ...runs.sweep import sweep

#: Overrides of ``Experiment()`` shared by every cell (the prototype's setting of docs/theory.md
#: section 3, with T_up = T_down = 300: budgets are varied through the traced learning rates).
BASE: dict[str, Any] = {
    "backend": "gram",  # exact in distribution and ~4x faster than dense at d = 1000 on CPU
    "eval.n_test": 0,
    "eval.mc_draws": 4096,
    "eval.curve_draws": 64,
    "eval.scores": False,  # the transferability scores are not used: not compiled
    "eval.measure_draws": MEASURE_DRAWS,  # the plug-ins' measurements, from the swept trials themselves
    "upstream.steps": 300,
    "downstream.steps": 300,
    "upstream.log_every": 300,  # only the final coefficients (gamma) are used: log the ends only
    "downstream.log_every": 300,
}

#: ``cache_dir`` default: the ``check`` folder under the cache root (``runs.cache``).
DEFAULT_CACHE = "default"


@dataclass(frozen=True)
class Block:
    """Cells sharing a shape: ``static`` overrides (d, n_S, ...) on :data:`BASE` and a list of
    ``grids``, each a Cartesian product over fields (traced ones, so one compilation)."""

    name: str
    static: Mapping[str, Any]
    grids: Sequence[Mapping[str, Sequence[Any]]]


def _g(**kw: Sequence[Any]) -> dict[str, list]:
    alias = {"alpha": "transfer.alpha", "eta_up": "upstream.eta", "eta_down": "downstream.eta",
             "rescale": "transfer.rescale", "sigma_0": "model.sigma_0"}
    return {alias.get(k, k if "." in k else f"task.{k}"): list(v) for k, v in kw.items()}


# -- the check grid (docs/theory.md section 10: around the boundary, s > 0 mostly) -----------
CHECK_BLOCKS: tuple[Block, ...] = (
    Block("nS160", {"n_source": 160}, (
        _g(a=[0.45, 0.65, 0.9], b_T=[1.5, 2.5], alpha=[0.3, 0.6, 1.0]),
        _g(a=[0.6], b_T=[2.0], sigma_p=[0.8, 1.25], alpha=[0.6, 1.0]),
        _g(a=[0.6, 1.2], b_T=[2.0], s=[-1.0], alpha=[0.3, 1.0]),
        _g(a=[0.0, 1.0], b_T=[2.0], s=[0.0], alpha=[0.6]),
    )),
    Block("nS640", {"n_source": 640}, (
        _g(a=[0.35, 0.5, 0.7], b_T=[1.5, 2.5], alpha=[0.3, 0.6, 1.0]),
        _g(a=[0.5], b_T=[2.0], alpha=[0.6, 1.0], eta_up=[0.17, 1.5], eta_down=[0.1, 0.5, 1.5]),
        _g(a=[0.5], b_T=[2.0], s=[-0.5], alpha=[0.3, 1.0]),
    )),
    Block("nS40", {"n_source": 40}, (_g(a=[0.5, 1.0], b_T=[2.0], alpha=[0.6, 1.0]),)),
    Block("d2000", {"n_source": 640, "task.d": 2000}, (_g(a=[0.5, 0.75], b_T=[2.5], alpha=[0.3, 1.0]),)),
    Block("P3", {"n_source": 160, "task.P": 3}, (
        _g(a=[0.7, 1.0], b_T=[2.2], alpha=[0.3, 0.6, 1.0]),
        _g(a=[0.85], b_T=[2.7], alpha=[0.6, 1.0]),
    )),
    Block("label_flip", {"n_source": 160}, (_g(label_flip=[0.05, 0.15], a=[0.5, 0.75], b_T=[2.0], alpha=[0.3, 1.0]),)),
    Block("m20", {"n_source": 160, "model.m": 20}, (_g(a=[0.5, 0.75], b_T=[2.0], alpha=[0.3, 0.6, 1.0]),)),
    Block("m_up15", {"n_source": 160, "model.m_up": 15}, (_g(a=[0.5, 0.75], b_T=[2.0], alpha=[0.4, 0.7, 1.0]),)),
    Block("frozen", {"n_source": 160, "transfer.freeze_inherited": True}, (
        _g(a=[0.55, 0.75, 1.0], b_T=[2.0], alpha=[0.2, 0.5, 0.8]),
    )),
    Block("top_signal", {"n_source": 640, "transfer.policy": "top_signal"}, (
        _g(a=[0.4, 0.6], b_T=[2.0], alpha=[0.3, 0.6, 1.0]),
    )),
    Block("random", {"n_source": 160, "transfer.policy": "random"}, (_g(a=[0.55, 0.8], b_T=[2.0], alpha=[0.4, 0.8]),)),
    Block("rescale", {"n_source": 160}, (_g(rescale=[0.7, 1.5], a=[0.6, 0.9], b_T=[2.0], alpha=[0.6, 1.0]),)),
    Block("d4000", {"n_source": 640, "task.d": 4000}, (_g(a=[0.5, 0.7, 0.9], b_T=[2.4], alpha=[0.3, 1.0]),)),
    Block("sigma_0", {"n_source": 160}, (_g(sigma_0=[0.005, 0.02], a=[0.6], b_T=[2.0], alpha=[0.6, 1.0]),)),
    Block("T600", {"n_source": 160, "downstream.steps": 600, "downstream.log_every": 600}, (
        _g(eta_down=[0.1, 0.25], a=[0.5, 0.7], b_T=[2.0], alpha=[0.3, 1.0]),
    )),
    # out of every theory's domain (momentum GD, leaky ReLU): scored apart, to show they are flagged
    Block("momentum", {"n_source": 160, "upstream.optimizer": "momentum", "downstream.optimizer": "momentum"}, (
        _g(a=[0.6, 0.9], b_T=[2.0], alpha=[0.5, 1.0], eta_up=[0.05], eta_down=[0.05]),
    )),
    Block("leaky_relu", {"n_source": 160, "model.activation": "leaky_relu"}, (
        _g(a=[0.6, 0.9], b_T=[2.0], alpha=[0.5, 1.0]),
    )),
)  # fmt: skip

# -- the held-out grid (docs/theory.md section 10): laid out after H5 was frozen, scored once --
# 78 cells in 10 groups of distinct (d, n_S, n_T, m, P, T_down), all outside the base family
# of the check and calibration grids and mostly in combinations neither grid has (P = 3 with
# n_S = 640 or m = 20, d = 8000, m = 20 with n_S = 640, label noise 0.1, T_down = 1000 with
# eta = 0.06, n_T = 40), near the boundary; its own root seed (:data:`HELDOUT_KEY`).  It
# is also the latency benchmark's theory check (``bench.check_cells``).
_A3, _A2, _AL = [0.55, 0.8, 1.05], [0.65, 0.95], [0.3, 0.6, 1.0]
HELDOUT_BLOCKS: tuple[Block, ...] = (
    Block("P3", {"n_source": 160, "task.P": 3}, (_g(a=_A3, b_T=[2.2], alpha=_AL),)),
    Block("d4000-nS640", {"n_source": 640, "task.d": 4000}, (_g(a=_A3, b_T=[2.4], alpha=_AL),)),
    Block("d8000", {"n_source": 160, "task.d": 8000}, (_g(a=_A3, b_T=[2.4], alpha=_AL),)),
    Block("m20", {"n_source": 160, "model.m": 20}, (_g(a=_A3, b_T=[2.0], alpha=_AL),)),
    Block("m20-nS640", {"n_source": 640, "model.m": 20}, (_g(a=_A3, b_T=[2.0], alpha=_AL),)),
    Block("label_flip0.1", {"n_source": 160}, (_g(label_flip=[0.1], a=_A3, b_T=[2.0], alpha=_AL),)),
    Block("T600-eta0.1", {"n_source": 160, "downstream.steps": 600, "downstream.log_every": 600},
          (_g(eta_down=[0.1], a=_A2, b_T=[2.0], alpha=_AL),)),
    Block("T1000-eta0.06-nS640", {"n_source": 640, "downstream.steps": 1000, "downstream.log_every": 1000},
          (_g(eta_down=[0.06], a=_A2, b_T=[2.0], alpha=_AL),)),
    Block("nT40", {"n_source": 160, "n_target": 40}, (_g(a=_A2, b_T=[1.6], alpha=_AL),)),
    Block("P3-m20-nS640", {"n_source": 640, "task.P": 3, "model.m": 20}, (_g(a=_A2, b_T=[2.2], alpha=_AL),)),
)  # fmt: skip

# -- the calibration grid of H4 (other points, other seeds key; never scored) ----------------
CALIBRATION_BLOCKS: tuple[Block, ...] = (
    Block("cal-nS80", {"n_source": 80}, (
        _g(a=[0.55, 0.8, 1.1], b_T=[1.2, 2.2], alpha=[0.2, 0.5, 0.8, 1.0]),
        _g(a=[0.8], b_T=[1.8], alpha=[0.5, 1.0], eta_up=[0.25, 1.0], eta_down=[0.25, 1.0]),
        _g(a=[0.8], b_T=[1.8], s=[-1.0, -0.5], alpha=[0.5, 1.0]),
    )),
    Block("cal-nS320", {"n_source": 320}, (
        _g(a=[0.4, 0.55, 0.8], b_T=[1.2, 2.2], alpha=[0.2, 0.5, 0.8, 1.0]),
        _g(a=[0.55], b_T=[1.8], alpha=[0.5, 1.0], eta_up=[0.25, 1.0], eta_down=[0.25, 1.0]),
        _g(a=[0.55], b_T=[1.8], alpha=[0.5, 1.0], sigma_p=[0.9, 1.1], b_S=[0.5, 2.0]),
    )),
)  # fmt: skip

#: A tiny version for tests: d = 200, small n, short training (seconds).
QUICK_STATIC: dict[str, Any] = {
    "task.d": 200, "n_source": 40, "n_target": 10, "model.m": 4, "upstream.steps": 40,
    "downstream.steps": 40, "upstream.log_every": 40, "downstream.log_every": 40, "eval.mc_draws": 512,
}  # fmt: skip
QUICK_BLOCKS: tuple[Block, ...] = (
    Block("quick", QUICK_STATIC, (_g(a=[0.5, 1.5], b_T=[1.5], alpha=[0.5, 1.0]), _g(a=[1.0], s=[-1.0], alpha=[0.5]))),
)


# -- running and caching ------------------------------------------------------------------------
def _base_experiment(static: Mapping[str, Any]):
    return Experiment().set(**BASE).set(**dict(static))


def _tag(*objs: Any) -> str:
    return hashlib.sha1(json.dumps(objs, sort_keys=True, default=str).encode()).hexdigest()[:10]


#: Per-seed outputs of the sweep kept for every cell.
_SWEPT = ("err_transfer", "err_scratch", "err_zeroshot", "gain", "err_upstream",
          "diverged_upstream", "diverged_transfer", "diverged_scratch")  # fmt: skip
#: Coefficient curves whose final value is kept (H3's plug-in G): signal learning along u
#: upstream, and along u and v_T by the scratch model.
_GAMMAS = ("curve_upstream_gamma_u", "curve_scratch_gamma_u", "curve_scratch_gamma_T")


#: Seeds whose measurements feed the plug-ins (the first of the sweep's seeds; every swept
#: trial measures its models, ``eval.measure_draws`` in :data:`BASE`).  Measured lambda varies
#: little between seeds (c.v. 2.5% on the calibration grid; the median of 8 seeds is within
#: 0.7% of that of 32, 3% at worst); 8 keeps the plug-ins' inputs as they were defined when a
#: separate program measured 8 seeds again.
MEASURE_SEEDS = 8


def run_blocks(
    blocks: Iterable[Block], seeds: int, key: int, cache_dir: str | None = DEFAULT_CACHE, quiet: bool = True,
    measure_seeds: int = MEASURE_SEEDS,
) -> list[dict[str, Any]]:  # fmt: skip
    """Run (or load from ``cache_dir``) every cell of ``blocks``: one record per cell with its
    ``cfg`` (Experiment), ``block`` name, the sweep's per-seed arrays (``seeds``) and
    :data:`simtransfer.protocol.measures.MEASURES` of its first ``measure_seeds`` seeds (measured
    by the swept trials themselves, so each shape compiles one program and trains once)."""
    n_meas = min(measure_seeds, seeds)
    if cache_dir == DEFAULT_CACHE:
        cache_dir = None if (d := _cache_dir("check")) is None else str(d)
    records = []
    for block in blocks:
        exp = _base_experiment(block.static)
        for grid in block.grids:
            out = None
            if cache_dir is not None:  # keyed on the code too: results of other code are never reused
                out = os.path.join(cache_dir, f"{block.name}-{_tag(exp.to_toml(), grid, seeds, key, code_version())}")
            ds = sweep(exp, grid, seeds=seeds, key=key, out=out, quiet=quiet, chunk_trials=seeds)
            names = list(grid)
            for flat, idx in enumerate(np.ndindex(*(len(grid[n]) for n in names))):
                vals = {n: grid[n][i] for n, i in zip(names, idx)}
                pt = ds.isel(dict(zip(names, idx)))
                rec = {"cfg": exp.set(**vals), "block": block.name, "values": vals}
                rec.update({k: np.asarray(pt[k].values) for k in _SWEPT})
                rec.update({k: np.asarray(pt[k].values)[:, -1] for k in _GAMMAS})
                rec.update({k: np.asarray(pt[k].values)[:n_meas] for k in MEASURES})
                records.append(rec)
    return records


CHECK_KEY = 20250  # root seed of the check grid
CALIBRATION_KEY = 777  # root seed of H4's calibration grid (other seeds, other points)
HELDOUT_KEY = 4242  # root seed of the held-out grid
