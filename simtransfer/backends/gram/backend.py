"""The gram backend's implementation of the protocol interface (``backends.base``):
the seed's basis and what each step of the protocol needs from it."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from theory.linalg import mm

from ...config import GRAM_TRACED_FIELDS, ConfigError
from ...nn.evaluate import final_errors, stage_curves
from ..base import Backend, Evaluation, clock_of, register
from .basis import LINEAR_OPTIMIZERS, GramBasis, basis_layout, normal, one_hot_init, sample_basis
from .evaluate import (
    coef_curves,
    empirical_error_gram,
    error_counts_gram,
    features_gram,
    noise_cov_gram,
    stage_coords,
)
from .train import train_gram

__all__ = ["GramData", "GramBackend"]


class GramData(NamedTuple):
    """One seed of the gram backend: its basis and what every stage reads off it."""

    keys: dict[str, jax.Array]  # pol, src_test, tgt_test (the dense trial's keys of those names)
    basis: GramBasis
    mu: dict[str, jax.Array]  # stage -> frame coordinates (3,) of its task signal
    Gmu: dict[str, jax.Array]  # stage -> (K,) <b_k, mu>
    scale_z: jax.Array  # (3,) ||u||, ||v_S||, ||v_T|| (1 for a zero norm)
    mc: dict[str, jax.Array]  # standard normal draws: final_up, final_dn, curve_up, curve_dn


@register("synthetic", "gram")
class GramBackend(Backend):
    """Synthetic data, filters as coefficients on the seed's basis (``simtransfer.backends.gram``).
    Refuses (``ConfigError``) optimizers that are not linear in the gradient."""

    TRACED = GRAM_TRACED_FIELDS  # d enters only as chi-square degrees of freedom (``basis``)

    def __init__(self, exp) -> None:
        super().__init__(exp)
        for stage in ("upstream", "downstream"):
            opt = getattr(exp, stage).optimizer
            if opt not in LINEAR_OPTIMIZERS:
                raise ConfigError(
                    f"{stage}.optimizer: {opt!r} is not available with backend = 'gram': the gram backend "
                    f"updates basis coefficients, which equals the dense update only for optimizers linear in "
                    f"the gradient ({', '.join(LINEAR_OPTIMIZERS)}); use one of them or backend = 'dense'"
                )
        self.lay = basis_layout(exp)

    def sample(self, key_data, th) -> GramData:
        key = jax.random.wrap_key_data(key_data)
        # The dense trial's nine keys, in its order; the policy, test-set and Monte-Carlo keys
        # serve as there, the others drive the basis (k_tgt is unused: one draw gives both
        # label sets).
        (k_frame, k_src, k_tgt, k_up, k_down, k_pol, k_src_test, k_tgt_test, k_mc) = jax.random.split(key, 9)
        basis = sample_basis(
            self.exp, k_normal=k_frame, k_chi=k_up, k_init=k_down, k_labels=k_src, d=th["task.d"],
            sigma_0=th["model.sigma_0"], sigma_p=th["task.sigma_p"], label_flip=th["task.label_flip"],
        )  # fmt: skip
        keys = {"pol": k_pol, "src_test": k_src_test, "tgt_test": k_tgt_test, "mc": k_mc}
        return self.from_basis(basis, keys, th)

    def from_basis(self, basis: GramBasis, keys: dict[str, jax.Array], th) -> GramData:
        """The seed's data on a given basis (``keys``: ``pol``, ``src_test``, ``tgt_test``,
        ``mc``); separate so that tests can run the protocol on the Gram of explicit vectors."""
        ev, P, m, m_up = self.exp.eval, self.exp.task.P, self.exp.model.m, self.exp.model.m_upstream
        G = basis.G
        a, b_S, b_T, s = th["task.a"], th["task.b_S"], th["task.b_T"], th["task.s"]
        zero = jnp.zeros_like(a)
        mu_S, mu_T = jnp.stack([a, b_S, zero]), jnp.stack([s * a, zero, b_T])  # frame coordinates
        Gmu_S, Gmu_T = mm(G[:, :3], mu_S), mm(G[:, :3], mu_T)  # (K,): <b_k, mu>
        # Common random numbers, as in the dense trial: one set of standard normal draws serves
        # every exact error of the seed (curves its first curve_draws rows, the upstream its
        # first 2 m_up columns); drawn by the blocked ``normal``, so not the dense trial's values.
        mc = normal(keys["mc"], (max(ev.mc_draws, ev.curve_draws), P - 1, 2 * max(m, m_up)))
        mcs = {
            "final_up": mc[: ev.mc_draws, :, : 2 * m_up], "final_dn": mc[: ev.mc_draws, :, : 2 * m],
            "curve_up": mc[: ev.curve_draws, :, : 2 * m_up], "curve_dn": mc[: ev.curve_draws, :, : 2 * m],
        }  # fmt: skip
        norms_z = jnp.stack([a, b_S, b_T])  # ||u||, ||v_S||, ||v_T||
        scale_z = jnp.where(norms_z == 0, 1.0, norms_z)
        return GramData(keys, basis, {"upstream": mu_S, "downstream": mu_T}, {"upstream": Gmu_S, "downstream": Gmu_T},
                        scale_z, mcs)  # fmt: skip

    def _pad(self, C):
        """Upstream coefficients (on the prefix basis) in the full basis."""
        return jnp.pad(C, ((0, 0), (0, 0), (0, self.lay["all"].stop - self.lay["upstream"].stop)))

    def init_filters(self, data, th):
        lay, m, m_up = self.lay, self.exp.model.m, self.exp.model.m_upstream
        return (one_hot_init(lay["up_init"].start, m_up, lay["upstream"].stop),
                one_hot_init(lay["fresh_init"].start, m, lay["all"].stop))  # fmt: skip

    def _stage_basis(self, data, stage):
        """(G, Lp, <b_k, mu>, noise slice, clean labels, observed labels) of a stage: the
        upstream model lives on the prefix basis (frame, upstream init, source noise)."""
        b, K_up = data.basis, self.lay["upstream"].stop
        if stage == "upstream":
            return (b.G[:K_up, :K_up], b.Lp[:K_up], data.Gmu["upstream"][:K_up], self.lay["source_noise"],
                    b.y_signal_S, b.y_S)  # fmt: skip
        return b.G, b.Lp, data.Gmu["downstream"], self.lay["target_noise"], b.y_signal_T, b.y_T

    def train_stage(self, data, stage, W0, act, th, frozen=None, distill=None):
        G_s, Lp_s, Gmu, noise, y_signal, y = self._stage_basis(data, stage)
        G, scale_z, sigma_p = data.basis.G, data.scale_z, th["task.sigma_p"]

        def metrics(C):
            """Logged per step: what the exact test error needs (``nn.evaluate.stage_curves``
            computes it after training, for all logged steps at once), and gamma/rho of the
            stage's update C - C0."""
            return {"_sig": mm(C, Gmu), "_cov": noise_cov_gram(C, Lp_s, sigma_p),
                    **coef_curves(C - W0, G, scale_z, noise, y)}  # fmt: skip

        return train_gram(W0, G_s, y_signal, y, data.mu[stage], th[f"{stage}.eta"], noise=noise,
                          cfg=getattr(self.exp, stage), act=act, frozen=frozen, metrics_fn=metrics,
                          clock=clock_of(th, stage))  # fmt: skip

    def inheritable(self, data, W_up):
        return self._pad(W_up), data.basis.G[:, 0]  # <w, e_u> = C G[:, 0]

    def teacher(self, data, W_up, act):
        raise ConfigError('transfer.mode: distillation needs backend = "dense"')

    def features(self, data, W_up, act):
        """The upstream model's estimator features on both training sets (``Evaluation.feats``)."""
        G, b, lay, K_up = data.basis.G, data.basis, self.lay, self.lay["upstream"].stop
        Gmu_T, Gmu_S = data.Gmu["downstream"][:K_up], data.Gmu["upstream"][:K_up]
        phi = {
            "target": features_gram(W_up, G[:K_up, lay["target_noise"]], Gmu_T, b.y_signal_T, act),
            "source": features_gram(W_up, G[:K_up, lay["source_noise"]], Gmu_S, b.y_signal_S, act),
        }
        return phi, {"target": b.y_T, "source": b.y_S}

    def evaluate(self, data, W_up, models, curves, act, th):
        ev, P = self.exp.eval, self.exp.task.P
        Lp, sigma_p, p = data.basis.Lp, th["task.sigma_p"], th["task.label_flip"]
        _, Lp_up, Gmu_S_up, *_ = self._stage_basis(data, "upstream")
        Gmu_S, Gmu_T = data.Gmu["upstream"], data.Gmu["downstream"]
        feats = self.features(data, W_up, act) if self.exp.eval.scores else None
        emp_kw = dict(Lp=Lp, chunk=ev.test_chunk, P=P, sigma_p=sigma_p, label_flip=p, act=act)
        emp_up = empirical_error_gram(data.keys["src_test"], self._pad(W_up)[None], Gmu_S, n_test=ev.n_test_source,
                                      **emp_kw)[0]  # fmt: skip
        emp_count = error_counts_gram(data.keys["tgt_test"], models, Gmu_T, n_test=ev.n_test, **emp_kw)
        emp_dn = emp_count / max(ev.n_test, 1)
        # exact errors: along the logged curves, of the upstream model, of the target models
        c_up, c_dn = stage_curves(*curves, data.mc["curve_up"], data.mc["curve_dn"], act, p)
        covs = jax.vmap(lambda C: noise_cov_gram(C, Lp, sigma_p))(models)
        ex_up, ex_dn = final_errors(mm(W_up, Gmu_S_up), noise_cov_gram(W_up, Lp_up, sigma_p), data.mc["final_up"],
                                    mm(models, Gmu_T), covs, data.mc["final_dn"], act, p)
        # From the counts: XLA:CPU contracts ``c_s / n - c_t / n`` into an FMA whose rounding
        # leaves ~1e-9 at alpha = 0 although the two errors are bit-for-bit equal.
        emp_gain = (emp_count[2] - emp_count[1]) / max(ev.n_test, 1)
        return Evaluation(ex_up, emp_up, ex_dn, emp_dn, c_up, c_dn, feats, {"emp_gain": emp_gain})

    def state(self, data, common):
        """The basis (Gram, complement factor, labels; its blocks are ``basis_layout(exp)``),
        the coefficients of every model (``C_*``, (2, m, K)), the inheritance masks, and each
        stage's docs/design.md section 5 coordinates of its update ``coords[stage]``:
        ``gamma`` (2, m, 3) along (u, v_S, v_T) and ``rho`` (2, m, n (P-1)) over the stage's
        own training noise patches."""
        c, G, lay = common, data.basis.G, self.lay
        coords = lambda C, C0, noise: dict(zip(("gamma", "rho"), stage_coords(C - C0, G, data.scale_z, noise)))  # noqa: E731
        return {
            "basis": data.basis,
            "C_up0": self._pad(c["up0"]), "C_up": self._pad(c["up"]), "C_fresh": c["fresh"],
            "C_transfer0": c["transfer0"], "C_transfer": c["transfer"], "C_scratch": c["scratch"],
            "inherited": c["inherited"], "source_index": c["source_index"], "frozen": c["frozen"],
            "diverged_at": c["diverged_at"], "features": c["features"],
            "coords": {
                "upstream": coords(c["up"], c["up0"], lay["source_noise"]),
                "transfer": coords(c["transfer"], c["transfer0"], lay["target_noise"]),
                "scratch": coords(c["scratch"], c["fresh"], lay["target_noise"]),
            },
        }  # fmt: skip

    def target_moments(self, state, th):
        G, Lp, sigma_p = state["basis"].G, state["basis"].Lp, th["task.sigma_p"]
        mu_T = jnp.stack([th["task.s"] * th["task.a"], jnp.zeros_like(th["task.a"]), th["task.b_T"]])
        Gmu = G[:, :3] @ mu_T

        def pre_cov(C):
            M = C.reshape(-1, C.shape[-1]) @ Lp
            return C @ Gmu, sigma_p**2 * (M @ M.T)

        names = {"init": "C_transfer0", "tr": "C_transfer", "sc": "C_scratch"}
        return {k: pre_cov(state[v]) for k, v in names.items()}
