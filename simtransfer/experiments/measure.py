"""Per-seed output statistics of the trial's models, for the plug-in hypotheses (issue 3).

``measure(points, seeds, key)`` reruns each seed's trial with ``eval.measure_draws`` set and
keeps the numbers of ``protocol.measures`` (S and N of each model on the target task,
lambda = N_inh / N_sc).  A sweep whose configuration sets ``eval.measure_draws`` gets the
same outputs from its own trials, without this second run (the theory check does that).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import numpy as np

from ..config import Experiment, group_static
from ..protocol import make_trial, theta_of
from ..protocol.measures import MEASURE_DRAWS, MEASURES
from ..runs.devices import batched_call
from ..runs.run import seed_keys

__all__ = ["MEASURES", "measure"]


@functools.lru_cache(maxsize=32)
def _compiled(static_exp: Experiment, draws: int) -> Callable:
    # the trial with its measurements on (eval.measure_draws), keeping only them
    trial = make_trial(static_exp.set(**{"eval.measure_draws": draws}))

    def one(key_data, theta):
        out = trial(key_data, theta)
        return {m: out[m] for m in MEASURES}

    return jax.jit(lambda keys_theta: jax.vmap(one)(*keys_theta))


def measure(
    points: Sequence[Experiment], seeds: int, key: int = 0, *, draws: int = MEASURE_DRAWS, batch: int = 256
) -> dict[str, np.ndarray]:
    """Every :data:`MEASURES` quantity, (len(points), seeds), for points sharing one static part.

    Seed i uses ``seed_keys(key, seeds)[i]``, the key ``sweep`` gives it, so the measured
    trial is the swept one (the same weights).
    """
    statics = list(group_static(points))
    if len(statics) != 1:
        raise ValueError("measure: the points must share their static part (one compilation)")
    fn = _compiled(statics[0], draws)
    keys = seed_keys(key, seeds)
    thetas = [theta_of(p) for p in points]
    theta = {k: np.repeat(np.stack([np.asarray(t[k]) for t in thetas]), seeds) for k in thetas[0]}
    out = batched_call(fn, (np.tile(keys, (len(points), 1)), theta), batch=batch)
    return {k: np.asarray(v).reshape(len(points), seeds) for k, v in out.items()}
