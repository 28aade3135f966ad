"""Per-seed output statistics of the trial's models, for the plug-in hypotheses (issue 3).

``measure(exp, grid_points, seeds, key)`` reruns each seed's trial state
(``protocol.make_trial_state``) and reduces every model to two numbers
on the *target* task: the signal margin S (the mean over y of y f on the signal patch alone)
and the s.d. N of its output on fresh target noise (docs/theory.md section 2's Gaussian
``z ~ N(0, sigma_p^2 W (I - Pi) W^T)``, Monte Carlo, common draws within a seed).

Measured *before fine-tuning* (usable by a plug-in prediction): the inherited filters
(``inh``: the k inherited filters of the m-filter transfer model at initialisation, with the
downstream 1/m) and the scratch model (``sc``), which never sees the upstream model.
``lam = N_inh / N_sc`` is :func:`theory.lambda_measured`.  After fine-tuning (diagnostics
only, never fed to a prediction): the transfer model (``tr``) and its inherited (``tri``)
and fresh (``trf``) positions.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from theory.measure import output_stats

from ..config import Experiment, group_static
from ..nn.model import activation
from ..protocol import backend_for, make_trial_state, theta_of
from ..runs.devices import batched_call
from ..runs.run import seed_keys

__all__ = ["MEASURES", "measure"]

#: Names of the per-seed measurements.
MEASURES = (
    "S_inh", "N_inh", "S_sc", "N_sc", "lam",
    "S_tr", "N_tr", "S_tri", "N_tri", "S_trf", "N_trf",
)  # fmt: skip

_MC_FOLD = 7919  # fold_in tag of the measurement's Monte-Carlo key (independent of the trial's)


@functools.lru_cache(maxsize=32)
def _compiled(static_exp: Experiment, draws: int) -> Callable:
    bk = backend_for(static_exp)
    state_fn = make_trial_state(static_exp)
    P, m = static_exp.task.P, static_exp.model.m

    def one(key_data, theta):
        th = {k: jnp.asarray(v, jnp.float32) for k, v in theta.items()}
        st = state_fn(key_data, theta)
        act = activation(static_exp.model.activation, th["model.leak"], th["model.q"])
        key = jax.random.fold_in(jax.random.wrap_key_data(key_data), _MC_FOLD)
        z = jax.random.normal(key, (draws, P - 1, 2 * m))
        mods = bk.target_moments(st, th)
        inh = st["inherited"]
        allm = jnp.ones_like(inh)
        out = {}
        for name, model, mask in (("inh", "init", inh), ("sc", "sc", allm), ("tr", "tr", allm),
                                  ("tri", "tr", inh), ("trf", "tr", ~inh)):  # fmt: skip
            out[f"S_{name}"], out[f"N_{name}"] = output_stats(*mods[model], mask, z, act)
        out["lam"] = out["N_inh"] / out["N_sc"]
        return out

    return jax.jit(lambda keys_theta: jax.vmap(one)(*keys_theta))


def measure(
    points: Sequence[Experiment], seeds: int, key: int = 0, *, draws: int = 2048, batch: int = 256
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

