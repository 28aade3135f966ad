"""Per-seed output statistics of the trial's models, for the plug-in hypotheses (issue 3).

``measure(points, seeds, key)`` reruns each seed's trial state
(``protocol.make_trial_state``) and reduces every model to the numbers of
``protocol.measures`` (S and N of each model on the target task, lambda = N_inh / N_sc).
A sweep whose configuration sets ``eval.measure_draws`` gets the same outputs from its own
trials, without this second program (the theory check does that).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..config import Experiment, group_static
from ..nn.model import activation
from ..protocol import backend_for, make_trial_state, theta_of
from ..protocol.measures import MEASURE_DRAWS, MEASURES, model_measures
from ..runs.devices import batched_call
from ..runs.run import seed_keys

__all__ = ["MEASURES", "measure"]


@functools.lru_cache(maxsize=32)
def _compiled(static_exp: Experiment, draws: int) -> Callable:
    bk = backend_for(static_exp)
    state_fn = make_trial_state(static_exp)

    def one(key_data, theta):
        th = {k: jnp.asarray(v, jnp.float32) for k, v in theta.items()}
        act = activation(static_exp.model.activation, th["model.leak"], th["model.q"])
        return model_measures(bk, state_fn(key_data, theta), key_data, th, draws, act)

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
