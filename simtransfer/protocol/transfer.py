"""The transfer protocol of docs/design.md section 4, written once for every backend.

1. upstream: train the upstream model on the source task;
2. inheritance: k = round(alpha m) filters per class copied (``protocol.inherit``), and/or
   the upstream model as a distillation teacher;
3-4. transfer and scratch: both trained on the target task by one ``lax.map`` over the
   pair (one compiled body serves both, so alpha = 0 gives bit-for-bit equal models);
5. evaluation: exact and empirical errors, output assembly; the upstream model's features
   for the transferability scores, which ``protocol.scores.add_scores`` computes after the trial;
   with ``eval.measure_draws > 0`` the plug-ins' measurements (``protocol.measures``).

What depends on how data and filters are represented is asked of the backend
(``backends.base.Backend``), which the protocol calls down into.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..backends.base import Backend
from ..nn.model import activation
from .inherit import distill_mask, inheritance
from .measures import model_measures
from .outputs import CURVES, SCALARS, assemble_outputs
from .scores import PRIVATE

__all__ = ["run_trial", "transfer_trial"]


def transfer_trial(bk: Backend, data: Any, th: dict[str, jax.Array]) -> tuple[dict, dict]:
    """(outputs, state) of one seed whose data ``bk.sample`` drew (or a test built)."""
    exp = bk.exp
    tr = exp.transfer
    act = activation(exp.model.activation, th["model.leak"], th["model.q"])
    # 1. upstream
    W_up0, W_fresh = bk.init_filters(data, th)
    W_up, c_up, bad_up = bk.train_stage(data, "upstream", W_up0, act, th)
    # 2. inheritance; the scratch model starts from the same fresh filters
    W_src, u_dir = bk.inheritable(data, W_up)
    alpha = th["transfer.alpha"] if tr.inherits else jnp.zeros(())  # distill alone starts fresh
    W_tr0, mask, src_idx, frozen = inheritance(
        data.keys["pol"], W_src, W_fresh, u_dir, alpha, th["transfer.rescale"], tr.policy, tr.freeze_inherited
    )
    # 3-4. transfer and scratch trained by one lax.map (a scan) over the two models: one
    # compiled body serves both, so alpha = 0 gives bit-for-bit identical results (and on
    # CPU it is faster than a vmap over the pair, whose batched small matmuls are slow).
    W0s = jnp.stack([W_tr0, W_fresh])
    frozen_s = jnp.stack([frozen, jnp.zeros_like(frozen)])
    lam_s = jnp.zeros((2, exp.n_target))  # per model, per sample distillation weight
    f_teacher = jnp.zeros((exp.n_target,))
    if tr.distills:  # the upstream model teaches on the target training inputs
        f_teacher, y_T = bk.teacher(data, W_up, act)
        lam_i = distill_mask(f_teacher, y_T, tr.partition, th["transfer.confidence"])
        lam_s = lam_s.at[0].set(th["transfer.lam"] * lam_i)
    down = lambda W0, fz, lam_i: bk.train_stage(  # noqa: E731
        data, "downstream", W0, act, th, frozen=fz,
        distill=(f_teacher, lam_i, th["transfer.tau"]) if tr.distills else None,
    )  # fmt: skip
    Ws, c_dn, bad_dn = jax.lax.map(lambda a: down(*a), (W0s, frozen_s, lam_s))

    # 5. evaluation: exact conditional and empirical test errors, the exact-error curves, and
    # the upstream model's features on both training sets, before fine-tuning (None with
    # eval.scores = false): the transferability scores are computed from them after the
    # trial (``protocol.scores``), one small program per shape, not one per trial program
    tgt_models = jnp.stack([W_tr0, Ws[0], Ws[1]])  # zero-shot, transfer, scratch
    ev = bk.evaluate(data, W_up, tgt_models, (c_up, c_dn), act, th)
    out = assemble_outputs(ev.exact_up, ev.emp_up, ev.curves_up, bad_up, mask, ev.exact_dn, ev.emp_dn, ev.curves_dn,
                           bad_dn)  # fmt: skip
    out.update(ev.extra)
    phi = None
    if ev.feats is not None:
        phi, y = ev.feats
        out.update(zip(PRIVATE, (phi["target"], y["target"], phi["source"], y["source"])))
    # Every output, NaN where the data gives it no meaning (e.g. real images).
    nan = jnp.full((), jnp.nan)
    for name in SCALARS:
        out.setdefault(name, nan)
    for name in CURVES:
        stage = exp.upstream if name.startswith("curve_upstream") else exp.downstream
        out.setdefault(name, jnp.full((len(stage.log_steps),), jnp.nan))

    common = {
        "up0": W_up0, "up": W_up, "fresh": W_fresh, "transfer0": W_tr0, "transfer": Ws[0], "scratch": Ws[1],
        "inherited": mask, "source_index": src_idx, "frozen": frozen, "f_teacher": f_teacher,
        "distill_weight": lam_s[0], "features": phi,
        "diverged_at": {"upstream": bad_up, "transfer": bad_dn[0], "scratch": bad_dn[1]},
    }  # fmt: skip
    return out, bk.state(data, common)


def run_trial(bk: Backend, key_data: jax.Array, theta: dict[str, Any]) -> tuple[dict, dict]:
    """(outputs, state) of the seed with raw key ``key_data`` and traced scalars ``theta``."""
    th = {k: jnp.asarray(v, jnp.float32) for k, v in theta.items()}
    out, state = transfer_trial(bk, bk.sample(key_data, th), th)
    draws = bk.exp.eval.measure_draws
    if draws:  # the plug-ins' measurements of this seed's models (protocol.measures)
        out.update(model_measures(bk, state, key_data, th, draws))
    return out, state
