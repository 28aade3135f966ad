r"""Figure 5: signal learning gamma and noise memorisation rho over training steps.

For the upstream model (source task), the transfer model and the scratch model (target
task), on the same draws (one trial of ``simtransfer.protocol.make_trial_state`` per seed):

* **empirical** (solid, mean +- s.e. over seeds as shading): the simulator's own GD,
  rerun from the trial's initial filters and data in segments of ``log_every`` steps (plain
  GD has no optimizer state, so the segments compose exactly; the final filters are
  checked against the trial's), and decomposed exactly (``theory.decompose``):
  gamma = (1/2m) sum_{j,r} j <w_{j,r}(t) - w_{j,r}(0), mu>, mu the stage's task signal
  (mu_S upstream, mu_T downstream); rho_same / rho_other = mean of the noise coefficients
  rho_{j,r,i} over the filters and the training samples with y_i = j / y_i != j.
* **idealised theory** (dashed): the proofs' recursion on (gamma, rho)
  (``theory.coefficient_dynamics`` with ``theory.ideal_gram``: noise patches exactly
  orthogonal with ||xi||^2 = sigma_p^2 d, docs/theory.md section 4), started from the same
  initial pre-activations <w(0), mu>, <w(0), xi_i> and labels, summarised the same way.

The idealised recursion knows nothing of the other task: for the transfer model it starts
from the inherited filters' pre-activations on the target data, like the real GD.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from figures import common as C
from figures import plotting as P

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

import theory  # noqa: E402
from simtransfer.config import Train  # noqa: E402
from simtransfer.config.data import Batch  # noqa: E402
from simtransfer.nn.model import activation  # noqa: E402
from simtransfer.runs.run import seed_keys  # noqa: E402
from simtransfer.nn.train import train  # noqa: E402
from simtransfer.protocol import make_trial_state, theta_of  # noqa: E402

NAME = "dynamics"
SEEDS = 8
#: Figure 2's negative-transfer corner: n_S = 640, a = 0.35 (alpha = 0.5).
POINT = {"n_source": 640, "task.a": 0.35}
STAGES = ("upstream", "transfer", "scratch")


def _segment(cfg: Train, exp) -> tuple[int, int]:
    if cfg.optimizer != "sgd":
        raise ValueError(f"{NAME}: segments compose exactly only for plain GD (optimizer 'sgd'), not {cfg.optimizer!r}")
    every = math.gcd(cfg.steps, cfg.log_every) if cfg.steps else 1
    return every, (cfg.steps // every if cfg.steps else 0)


def make_chain(exp, cfg: Train, every: int, n_seg: int):
    """jit(vmap over seeds) of GD in ``n_seg`` segments of ``every`` steps, returning the
    filters at steps 0, every, 2 every, ... (n_seg + 1, 2, m, d)."""
    act = activation(exp.model.activation, exp.model.leak, exp.model.q)
    seg = Train(steps=every, eta=cfg.eta, optimizer=cfg.optimizer, log_every=every)

    def one(W0, xi, y_signal, y, pos, mu, eta, frozen):
        data = Batch(xi, y_signal, y, pos)

        def body(W, _):
            W, _, _ = train(W, data, mu, eta, cfg=seg, act=act, frozen=frozen)
            return W, W

        _, Ws = jax.lax.scan(body, W0, None, length=n_seg)
        return jnp.concatenate([W0[None], Ws])

    return jax.jit(jax.vmap(one))


def make_ideal(exp, every: int, n_seg: int):
    """jit(vmap) of the idealised recursion in segments; with the diagonal (ideal) Gram
    matrix the pre-activations after a segment are A + gamma, B + rho, so the segments
    compose exactly.  Returns gamma (n_seg + 1, 2, m) and rho (n_seg + 1, 2, m, n, P - 1)."""
    kind = exp.model.activation

    def one(A, B, y_signal, y, K, eta):
        def body(carry, _):
            g, r = carry
            c = theory.coefficient_dynamics(A + g, B + r, y_signal, y, K, eta, steps=every, activation=kind)
            g, r = g + c.gamma, r + c.rho
            return (g, r), (g, r)

        z = (jnp.zeros_like(A), jnp.zeros_like(B))
        _, (gs, rs) = jax.lax.scan(body, z, None, length=n_seg)
        return jnp.concatenate([z[0][None], gs]), jnp.concatenate([z[1][None], rs])

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, None, None)))


def _summaries(gamma_jr, rho, y):
    """gamma (S, T, 2, m) class-signed mean; rho (S, T, 2, m, n, P-1) -> same/other means."""
    jsign = jnp.array([1.0, -1.0])
    g = jnp.mean(gamma_jr * jsign[None, None, :, None], axis=(2, 3))
    same = (y[:, None, :] == jsign[None, :, None])  # (S, 2, n): y_i = j
    w = same[:, None, :, None, :, None].astype(rho.dtype)
    rp = rho.mean(axis=-1, keepdims=True)  # over the P - 1 noise patches of a sample
    rs = jnp.sum(rp * w, axis=(2, 3, 4, 5)) / jnp.sum(w * jnp.ones_like(rp), axis=(2, 3, 4, 5))
    ro = jnp.sum(rp * (1 - w), axis=(2, 3, 4, 5)) / jnp.sum((1 - w) * jnp.ones_like(rp), axis=(2, 3, 4, 5))
    return np.asarray(g), np.asarray(rs), np.asarray(ro)


def compute(config=None, quick: bool = False):
    base = (C.quick_base() if quick else C.prototype().set(**POINT)) if config is None else config
    seeds = C.SEEDS_QUICK if quick else SEEDS
    keys = seed_keys(C.KEY, seeds)
    th = theta_of(base)
    state = jax.jit(jax.vmap(make_trial_state(base), in_axes=(0, None)))(keys, th)
    sig = state["signals"]
    out, attrs = {}, {"config": base.to_toml(), "seeds": seeds, "key": C.KEY}
    sp, d = base.task.sigma_p, base.task.d
    for stage in STAGES:
        cfg = base.upstream if stage == "upstream" else base.downstream
        every, n_seg = _segment(cfg, base)
        data = state["source"] if stage == "upstream" else state["target"]
        mu = sig.mu_S if stage == "upstream" else sig.mu_T
        W0 = {"upstream": state["W_up0"], "transfer": state["W_transfer0"], "scratch": state["W_fresh"]}[stage]
        W_end = {"upstream": state["W_up"], "transfer": state["W_transfer"], "scratch": state["W_scratch"]}[stage]
        frozen = state["frozen"] if stage == "transfer" else jnp.zeros_like(state["frozen"])
        Ws = make_chain(base, cfg, every, n_seg)(W0, data.xi, data.y_signal, data.y, data.pos, mu,
                                                 jnp.full((seeds,), cfg.eta, jnp.float32), frozen)  # fmt: skip
        # the segments reproduce the trial's own training
        rel = float(jnp.max(jnp.linalg.norm((Ws[:, -1] - W_end).reshape(seeds, -1), axis=1)
                            / jnp.linalg.norm((W_end - W0).reshape(seeds, -1), axis=1)))  # fmt: skip
        attrs[f"chain_vs_trial_rel_{stage}"] = rel
        # empirical: exact decomposition of W(t) - W(0) on the stage's training noise
        dW = Ws - W0[:, None]
        gam_emp = jnp.einsum("stjrd,sd->stjr", dW, mu)
        dec = jax.vmap(lambda W, W0_, frame, xi: theory.decompose(W, jnp.broadcast_to(W0_, W.shape), frame, xi))(
            Ws[:, 1:], W0, sig.frame, data.xi)  # fmt: skip
        rho_emp = jnp.concatenate([jnp.zeros_like(dec.rho[:, :1]), dec.rho], axis=1)
        attrs[f"decomposition_residual_{stage}"] = float(jnp.max(dec.residual))
        # idealised: same initial pre-activations and labels
        A, B = jax.vmap(theory.initial_preacts)(W0, mu, data.xi)
        n, Pm1 = data.xi.shape[1], data.xi.shape[2]
        mu2 = float(np.mean(np.asarray(jnp.sum(mu * mu, axis=-1))))
        K = theory.ideal_gram(mu2, n * Pm1, sp, d)
        g_id, r_id = make_ideal(base, every, n_seg)(A, B, data.y_signal, data.y, K, jnp.float32(cfg.eta))
        steps = np.arange(n_seg + 1) * every
        dim = f"step_{'upstream' if stage == 'upstream' else 'downstream'}"
        for src, (gg, rr) in (("emp", (gam_emp, rho_emp)), ("ideal", (g_id, r_id))):
            g, rs, ro = _summaries(gg, rr, data.y)
            for q, v in (("gamma", g), ("rho_same", rs), ("rho_other", ro)):
                out[f"{src}_{q}_{stage}"] = (("seed", dim), v)
        out[f"steps_{stage}"] = ((dim,), steps)
        C.log(f"{NAME}: {stage}: chain vs trial {rel:.1e}, decomposition residual {attrs[f'decomposition_residual_{stage}']:.1e}")
    coords = {"seed": np.arange(seeds), "step_upstream": np.asarray(out.pop("steps_upstream")[1]),
              "step_downstream": np.asarray(out.pop("steps_transfer")[1])}  # fmt: skip
    out.pop("steps_scratch")
    ds = xr.Dataset(out, coords=coords)
    ds.attrs.update(attrs)
    return ds


def plot(ds, out_dir):
    exp = C.exp_of(ds.attrs["config"])
    fig, axs = plt.subplots(2, 3, figsize=(14.5, 7.4), layout="constrained", sharex="col")
    cols = {"emp": "#1f4e79", "ideal": "#e08214"}
    for c, stage in enumerate(STAGES):
        dim = "step_upstream" if stage == "upstream" else "step_downstream"
        t = ds[dim].values
        for r, qs in enumerate((("gamma",), ("rho_same", "rho_other"))):
            ax = axs[r, c]
            for q in qs:
                ls = "-" if q != "rho_other" else ":"
                for src in ("emp", "ideal"):
                    m, se = C.mean_se(ds[f"{src}_{q}_{stage}"])
                    name = {"gamma": r"$\gamma$", "rho_same": r"$\rho$ ($y_i = j$)", "rho_other": r"$\rho$ ($y_i \neq j$)"}[q]
                    lab = f"{name}: {'empirical (simulator GD, exact decomposition)' if src == 'emp' else 'idealised theory (proofs recursion, same draws)'}"
                    ax.plot(t, m, color=cols[src], linestyle=ls if src == "emp" else ("--" if q != "rho_other" else "-."),
                            linewidth=1.8 if src == "emp" else 1.5, label=lab)  # fmt: skip
                    ax.fill_between(t, m - se, m + se, color=cols[src], alpha=0.25, linewidth=0)
            ax.axhline(0, color="0.6", linewidth=0.7)
            if r == 1:
                ax.set_xlabel("training step $t$")
            ax.set_ylabel(r"signal learning $\gamma$" if r == 0 else r"noise memorisation $\rho$")
        task = r"source, $\mu = \mu_S$" if stage == "upstream" else r"target, $\mu = \mu_T$"
        extra = f", $\\alpha$ = {exp.transfer.alpha:g} inherited" if stage == "transfer" else ""
        axs[0, c].set_title(f"({'abc'[c]}) {stage} ({task}{extra})")
    handles, labels = [], []
    for ax in (axs[0, 0], axs[1, 0]):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"$n_S$ = {exp.n_source}, $n_T$ = {exp.n_target}, $d$ = {exp.task.d}, $a$ = {exp.task.a:g}, "
                 f"$b_T$ = {exp.task.b_T:g}, $m$ = {exp.model.m}; mean ± s.e. over {ds.sizes['seed']} seeds "
                 f"(shading); γ = mean of $j\\langle w_{{j,r}}(t) - w_{{j,r}}(0), \\mu\\rangle$",
                 fontsize=10)  # fmt: skip
    return fig


def summary(ds) -> dict:
    out = {}
    for stage in STAGES:
        for q in ("gamma", "rho_same", "rho_other"):
            e, _ = C.mean_se(ds[f"emp_{q}_{stage}"])
            i, _ = C.mean_se(ds[f"ideal_{q}_{stage}"])
            out[f"{q}_{stage}"] = {"emp_end": round(float(e[-1]), 4), "ideal_end": round(float(i[-1]), 4)}
    out.update({k: v for k, v in ds.attrs.items() if k.startswith(("chain", "decomposition"))})
    return out


main = P.figure_main(NAME, compute, plot)


if __name__ == "__main__":
    P.cli(main)
