r"""The proofs' idealised dynamics on (gamma, rho) (docs/theory.md section 4), beside the real ones.

GD keeps every filter in w^(0) + span(mu, xi_1, ..., xi_N), so writing
``w_{j,r} = w_{j,r}^(0) + gamma_{j,r} mu/||mu||^2 + sum_q rho_{j,r,q} xi_q/||xi_q||^2``
(one task, signal ``mu``, N = n (P-1) noise patches), GD on the logistic loss is exactly a
recursion on the coefficients driven by the Gram matrix K of v = (mu, xi_1, ..., xi_N):

    pre_k(t)   = <w(t), v_k> = <w(0), v_k> + sum_l c_l(t) K_{lk}      (c_l = coefficient of v_l)
    c_k(t + 1) = c_k(t) - eta dL/dpre_k(t)

with L the loss as a function of the pre-activations (the activation pattern of each filter
on each patch is the sign of pre_k, through act').  gamma = c_mu ||mu||^2, rho_q = c_q ||xi_q||^2.

* real dynamics: the true K;
* the proofs' idealisation: K = diag(||mu||^2, sigma_p^2 d, ..., sigma_p^2 d) (noise patches
  exactly orthogonal to each other and to mu, all of squared norm sigma_p^2 d);
* ``"norms"``: diagonal with the true norms (orthogonality assumed, norms not).

Both start from the same draw: the initial pre-activations ``A = <w0_{j,r}, mu>`` and
``B = <w0_{j,r}, xi_q>``, the labels, the norms.  :func:`divergence_vs_d_over_n` runs the three
side by side and reports where the idealisation breaks as d/n shrinks.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory.exact import activation_fn, output_from_preacts

__all__ = [
    "Coefficients",
    "initial_preacts",
    "patch_gram",
    "ideal_gram",
    "coefficient_dynamics",
    "divergence_vs_d_over_n",
]


class Coefficients(NamedTuple):
    gamma: jax.Array  # (2, m) signal learning along mu
    rho: jax.Array  # (2, m, n, P-1) noise memorisation of each training noise patch
    loss: jax.Array  # (n_logged,) training loss at steps 0, log_every, ..., T


def initial_preacts(W0: jax.Array, mu: jax.Array, xi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``A = <w0_{j,r}, mu>`` (2, m) and ``B = <w0_{j,r}, xi_{i,p}>`` (2, m, n, P-1) for ``xi`` (n, P-1, d)."""
    return W0 @ mu, jnp.einsum("jrd,ipd->jrip", W0, xi)


def patch_gram(mu: jax.Array, xi: jax.Array) -> jax.Array:
    """The true Gram matrix K of (mu, xi_1, ..., xi_N), (1 + N, 1 + N)."""
    V = jnp.concatenate([mu[None], xi.reshape(-1, xi.shape[-1])])
    return V @ V.T


def ideal_gram(mu_norm2, N: int, sigma_p, d: int) -> jax.Array:
    """The proofs' K: diag(||mu||^2, sigma_p^2 d, ..., sigma_p^2 d), (1 + N, 1 + N)."""
    mu2 = jnp.reshape(jnp.asarray(mu_norm2, jnp.float32), (1,))
    return jnp.diag(jnp.concatenate([mu2, jnp.full((N,), sigma_p**2 * d, jnp.float32)]))


def _loss(pre, y_signal, y, Pm1: int, act):
    """L from pre-activations pre (2, m, 1 + N) on (mu, xi_1..xi_N); N = n (P-1)."""
    two, m, _ = pre.shape
    n = y.shape[0]
    sig = y_signal[:, None, None, None] * pre[None, None, :, :, 0]  # (n, 1, 2, m)
    noise = jnp.transpose(pre[..., 1:].reshape(two, m, n, Pm1), (2, 3, 0, 1))  # (n, P-1, 2, m)
    f = output_from_preacts(jnp.concatenate([sig, noise], axis=1), act)
    return jnp.mean(jnp.logaddexp(0.0, -y * f))


@functools.partial(jax.jit, static_argnames=("steps", "activation", "log_every"))
def coefficient_dynamics(
    A: jax.Array,
    B: jax.Array,
    y_signal: jax.Array,
    y: jax.Array,
    K: jax.Array,
    eta,
    steps: int,
    activation: str = "relu",
    log_every: int = 0,
) -> Coefficients:
    r"""T = ``steps`` steps of GD written on the coefficients (module docstring).

    Args:
      A, B: initial pre-activations (:func:`initial_preacts`).
      y_signal, y: (n,) clean labels (signal patch ``y_signal mu``) and observed labels.
      K: (1 + N, 1 + N) Gram matrix of (mu, xi): :func:`patch_gram` for the real dynamics,
        :func:`ideal_gram` for the proofs' idealisation.
      log_every: record the training loss every that many steps (0: only at 0 and T).
    """
    act = activation_fn(activation)
    two, m, n, Pm1 = B.shape
    pre0 = jnp.concatenate([A[..., None], B.reshape(two, m, n * Pm1)], axis=-1)
    loss_grad = jax.value_and_grad(_loss)

    def step(_, c):
        _, g = loss_grad(pre0 + c @ K, y_signal, y, Pm1, act)
        return c - eta * g

    every = max(1, steps if log_every <= 0 else log_every)
    n_seg, rem = divmod(steps, every)

    def seg(c, _):
        c = jax.lax.fori_loop(0, every, step, c)
        return c, _loss(pre0 + c @ K, y_signal, y, Pm1, act)

    c = jnp.zeros_like(pre0)
    l0 = _loss(pre0, y_signal, y, Pm1, act)
    c, losses = jax.lax.scan(seg, c, None, length=n_seg)
    parts = [l0[None], losses]
    if rem:
        c = jax.lax.fori_loop(0, rem, step, c)
        parts.append(_loss(pre0 + c @ K, y_signal, y, Pm1, act)[None])
    scale = jnp.diagonal(K)
    rho = (c[..., 1:] * scale[None, None, 1:]).reshape(B.shape)
    return Coefficients(c[..., 0] * scale[0], rho, jnp.concatenate(parts))


def _rel(x, ref) -> float:
    return float(jnp.linalg.norm(x - ref) / jnp.linalg.norm(ref))


def divergence_vs_d_over_n(
    key: jax.Array,
    d_values=(25, 50, 100, 200, 400, 1000, 4000),
    n: int = 20,
    snr2: float = 1.0,
    sigma_p: float = 1.0,
    m: int = 10,
    sigma_0: float = 0.01,
    eta: float = 0.5,
    steps: int = 300,
    seeds: int = 4,
) -> list[dict[str, float]]:
    r"""Idealised vs real GD on the same draws, for each d (P = 2, n samples, SNR2 fixed).

    Per seed: ``mu = ||mu|| e_1`` with ``||mu||^4 = snr2 sigma_p^4 d / n``, noise
    ``xi ~ N(0, sigma_p^2 (I - e_1 e_1^T))``, ``w0 ~ N(0, sigma_0^2 I)``, balanced random labels.
    One row per d (seed means): ``orth`` = max_{q != q'} |<xi_q, xi_q'>| / (sigma_p^2 d) and
    ``norm_dev`` = max_q | ||xi_q||^2 / (sigma_p^2 d) - 1 | (how far the data are from the
    idealisation); ``gamma_err``/``rho_err`` = relative error of the idealised (gamma, rho)
    against the real ones after ``steps`` steps, ``gamma_err_norms``/``rho_err_norms`` the same
    with true norms (orthogonality the only idealisation); ``pattern`` = fraction of
    (filter, noise patch) activation signs on which the idealised and real dynamics disagree
    at the end; ``loss_real``, ``loss_ideal`` the final training losses.
    """
    rows = []
    for d in d_values:
        mu_norm = (snr2 * sigma_p**4 * d / n) ** 0.25
        acc: dict[str, list[float]] = {}
        for sk in jax.random.split(jax.random.fold_in(key, d), seeds):
            k_w, k_xi, k_y = jax.random.split(sk, 3)
            mu = jnp.zeros((d,)).at[0].set(mu_norm)
            xi = sigma_p * jax.random.normal(k_xi, (n, 1, d)).at[..., 0].set(0.0)
            y = jax.random.rademacher(k_y, (n,), jnp.float32)
            W0 = sigma_0 * jax.random.normal(k_w, (2, m, d))
            A, B = initial_preacts(W0, mu, xi)
            K = patch_gram(mu, xi)
            dk = jnp.diagonal(K)
            runs = {
                "real": K,
                "ideal": ideal_gram(mu_norm**2, n, sigma_p, d),
                "norms": jnp.diag(dk),
            }
            out = {k: coefficient_dynamics(A, B, y, y, Kk, eta, steps) for k, Kk in runs.items()}
            Gx = K[1:, 1:] / (sigma_p**2 * d)
            pre_r = B[..., 0] + jnp.einsum("jrq,qp->jrp", out["real"].rho[..., 0] / dk[None, None, 1:], K[1:, 1:])
            pre_i = B[..., 0] + out["ideal"].rho[..., 0]
            vals = {
                "orth": float(jnp.max(jnp.abs(Gx - jnp.diag(jnp.diagonal(Gx))))),
                "norm_dev": float(jnp.max(jnp.abs(jnp.diagonal(Gx) - 1))),
                "gamma_err": _rel(out["ideal"].gamma, out["real"].gamma),
                "rho_err": _rel(out["ideal"].rho, out["real"].rho),
                "gamma_err_norms": _rel(out["norms"].gamma, out["real"].gamma),
                "rho_err_norms": _rel(out["norms"].rho, out["real"].rho),
                "pattern": float(jnp.mean((pre_r > 0) != (pre_i > 0))),
                "loss_real": float(out["real"].loss[-1]),
                "loss_ideal": float(out["ideal"].loss[-1]),
            }
            for k, v in vals.items():
                acc.setdefault(k, []).append(v)
        rows.append({"d": d, "n": n, "d_over_n": d / n, **{k: float(np.mean(v)) for k, v in acc.items()}})
    return rows
