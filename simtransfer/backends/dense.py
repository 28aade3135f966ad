"""The dense backend (docs/design.md sections 1-5): synthetic signal-plus-noise data with
filters stored as (2, m, d) arrays, trained by ``nn.train.train``.

Keys: one seed's key is split into nine, in this order: frame, source data, target data,
upstream init, downstream init, inheritance policy, source test set, target test set and
Monte-Carlo draws (the gram backend keeps this order and these roles where it can).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..config import SAMPLE_FIELDS
from ..config.data import Batch, Signals, make_frame, make_signals, sample
from ..nn.coefficients import stage_projector
from ..nn.estimators import features
from ..nn.evaluate import empirical_error_dense, final_errors, noise_cov_dense, stage_curves
from ..nn.model import cnn_structured, init_filters
from ..nn.train import train
from .base import Backend, Evaluation, clock_of, register

__all__ = ["DenseData", "DenseBackend"]


class DenseData(NamedTuple):
    """One seed of the dense backend."""

    keys: dict[str, jax.Array]  # pol, src_test, tgt_test, up, down
    frame: jax.Array  # (3, d)
    signals: Signals
    source: Batch
    target: Batch
    mc: dict[str, jax.Array]  # standard normal draws: final_up, final_dn, curve_up, curve_dn
    project: dict[str, Any]  # stage -> coefficient projector (nn.coefficients.stage_projector)


def mc_slices(mc: jax.Array, exp) -> dict[str, jax.Array]:
    """Common random numbers: one set of standard-normal draws (max(mc_draws, curve_draws),
    P - 1, 2 max(m, m_up)) serves every exact error of the seed (curves use its first
    curve_draws rows; the upstream its first 2 m_up columns)."""
    ev, m, m_up = exp.eval, exp.model.m, exp.model.m_upstream
    return {"final_up": mc[: ev.mc_draws, :, : 2 * m_up], "final_dn": mc[: ev.mc_draws, :, : 2 * m],
            "curve_up": mc[: ev.curve_draws, :, : 2 * m_up], "curve_dn": mc[: ev.curve_draws, :, : 2 * m]}  # fmt: skip


def _masked(batch: Batch, n) -> Batch:
    """A training set drawn at its static (bucketed, ``config.sample_bucket``) size whose
    first ``n`` (traced) samples are real: the mask 1 on them and 0 on the padding, so every
    mean over the samples (loss, gradient, accuracy) is the mean over the n real ones.
    Under the partitionable threefry PRNG (JAX's default) the first n samples of a draw of
    any size are the samples of a draw of size n, so a padded trial is the unpadded one
    up to float32 round-off."""
    return batch._replace(mask=(jnp.arange(batch.y.shape[0]) < n).astype(batch.y.dtype))


@register("synthetic", "dense")
class DenseBackend(Backend):
    """Synthetic data, dense filters."""

    TRACED = SAMPLE_FIELDS  # training sets drawn at a bucketed size, padding masked (``_masked``)

    def sample(self, key_data, th) -> DenseData:
        exp = self.exp
        task, model, ev = exp.task, exp.model, exp.eval
        d, P, m, m_up = task.d, task.P, model.m, model.m_upstream
        fixed = task.signal_position == "fixed"
        key = jax.random.wrap_key_data(key_data)
        (k_frame, k_src, k_tgt, k_up, k_down, k_pol, k_src_test, k_tgt_test, k_mc) = jax.random.split(key, 9)
        sigma_p, p = th["task.sigma_p"], th["task.label_flip"]
        mc = mc_slices(jax.random.normal(k_mc, (max(ev.mc_draws, ev.curve_draws), P - 1, 2 * max(m, m_up))), exp)
        frame = make_frame(k_frame, d, task.frame)
        sig = make_signals(frame, th["task.a"], th["task.b_S"], th["task.b_T"], th["task.s"])
        src = _masked(sample(k_src, exp.n_source, P, frame, sigma_p, p, fixed), th["n_source"])
        tgt = _masked(sample(k_tgt, exp.n_target, P, frame, sigma_p, p, fixed), th["n_target"])
        norms = jnp.stack([th["task.a"], th["task.b_S"], th["task.b_T"]])
        project = {"upstream": stage_projector(frame, norms, src.xi, src.y * src.mask),
                   "downstream": stage_projector(frame, norms, tgt.xi, tgt.y * tgt.mask)}  # fmt: skip
        keys = {"pol": k_pol, "src_test": k_src_test, "tgt_test": k_tgt_test, "up": k_up, "down": k_down}
        return DenseData(keys, frame, sig, src, tgt, mc, project)

    def init_filters(self, data, th):
        m, m_up, d = self.exp.model.m, self.exp.model.m_upstream, self.exp.task.d
        return (init_filters(data.keys["up"], m_up, d, th["model.sigma_0"]),
                init_filters(data.keys["down"], m, d, th["model.sigma_0"]))  # fmt: skip

    def _stage(self, data, stage):
        """(training batch, task signal mu) of a stage."""
        if stage == "upstream":
            return data.source, data.signals.mu_S
        return data.target, data.signals.mu_T

    def train_stage(self, data, stage, W0, act, th, frozen=None, distill=None):
        batch, mu = self._stage(data, stage)
        project, frame, sigma_p = data.project[stage], data.frame, th["task.sigma_p"]

        def metrics(W):
            """Logged per step: what the exact test error needs (``nn.evaluate.stage_curves``
            computes it after training, for all logged steps at once), and gamma/rho of
            W - W0 (``nn.coefficients``)."""
            return {"_sig": W @ mu, "_cov": noise_cov_dense(W, frame, sigma_p), **project(W, W0)}

        cfg = getattr(self.exp, stage)
        return train(W0, batch, mu, th[f"{stage}.eta"], cfg=cfg, act=act, frozen=frozen, metrics_fn=metrics,
                     distill=distill, clock=clock_of(th, stage))  # fmt: skip

    def inheritable(self, data, W_up):
        return W_up, data.frame[0]

    def teacher(self, data, W_up, act):
        tgt = data.target
        return cnn_structured(W_up, tgt.xi, tgt.y_signal, data.signals.mu_T, act), tgt.y

    def features(self, data, W_up, act):
        """The upstream model's estimator features on both training sets (``Evaluation.feats``)."""
        sig, tgt, src = data.signals, data.target, data.source
        phi = {"target": features(W_up, tgt.xi, tgt.y_signal, sig.mu_T, act),
               "source": features(W_up, src.xi, src.y_signal, sig.mu_S, act)}  # fmt: skip
        return phi, {"target": tgt.y, "source": src.y}

    def evaluate(self, data, W_up, models, curves, act, th):
        ev, P = self.exp.eval, self.exp.task.P
        frame, sig, sigma_p, p = data.frame, data.signals, th["task.sigma_p"], th["task.label_flip"]
        feats = self.features(data, W_up, act) if self.exp.eval.scores else None
        # held-out errors, sampled through the filters' projections (nn.evaluate.empirical_error_dense;
        # f does not depend on which patch holds the signal, so signal_position plays no part)
        emp_kw = dict(n_test=ev.n_test, chunk=ev.test_chunk, P=P, frame=frame, sigma_p=sigma_p, label_flip=p, act=act)
        emp_up = empirical_error_dense(data.keys["src_test"], W_up[None], mu=sig.mu_S,
                                       **dict(emp_kw, n_test=ev.n_test_source))[0]  # fmt: skip
        emp_dn = empirical_error_dense(data.keys["tgt_test"], models, mu=sig.mu_T, **emp_kw)
        # exact errors (theory.exact): along the logged curves, of the upstream model, of the target models
        c_up, c_dn = stage_curves(*curves, data.mc["curve_up"], data.mc["curve_dn"], act, p)
        covs = jax.vmap(lambda W: noise_cov_dense(W, frame, sigma_p))(models)
        ex_up, ex_dn = final_errors(W_up @ sig.mu_S, noise_cov_dense(W_up, frame, sigma_p), data.mc["final_up"],
                                    models @ sig.mu_T, covs, data.mc["final_dn"], act, p)
        return Evaluation(ex_up, emp_up, ex_dn, emp_dn, c_up, c_dn, feats, {"emp_gain": emp_dn[2] - emp_dn[1]})

    def state(self, data, common):
        c = common
        return {
            "frame": data.frame, "signals": data.signals, "source": data.source, "target": data.target,
            "W_up0": c["up0"], "W_up": c["up"], "W_fresh": c["fresh"], "W_transfer0": c["transfer0"],
            "W_transfer": c["transfer"], "W_scratch": c["scratch"], "inherited": c["inherited"],
            "source_index": c["source_index"], "frozen": c["frozen"], "f_teacher": c["f_teacher"],
            "features": c["features"], "distill_weight": c["distill_weight"], "diverged_at": c["diverged_at"],
        }  # fmt: skip

    def target_moments(self, state, th):
        frame, mu_T, sigma_p = state["frame"], state["signals"].mu_T, th["task.sigma_p"]
        names = {"init": "W_transfer0", "tr": "W_transfer", "sc": "W_scratch"}
        return {k: (state[v] @ mu_T, noise_cov_dense(state[v], frame, sigma_p)) for k, v in names.items()}
