r"""Signal learning gamma and noise memorisation rho recorded during training (docs/design.md section 5).

Within a stage, gradient descent adds to each filter only multiples of the signal
directions and of the stage's training noise patches, so relative to the stage's
initial filters ``W0``

    w_{j,r} - w0_{j,r} = sum_{z in {u, v_S, v_T}} gamma_{j,r,z} z/||z||^2 + sum_i rho_{j,r,i} xi_i/||xi_i||^2

exactly (``theory.decompose`` solves the same system for arbitrary patch sets).  The
projector below factors the Gram matrix of the stage's unit patches once, keeps its
inverse, and then costs one (3 + K) x d x 2m product per logged step.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from theory.linalg import psd_cholesky, solve_lower, solve_upper

__all__ = ["COEF_CURVES", "stage_projector", "coef_summaries"]

#: Coefficient curves each stage records (suffixes of ``curve_<stage>_``).
COEF_CURVES = ("gamma_u", "gamma_S", "gamma_T", "rho_same", "rho_other")


def stage_projector(
    frame: jax.Array, norms: jax.Array, xi: jax.Array, y: jax.Array
) -> Callable[[jax.Array, jax.Array], dict[str, jax.Array]]:
    """Summaries of (gamma, rho) of ``W - W0`` for one stage.

    Args:
      frame: (3, d) unit directions of (u, v_S, v_T); norms: (3,) their norms (a, b_S, b_T).
      xi: (n, P-1, d) the stage's training noise patches; y: (n,) observed labels (0 on
        the padding of a bucketed set: those patches are left out of rho's summaries).

    Returns:
      ``f(W, W0) -> {gamma_u, gamma_S, gamma_T, rho_same, rho_other}``, scalars:
      ``gamma_z = mean_r (gamma_{+1,r,z} - gamma_{-1,r,z}) / 2`` (signal learning of the
      proofs, j gamma_{j,r,z}, averaged over filters; for a zero-norm signal, the
      coefficient along its unit direction), ``rho_same = mean of rho_{j,r,i}`` over the
      patches with y_i = j (the positive memorisation rho-bar of Kou et al.), ``rho_other``
      over y_i != j (the negative part rho-underbar).
    """
    n, Pm1, d = xi.shape
    flat = xi.reshape(n * Pm1, d)
    xi_norm = jnp.linalg.norm(flat, axis=-1)
    E = jnp.concatenate([frame, flat / xi_norm[:, None]])  # (3 + K, d) unit rows
    L = psd_cholesky(E @ E.T)
    eye = jnp.eye(E.shape[0], dtype=E.dtype)
    G_inv = solve_upper(L.T, solve_lower(L, eye))  # once per stage
    scale = jnp.concatenate([jnp.where(norms == 0, 1.0, norms), xi_norm])  # coefficient -> gamma / rho
    y_patch = jnp.repeat(y, Pm1)  # (K,)

    def project(W: jax.Array, W0: jax.Array) -> dict[str, jax.Array]:
        D = (W - W0).reshape(-1, d)  # (2m, d)
        c = (G_inv @ (E @ D.T)) * scale[:, None]  # (3 + K, 2m)
        m = D.shape[0] // 2
        gamma = c[:3].reshape(3, 2, m).transpose(1, 2, 0)  # (2, m, 3)
        rho = c[3:].reshape(-1, 2, m).transpose(1, 2, 0)  # (2, m, K)
        return coef_summaries(gamma, rho, y_patch)

    return project


def coef_summaries(gamma: jax.Array, rho: jax.Array, y_patch: jax.Array) -> dict[str, jax.Array]:
    """The COEF_CURVES from the coefficients of ``W - W0``: ``gamma`` (2, m, 3) on the
    signals (u, v_S, v_T), ``rho`` (2, m, K) on the K patches of labels ``y_patch``.

    ``gamma_z = mean_r (gamma_{+1,r,z} - gamma_{-1,r,z}) / 2``; ``rho_same`` / ``rho_other``:
    rho_{j,r,i} summed over the patches with y_i = j / y_i != j, divided by (their number x m);
    patches with y_i = 0 (the padding of a bucketed training set) count in neither.
    """
    m = rho.shape[1]
    g = 0.5 * (gamma[0] - gamma[1]).mean(0)  # (3,)
    w_same = jnp.stack([y_patch > 0, y_patch < 0])[:, None, :].astype(rho.dtype)  # (2, 1, K)
    w_other = (y_patch != 0).astype(rho.dtype)[None, None, :] - w_same  # a label 0 marks a masked patch
    n_same = jnp.maximum(w_same.sum(), 1.0) * m
    n_other = jnp.maximum(w_other.sum(), 1.0) * m
    return {
        "gamma_u": g[0],
        "gamma_S": g[1],
        "gamma_T": g[2],
        "rho_same": (rho * w_same).sum() / n_same,
        "rho_other": (rho * w_other).sum() / n_other,
    }
