"""One trial of the transfer protocol (DESIGN.md section 4) as a pure function of a key.

``make_trial(exp)`` returns ``trial(key_data, theta) -> dict`` where ``key_data`` is the raw
uint32 data of one PRNG key and ``theta`` maps every name of ``config.TRACED_FIELDS``
to a scalar.  Static fields of ``exp`` (shapes, steps, policy ...) are baked in; traced
ones come from ``theta``, so a sweep over them reuses the compilation.  ``run`` does
``jit(vmap(trial))`` once over the seeds.

The dense backend (this module) stores filters as (2, m, d) arrays.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from theory.exact import exact_errors

from .coefficients import COEF_CURVES, stage_projector
from .config import Experiment, traced_values
from .data import make_frame, make_signals, sample
from .estimators import SCORES, features, transfer_scores
from .evaluate import curve_errors, empirical_error_dense, exact_error_dense, noise_cov_dense
from .model import activation, cnn_structured, init_filters
from .train import train

__all__ = ["assemble_outputs", "make_trial", "make_trial_state", "inheritance", "distill_mask", "theta_of", "SCALARS", "CURVES", "CURVE_METRICS"]

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
#: Per-seed curves, logged at the stage's ``log_steps``.
CURVE_METRICS = ("loss", "acc", "err") + COEF_CURVES
CURVES = tuple(f"curve_{stage}_{q}" for stage in ("upstream", "transfer", "scratch") for q in CURVE_METRICS)


def theta_of(exp: Experiment) -> dict[str, jax.Array]:
    """The traced scalars of ``exp`` as float32 arrays."""
    return {k: jnp.asarray(v, jnp.float32) for k, v in traced_values(exp).items()}


def inheritance(key, W_up, W_fresh, u_dir, alpha, rescale, policy: str, freeze: bool):
    """Downstream initialisation: k = round(alpha m) filters per class copied from ``W_up``.

    Args:
      W_up: (2, m_up, d) trained upstream filters; W_fresh: (2, m, d) fresh filters.
      u_dir: (d,) unit direction of the universal signal u (for ``top_signal``).
      policy: ``first`` (upstream filters 1..k), ``random`` (k distinct, per class) or
        ``top_signal`` (the k with the largest alignment j <w_{j,r}, u/||u||>, i.e. the
        most signal learning along u for class j).

    Returns:
      (W_init, inherited mask (2, m) bool, source index (2, m) int, frozen mask (2, m)).
      Inherited filters occupy positions 0..k-1 of each class; ``W_init`` multiplies
      them by ``rescale``.
    """
    m_up, m = W_up.shape[1], W_fresh.shape[1]
    if policy == "first":
        order = jnp.broadcast_to(jnp.arange(m_up), (2, m_up))
    elif policy == "random":
        order = jnp.stack([jax.random.permutation(k, m_up) for k in jax.random.split(key, 2)])
    elif policy == "top_signal":
        align = (W_up @ u_dir) * jnp.array([1.0, -1.0])[:, None]  # (2, m_up): j <w_{j,r}, u>
        order = jnp.argsort(-align, axis=1)
    else:
        raise ValueError(f"transfer.policy: unknown policy {policy!r}")
    if m <= m_up:
        src = order[:, :m]
    else:  # positions >= m_up are never inherited (validated k <= m_up): pad
        src = jnp.concatenate([order, jnp.zeros((2, m - m_up), order.dtype)], axis=1)
    k = jnp.round(alpha * m)
    mask = jnp.broadcast_to(jnp.arange(m) < k, (2, m))
    inherited = jnp.take_along_axis(W_up, src[..., None], axis=1)
    W_init = jnp.where(mask[..., None], rescale * inherited, W_fresh)
    frozen = mask & freeze
    return W_init, mask, src, frozen


def distill_mask(f_teacher: jax.Array, y: jax.Array, partition: str, confidence) -> jax.Array:
    """(n,) 1.0 on the target samples that receive the distillation term (Roth et al. 2024):
    all (``none``), those where the teacher's sign agrees with the label (``agree``), or
    those where the teacher is confident, max(sigma(f_t), 1 - sigma(f_t)) >= confidence."""
    if partition == "none":
        return jnp.ones_like(f_teacher)
    if partition == "agree":
        return (y * f_teacher > 0).astype(f_teacher.dtype)
    if partition == "confident":
        return (jax.nn.sigmoid(jnp.abs(f_teacher)) >= confidence).astype(f_teacher.dtype)
    raise ValueError(f"transfer.partition: unknown partition {partition!r}")


def assemble_outputs(ex_up, emp_up, c_up, bad_up, mask, ex_dn, emp_dn, c_dn, bad_dn, scores=None) -> dict[str, jax.Array]:
    """The per-seed SCALARS and CURVES of a trial from its stage results (shared by the dense
    and gram backends): exact and empirical errors of the upstream and of the (zero-shot,
    transfer, scratch) models, final losses, divergence flags, curves, and the gain.
    ``scores``: the transferability scores (``estimators.transfer_scores``); NaN if None."""
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


def _core(exp: Experiment, key_data: jax.Array, theta: dict[str, Any]) -> tuple[dict, dict]:
    task, model = exp.task, exp.model
    d, P, m, m_up = task.d, task.P, model.m, model.m_upstream
    fixed = task.signal_position == "fixed"
    key = jax.random.wrap_key_data(key_data)
    (k_frame, k_src, k_tgt, k_up, k_down, k_pol, k_src_test, k_tgt_test, k_mc) = jax.random.split(key, 9)
    th = {k: jnp.asarray(v, jnp.float32) for k, v in theta.items()}
    sigma_p, p = th["task.sigma_p"], th["task.label_flip"]
    act = activation(model.activation, th["model.leak"], th["model.q"])
    frame = make_frame(k_frame, d, task.frame)
    sig = make_signals(frame, th["task.a"], th["task.b_S"], th["task.b_T"], th["task.s"])

    src = sample(k_src, exp.n_source, P, frame, sigma_p, p, fixed)
    tgt = sample(k_tgt, exp.n_target, P, frame, sigma_p, p, fixed)

    # Common random numbers: one set of standard-normal draws serves every exact error of
    # the seed (curves use its first curve_draws rows; the upstream its first 2 m_up columns).
    ev = exp.eval
    mc = jax.random.normal(k_mc, (max(ev.mc_draws, ev.curve_draws), P - 1, 2 * max(m, m_up)))
    final_up, final_dn = mc[: ev.mc_draws, :, : 2 * m_up], mc[: ev.mc_draws, :, : 2 * m]
    curve_up, curve_dn = mc[: ev.curve_draws, :, : 2 * m_up], mc[: ev.curve_draws, :, : 2 * m]

    norms = jnp.stack([th["task.a"], th["task.b_S"], th["task.b_T"]])
    proj_up = stage_projector(frame, norms, src.xi, src.y)
    proj_dn = stage_projector(frame, norms, tgt.xi, tgt.y)

    def metrics(mu, project, W0):
        """Logged per step: what the exact test error needs (``evaluate.curve_errors``
        computes it after training, for all logged steps at once), and gamma/rho of W - W0
        (coefficients.py)."""
        return lambda W: {"_sig": W @ mu, "_cov": noise_cov_dense(W, frame, sigma_p), **project(W, W0)}

    # 1. upstream
    W_up0 = init_filters(k_up, m_up, d, th["model.sigma_0"])
    W_up, c_up, bad_up = train(
        W_up0, src, sig.mu_S, th["upstream.eta"], cfg=exp.upstream, act=act,
        metrics_fn=metrics(sig.mu_S, proj_up, W_up0),
    )  # fmt: skip
    c_up = curve_errors(c_up, curve_up, act, p)
    # 2. inheritance; the scratch model starts from the same fresh filters
    W_fresh = init_filters(k_down, m, d, th["model.sigma_0"])
    tr = exp.transfer
    alpha = th["transfer.alpha"] if tr.inherits else jnp.zeros(())  # distill alone starts fresh
    W_tr0, mask, src_idx, frozen = inheritance(
        k_pol, W_up, W_fresh, frame[0], alpha, th["transfer.rescale"], tr.policy, tr.freeze_inherited
    )
    # 3-4. transfer and scratch trained by one lax.map (a scan) over the two models: one
    # compiled body serves both, so alpha = 0 gives bit-for-bit identical results (and on
    # CPU it is faster than a vmap over the pair, whose batched small matmuls are slow).
    W0s = jnp.stack([W_tr0, W_fresh])
    frozen_s = jnp.stack([frozen, jnp.zeros_like(frozen)])
    lam_s = jnp.zeros((2, exp.n_target))  # per model, per sample distillation weight
    f_teacher = jnp.zeros((exp.n_target,))
    if tr.distills:  # the upstream model teaches on the target training inputs
        f_teacher = cnn_structured(W_up, tgt.xi, tgt.y_signal, sig.mu_T, act)
        lam_s = lam_s.at[0].set(th["transfer.lam"] * distill_mask(f_teacher, tgt.y, tr.partition, th["transfer.confidence"]))
    down = lambda W0, fz, lam_i: train(  # noqa: E731
        W0, tgt, sig.mu_T, th["downstream.eta"], cfg=exp.downstream, act=act, frozen=fz,
        metrics_fn=metrics(sig.mu_T, proj_dn, W0),
        distill=(f_teacher, lam_i, th["transfer.tau"]) if tr.distills else None,
    )  # fmt: skip
    Ws, c_dn, bad_dn = jax.lax.map(lambda a: down(*a), (W0s, frozen_s, lam_s))
    c_dn = jax.vmap(lambda c: curve_errors(c, curve_dn, act, p))(c_dn)
    # transferability scores: the upstream model's features on both training sets, before fine-tuning
    phi = {"target": features(W_up, tgt.xi, tgt.y_signal, sig.mu_T, act),
           "source": features(W_up, src.xi, src.y_signal, sig.mu_S, act)}  # fmt: skip
    scores = transfer_scores(phi["target"], tgt.y, phi["source"], src.y)

    # 5. evaluation: exact conditional errors (common draws) and a shared empirical test set
    ex_up = exact_error_dense(W_up, sig.mu_S, frame, sigma_p, final_up, act, p)
    tgt_models = jnp.stack([W_tr0, Ws[0], Ws[1]])  # zero-shot, transfer, scratch
    ex_dn = exact_errors(tgt_models @ sig.mu_T, jax.vmap(lambda W: noise_cov_dense(W, frame, sigma_p))(tgt_models), final_dn, act, p)
    # (sampled through the filters' projections: evaluate.empirical_error_dense; f does not
    # depend on which patch holds the signal, so signal_position plays no part)
    emp_kw = dict(n_test=ev.n_test, chunk=ev.test_chunk, P=P, frame=frame, sigma_p=sigma_p, label_flip=p, act=act)
    emp_up = empirical_error_dense(k_src_test, W_up[None], mu=sig.mu_S, **dict(emp_kw, n_test=ev.n_test_source))[0]
    emp_dn = empirical_error_dense(k_tgt_test, tgt_models, mu=sig.mu_T, **emp_kw)

    out = assemble_outputs(ex_up, emp_up, c_up, bad_up, mask, ex_dn, emp_dn, c_dn, bad_dn, scores)
    out["emp_gain"] = out["emp_err_scratch"] - out["emp_err_transfer"]

    state = {
        "frame": frame, "signals": sig, "source": src, "target": tgt,
        "W_up0": W_up0, "W_up": W_up, "W_fresh": W_fresh, "W_transfer0": W_tr0,
        "W_transfer": Ws[0], "W_scratch": Ws[1], "inherited": mask, "source_index": src_idx,
        "frozen": frozen, "f_teacher": f_teacher, "features": phi, "distill_weight": lam_s[0], "diverged_at": {"upstream": bad_up, "transfer": bad_dn[0], "scratch": bad_dn[1]},
    }  # fmt: skip
    return out, state


def make_trial(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, jax.Array]]:
    """Pure ``trial(key_data, theta) -> outputs`` (SCALARS and CURVES) for the dense backend."""
    if exp.task.data == "digits":  # real images (simtransfer.digits), dense filters
        from .digits import make_trial_digits

        return make_trial_digits(exp)
    if exp.backend == "gram":  # the exact dimension-free backend (simtransfer.gram)
        from .gram import make_trial_gram

        return make_trial_gram(exp)
    if exp.backend != "dense":
        raise ValueError(f"backend: {exp.backend!r} is not available in this build")
    return lambda key_data, theta: _core(exp, key_data, theta)[0]


def make_trial_state(exp: Experiment) -> Callable[[jax.Array, dict], dict[str, Any]]:
    """Pure ``trial(key_data, theta) -> state``: every array of the trial (data, initial
    and trained filters, inheritance masks), for tests and the theory package."""
    if exp.task.data == "digits":
        from .digits import make_trial_state_digits

        return make_trial_state_digits(exp)
    return lambda key_data, theta: _core(exp, key_data, theta)[1]
