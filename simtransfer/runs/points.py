"""The points of one static part at S paired seeds, in one compiled call (docs/design.md
section 4.9): the unit of work of ``runs.sweep`` (a chunk), of the falsifier's evaluations
and of ``experiments.measure``.

Points that differ only in traced fields run as one flat (point, seed) axis, a vmap, or
on CPU a per-device scan (``runs.devices.map_trials``), of the trial of their static part.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import numpy as np

from ..config import Experiment
from ..protocol import add_scores, make_trial, theta_of
from ..protocol.scores import precompile_scores
from .devices import batched_call, default_micro_batch, map_trials
from .memory import seeds_per_call

__all__ = ["TRACE_COUNT", "compiled_points", "run_points"]

#: Number of times a sweep's batched trial has been traced (a test asserts one per shape group).
TRACE_COUNT = [0]


@functools.lru_cache(maxsize=64)
def compiled_points(static_exp: Experiment, micro: int) -> Callable:
    one = make_trial(static_exp)
    trial = map_trials(lambda kt: one(*kt), micro)

    def fn(keys_theta):
        TRACE_COUNT[0] += 1  # runs at trace time only
        return trial(keys_theta)

    return jax.jit(fn)


def run_points(static: Experiment, pts: list, keys: np.ndarray, width: int | None = None) -> dict[str, np.ndarray]:
    """Per-point outputs (point axis first) of the points ``pts`` of one static part at the
    seeds ``keys``, in one compiled call of ``width`` points (default ``len(pts)``): the
    last point is repeated up to ``width`` and its copies dropped, so every call of a
    shape group has one shape and compiles once."""
    S, n_pts = keys.shape[0], len(pts)
    width = n_pts if width is None else width
    if width < n_pts:
        raise ValueError(f"run_points: width {width} < {n_pts} points")
    pts = list(pts) + [pts[-1]] * (width - n_pts)
    thetas = [theta_of(cfg) for _, cfg in pts]
    theta = {k: np.repeat(np.stack([np.asarray(t[k]) for t in thetas]), S) for k in thetas[0]}
    flat_keys = np.tile(keys, (len(pts), 1))
    micro = default_micro_batch()
    batch_trials = seeds_per_call(static, width * S, micro)
    precompile_scores(pts[0][1], S)  # in the background, beside the trial's compilation (once per shape)
    out = batched_call(compiled_points(static, micro), (flat_keys, theta), batch=batch_trials)
    per_point = [add_scores(cfg, {k: v[i * S : (i + 1) * S] for k, v in out.items()})
                 for i, (_, cfg) in enumerate(pts[:n_pts])]  # fmt: skip
    return {k: np.stack([p[k] for p in per_point]) for k in per_point[0]}
