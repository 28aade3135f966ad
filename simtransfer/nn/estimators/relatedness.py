"""Task relatedness: the class-conditional Gaussian Wasserstein-2 distance between the
source and target features (see ``simtransfer.nn.estimators``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.linalg import mm, psd_cholesky, sym_eig

from .spectral import _gram_side, _one_hot

__all__ = ["gaussian_w2", "relatedness"]


# -- task relatedness ------------------------------------------------------------------------


def gaussian_w2(m1: jax.Array, S1: jax.Array, m2: jax.Array, S2: jax.Array) -> jax.Array:
    r"""Wasserstein-2 distance between N(m1, S1) and N(m2, S2) (Dowson & Landau 1982; Givens &
    Shortt 1984):

        W2^2 = ||m1 - m2||^2 + tr S1 + tr S2 - 2 tr (S2^{1/2} S1 S2^{1/2})^{1/2}.

    The last trace is ``sum_i sqrt(lambda_i)`` over the eigenvalues of ``L^T S1 L`` for any
    factor ``L L^T = S2`` (here ``theory.linalg.psd_cholesky``: singular S2 allowed), which
    has the spectrum of ``S2^{1/2} S1 S2^{1/2}``.
    """
    L = psd_cholesky(S2)
    w, _ = sym_eig(mm(mm(L.T, S1), L))
    cross = jnp.sum(jnp.sqrt(jnp.maximum(w, 0.0)))
    return jnp.sqrt(jnp.maximum(jnp.sum((m1 - m2) ** 2) + jnp.trace(S1) + jnp.trace(S2) - 2.0 * cross, 0.0))


def _class_stats(F, Y):
    """Per class (columns of the one-hot ``Y``): counts (2,), means (2, D), the class-centred
    features X (n, D), covariances (2, D, D) normalised by 1/n_c, and their traces (2,)."""
    cnt = jnp.sum(Y, 0)
    c1 = jnp.maximum(cnt, 1.0)
    M = mm(Y.T, F) / c1[:, None]
    X = F - mm(Y, M)
    C = jnp.einsum("nc,nd,ne->cde", Y, X, X, precision=jax.lax.Precision.HIGHEST) / c1[:, None, None]
    return cnt, M, X, C, mm(Y.T, jnp.sum(X * X, 1)) / c1


def _w2_matrices(st_S, st_T, Y_T) -> jax.Array:
    """(2, k, k): per class c, a PSD matrix with the spectrum of Sigma_T^{1/2} Sigma_S Sigma_T^{1/2}
    (up to zeros): ``B_c^T Sigma_S,c B_c`` with ``B_c = X_T^T diag(1_c) / sqrt(n_c)`` the target
    data factor (``B_c B_c^T = Sigma_T,c``; k = n_T) when n_T <= D, else ``L_c^T Sigma_S,c L_c``
    with ``L_c = psd_cholesky(Sigma_T,c)`` (k = D)."""
    cnt, _, X_T, C_T, _ = st_T
    C_S = st_S[3]
    if _gram_side(X_T):
        XC = jnp.einsum("nd,cde,me->cnm", X_T, C_S, X_T, precision=jax.lax.Precision.HIGHEST)
        return XC * (Y_T.T[:, :, None] * Y_T.T[:, None, :]) / jnp.maximum(cnt, 1.0)[:, None, None]
    L = jax.vmap(psd_cholesky)(C_T)
    return jnp.einsum("cji,cjk,ckl->cil", L, C_S, L, precision=jax.lax.Precision.HIGHEST)


def _relatedness_from(F_S, F_T, y_T, st_S, st_T, w_cross) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(prior difference, label mismatch, normalised W2 term) of ``relatedness``; ``w_cross``
    (2, k) the eigenvalues of ``_w2_matrices``."""
    (cS, MS, _, _, trS), (cT, MT, _, _, trT) = st_S, st_T
    pS, pT = cS / F_S.shape[0], cT / F_T.shape[0]
    m = F_T.shape[1] // 2
    f_up = (F_T[:, :m].sum(1) - F_T[:, m:].sum(1)) / m  # the upstream classifier on the target inputs
    J = mm(_one_hot(jnp.where(f_up >= 0, 1.0, -1.0)).T, _one_hot(y_T)) / F_T.shape[0]  # joint of (Y_hat, Y_T)
    xlogy = jax.scipy.special.xlogy
    mismatch = jnp.sum(xlogy(J, J.sum(1, keepdims=True)) - xlogy(J, J))  # H(Y_T | Y_hat)
    w2sq = jnp.sum((MS - MT) ** 2, 1) + trS + trT - 2.0 * jnp.sum(jnp.sqrt(jnp.maximum(w_cross, 0.0)), 1)
    scale2 = jnp.sum(jnp.var(jnp.concatenate([F_S, F_T]), axis=0)) + jnp.finfo(F_T.dtype).tiny
    return jnp.sum(jnp.abs(pS - pT)), mismatch, jnp.sum(pT * jnp.sqrt(jnp.maximum(w2sq, 0.0))) / jnp.sqrt(scale2)


def relatedness(F_S: jax.Array, y_S: jax.Array, F_T: jax.Array, y_T: jax.Array) -> jax.Array:
    r"""Task relatedness in the spirit of Mehra et al. ("Understanding the transferability of
    representations via task-relatedness", NeurIPS 2024, arXiv 2307.00823), measured in the
    inherited model's feature space, returned as minus a distance (higher = more related):

        R = -( ||p_S - p_T||_1 + H(Y_T | Y_hat_S) + sum_c p_T(c) W2(N_S,c, N_T,c) / s ).

    * class-prior difference: ``p_S, p_T`` the empirical label frequencies of the training sets;
    * label mismatch: the conditional entropy (nats) of the target labels given the labels
      ``Y_hat_S = sign f(W_up, x)`` the source model gives the target inputs (0 when the
      source labelling determines the target one up to a relabelling; log 2 when unrelated);
    * distribution mismatch: Gaussian W2 (``gaussian_w2``) between the class-c feature
      distributions of the source and target training inputs (means and 1/n_c covariances),
      classes matched as inheritance matches them (class j's filters go to class j), weighted
      by the target prior and divided by ``s = sqrt(tr cov)`` of the pooled features, so the
      term is scale-free.

    Mehra et al. also optimise a transformation of the source; here the features are
    compared as they are, since inheritance applies none.  ``F_S`` (n_S, D), ``F_T`` (n_T, D).
    """
    Y_T = _one_hot(y_T)
    st_S, st_T = _class_stats(F_S, _one_hot(y_S)), _class_stats(F_T, Y_T)
    w = jax.vmap(lambda A: sym_eig(A)[0])(_w2_matrices(st_S, st_T, Y_T))
    return -sum(_relatedness_from(F_S, F_T, y_T, st_S, st_T, w))
