"""Per-seed output statistics of a trial's models, for the plug-in hypotheses
(docs/theory.md section 2; ``experiments.measure``).

Each model is reduced to two numbers on the *target* task: the signal margin S (the mean
over y of y f on the signal patch alone) and the s.d. N of its output on fresh target noise
(the Gaussian ``z ~ N(0, sigma_p^2 W (I - Pi) W^T)``, Monte Carlo with ``draws`` standard
normals, common to every model of the seed).

Measured *before fine-tuning* (usable by a plug-in prediction): the inherited filters
(``inh``: the k inherited filters of the m-filter transfer model at initialisation, with the
downstream 1/m) and the scratch model (``sc``), which never sees the upstream model.
``lam = N_inh / N_sc`` is ``theory.lambda_measured``.  After fine-tuning (diagnostics
only, never fed to a prediction): the transfer model (``tr``) and its inherited (``tri``)
and fresh (``trf``) positions.

A trial computes them itself when ``eval.measure_draws > 0`` (outputs named :data:`MEASURES`),
so a theory check needs no second program that trains every seed again.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from theory.measure import output_stats

from ..backends.base import Backend
from ..nn.model import activation

__all__ = ["MEASURES", "MC_FOLD", "MEASURE_DRAWS", "model_measures"]

#: Names of the per-seed measurements.
MEASURES = (
    "S_inh", "N_inh", "S_sc", "N_sc", "lam",
    "S_tr", "N_tr", "S_tri", "N_tri", "S_trf", "N_trf",
)  # fmt: skip

#: ``fold_in`` tag of the measurements' Monte-Carlo key (independent of the trial's draws).
MC_FOLD = 7919

#: Monte-Carlo draws of the measurements wherever the plug-ins use them (check, falsify,
#: ``experiments.measure.measure``).
MEASURE_DRAWS = 2048


def model_measures(
    bk: Backend, state: dict[str, Any], key_data: jax.Array, th: dict[str, jax.Array], draws: int
) -> dict[str, jax.Array]:  # fmt: skip
    """Every :data:`MEASURES` scalar of one seed's trial ``state`` (its raw key ``key_data``,
    traced scalars ``th``), with ``draws`` Monte-Carlo draws of the target noise patches."""
    P, m = bk.exp.task.P, bk.exp.model.m
    act = activation(bk.exp.model.activation, th["model.leak"], th["model.q"])
    key = jax.random.fold_in(jax.random.wrap_key_data(key_data), MC_FOLD)
    z = jax.random.normal(key, (draws, P - 1, 2 * m))
    mods = bk.target_moments(state, th)
    inh = state["inherited"]
    allm = jnp.ones_like(inh)
    out = {}
    for name, model, mask in (("inh", "init", inh), ("sc", "sc", allm), ("tr", "tr", allm),
                              ("tri", "tr", inh), ("trf", "tr", ~inh)):  # fmt: skip
        out[f"S_{name}"], out[f"N_{name}"] = output_stats(*mods[model], mask, z, act)
    out["lam"] = out["N_inh"] / out["N_sc"]
    return out
