"""The sweep shared by the multi-process test and its worker processes (``tests/test_distributed.py``)."""

from __future__ import annotations

import numpy as np

#: A small dense experiment (d = 200): one shape group, so each process compiles once.
EXP_FIELDS = {
    "task.d": 200, "n_source": 20, "n_target": 10, "model.m": 4,
    "upstream.steps": 40, "downstream.steps": 40, "upstream.log_every": 20, "downstream.log_every": 20,
    "eval.n_test": 200, "eval.mc_draws": 1024, "eval.curve_draws": 256,
}  # fmt: skip
#: 8 points over traced fields only; with CHUNK_TRIALS = SEEDS every point is one chunk,
#: so two processes take 4 chunks each.
GRID = {"task.a": [0.4, 0.8, 1.2, 1.6], "transfer.alpha": [0.5, 1.0]}
SEEDS = 4
KEY = 3
CHUNK_TRIALS = SEEDS


def dataset_arrays(ds) -> dict[str, np.ndarray]:
    """Every data variable and coordinate of a sweep dataset, as plain arrays."""
    out = {f"var_{k}": np.asarray(v.values) for k, v in ds.data_vars.items()}
    out.update({f"coord_{k}": np.asarray(v.values) for k, v in ds.coords.items()})
    return out
