"""What a trial returns (docs/design.md section 4): the per-seed SCALARS and CURVES, and
their assembly from the stage results, shared by every backend."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..backends.base import CURVE_METRICS
from ..config import INT_TRACED_FIELDS, Experiment, traced_values
from ..nn.estimators import SCORES

__all__ = ["SCALARS", "CURVE_METRICS", "CURVES", "theta_of", "trim_curves", "assemble_outputs"]

#: Per-seed scalar outputs of a trial.
SCALARS = (
    "err_upstream", "err_zeroshot", "err_transfer", "err_scratch",
    "se_upstream", "se_zeroshot", "se_transfer", "se_scratch",
    "emp_err_upstream", "emp_err_zeroshot", "emp_err_transfer", "emp_err_scratch",
    "gain", "emp_gain",
    "loss_upstream", "loss_transfer", "loss_scratch",
    "acc_upstream", "acc_transfer", "acc_scratch",
    "diverged_upstream", "diverged_transfer", "diverged_scratch",
    "k",
) + SCORES  # fmt: skip
#: Per-seed curves, logged at the stage's ``log_steps`` (``backends.base.CURVE_METRICS``).
CURVES = tuple(f"curve_{stage}_{q}" for stage in ("upstream", "transfer", "scratch") for q in CURVE_METRICS)


def theta_of(exp: Experiment) -> dict[str, jax.Array]:
    """The traced scalars of ``exp`` as float32 arrays (``config.INT_TRACED_FIELDS``: the
    step counts, logging periods, the gram backend's ``task.d`` and the dense backend's
    sample counts, as int32)."""
    return {k: jnp.asarray(v, jnp.int32 if k in INT_TRACED_FIELDS else jnp.float32)
            for k, v in traced_values(exp).items()}  # fmt: skip


def trim_curves(exp: Experiment, arrays: dict) -> dict:
    """``arrays`` (per-seed outputs, seed axis first) with each curve cut to the length of
    ``exp``'s own ``log_steps``: a compiled trial logs into a buffer of the static length
    of its ``config.static_part`` (``nn.train.gd_loop``), whose entries past the last logged
    step repeat the final step."""
    out = dict(arrays)
    for name in CURVES:
        if name in out:
            n = len((exp.upstream if name.startswith("curve_upstream") else exp.downstream).log_steps)
            out[name] = out[name][:, :n]
    return out


def assemble_outputs(
    ex_up, emp_up, c_up, bad_up, mask, ex_dn, emp_dn, c_dn, bad_dn, scores=None
) -> dict[str, jax.Array]:
    """The per-seed SCALARS and CURVES of a trial from its stage results: exact and
    empirical errors of the upstream and of the (zero-shot, transfer, scratch) models,
    final losses, divergence flags, curves, and the gain.  ``scores``: the
    transferability scores (``nn.estimators.transfer_scores``); NaN if None."""
    out = {
        "err_upstream": ex_up.err,
        "se_upstream": ex_up.se,
        "emp_err_upstream": emp_up,
        "loss_upstream": c_up["loss"][-1],
        "acc_upstream": c_up["acc"][-1],
        "diverged_upstream": bad_up >= 0,
        "k": mask[0].sum(),
    }
    for i, name in enumerate(("zeroshot", "transfer", "scratch")):
        out[f"err_{name}"] = ex_dn.err[i]
        out[f"se_{name}"] = ex_dn.se[i]
        out[f"emp_err_{name}"] = emp_dn[i]
    for i, name in enumerate(("transfer", "scratch")):
        out[f"loss_{name}"] = c_dn["loss"][i, -1]
        out[f"acc_{name}"] = c_dn["acc"][i, -1]
        out[f"diverged_{name}"] = bad_dn[i] >= 0
        for q in CURVE_METRICS:
            out[f"curve_{name}_{q}"] = c_dn[q][i]
    for q in CURVE_METRICS:
        out[f"curve_upstream_{q}"] = c_up[q]
    out["gain"] = out["err_scratch"] - out["err_transfer"]
    for name in SCORES:
        out[name] = jnp.full((), jnp.nan) if scores is None else scores[name]
    return out
