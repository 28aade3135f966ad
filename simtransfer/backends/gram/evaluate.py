"""Evaluation in the basis (docs/theory.md section 2, docs/design.md section 5): exact and
empirical test errors, the estimators' features and the signal/noise coordinates of the
gram backend's coefficients."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.linalg import mm

from ...nn.coefficients import coef_summaries
from ...nn.estimators import features_from_preacts
from ...nn.evaluate import projected_error_counts
from ...nn.model import Activation
from .basis import normal

__all__ = ["noise_cov_gram", "empirical_error_gram", "error_counts_gram", "stage_coords",
           "coef_curves", "features_gram"]  # fmt: skip


def noise_cov_gram(C: jax.Array, Lp: jax.Array, sigma_p) -> jax.Array:
    """(2m, 2m) ``sigma_p^2 W (I - Pi) W^T = sigma_p^2 (C L_p)(C L_p)^T``."""
    M = mm(C.reshape(-1, C.shape[-1]), Lp)  # (2m, R)
    return sigma_p**2 * mm(M, M.T)


def empirical_error_gram(key, Cs, Gmu, Lp, n_test: int, chunk: int, P: int, sigma_p, label_flip, act) -> jax.Array:
    """Error of each model of ``Cs`` (k, 2, m, K) on one shared fresh test set of ``n_test``
    target points (``Gmu`` (K,) = <b_k, mu>), as ``evaluate.empirical_error_dense``: a
    test point's noise patch xi enters only via ``(<b_k, xi>)_k``, jointly
    ``N(0, sigma_p^2 G_perp)`` = ``sigma_p L_p eps``, so model k sees
    ``sigma_p (C_k L_p) eps`` (``evaluate.projected_error_counts``), exact in
    distribution given the basis.  Returns (k,) counts / n_test; NaN if n_test = 0."""
    return error_counts_gram(key, Cs, Gmu, Lp, n_test, chunk, P, sigma_p, label_flip, act) / max(n_test, 1)


def error_counts_gram(key, Cs, Gmu, Lp, n_test: int, chunk: int, P: int, sigma_p, label_flip, act) -> jax.Array:
    k, _, m, K = Cs.shape
    M = jax.vmap(lambda C: mm(C.reshape(2 * m, K), Lp))(Cs)  # (k, 2m, K): <w, xi> = sigma_p M eps
    return projected_error_counts(key, mm(Cs, Gmu), M, n_test, chunk, P, sigma_p, label_flip, act, normal=normal)


def stage_coords(dC, G, scale_z, noise: slice) -> tuple[jax.Array, jax.Array]:
    """docs/design.md section 5 coordinates of a stage's update ``dC = C - C0`` (2, m, K):
    ``gamma`` (2, m, 3) along (u, v_S, v_T) and ``rho`` (2, m, N) over the noise patches
    ``noise``.  With ``w - w0 = sum_z gamma_z z/||z||^2 + sum_i rho_i xi_i/||xi_i||^2``:
    a unit frame direction's coefficient is gamma/||z||, a raw patch's rho/||xi||^2.
    ``scale_z`` (3,) is ||z||, 1 for a zero-norm signal (then gamma is the coefficient
    along its unit direction, as in ``coefficients.stage_projector``)."""
    diag = jnp.diagonal(G)  # ||b_k||^2
    return dC[..., :3] * scale_z[None, None, :], dC[..., noise] * diag[noise][None, None, :]


def coef_curves(dC, G, scale_z, noise: slice, y: jax.Array) -> dict[str, jax.Array]:
    """The COEF_CURVES summaries of ``coefficients.stage_projector``, read off the
    coefficients instead of solved for: ``gamma_z = mean_r (gamma_{+1,r,z} -
    gamma_{-1,r,z}) / 2``; ``rho_same`` / ``rho_other``: rho_{j,r,i} summed over the
    patches with y_i = j / y_i != j, divided by (patches x m) as there."""
    gamma, rho = stage_coords(dC, G, scale_z, noise)
    return coef_summaries(gamma, rho, jnp.repeat(y, rho.shape[2] // y.shape[0]))


def features_gram(C: jax.Array, G_noise: jax.Array, Gmu: jax.Array, y_signal: jax.Array, act: Activation) -> jax.Array:
    """``estimators.features`` in the basis: phi (n, 2m) of the filters with coefficients ``C``
    (2, m, K') on n inputs whose noise patches have the basis inner products ``G_noise``
    (K', n (P-1), ordered (i, p)) and whose signal patch is ``y_signal mu``, ``Gmu`` (K',) =
    <b_k, mu>: the pre-activations are ``C G_noise`` and ``y_i C Gmu``, exactly the dense ones."""
    _, m, K = C.shape
    n = y_signal.shape[0]
    pre_noise = mm(C.reshape(2 * m, K), G_noise).reshape(2, m, n, -1).transpose(2, 3, 0, 1)  # (n, P-1, 2, m)
    pre_sig = y_signal[:, None, None, None] * mm(C, Gmu)[None, None]  # (n, 1, 2, m)
    return features_from_preacts(jnp.concatenate([pre_sig, pre_noise], axis=1), act)
