"""Scores from the target features alone: LogME, the DISCO-like spectral score and the
H-score, all from one thin SVD of the feature matrix (see ``simtransfer.nn.estimators``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.linalg import half_errors, mm, sym_eig

__all__ = ["HSCORE_RIDGE", "logme", "logme_evidence", "spectral_score", "hscore"]

#: Ridge of the H-score, relative to the mean feature variance: eps = HSCORE_RIDGE tr(Sigma)/D.
#: Needed because with n_T <= D + 1 (the default n_T = 20, D = 20) the unregularised H-score
#: is identically K - 1 = 1 (the centred labels lie in the span of the centred features),
#: and in float32 its small eigenvalues make it anything from 1 to 2.  Measured in the
#: prototype setup: with 0.01 every seed scores ~0.91 (saturated), with 0.1 from 0.6 to 0.95.
HSCORE_RIDGE = 0.1



# -- thin SVD from the batched eigendecomposition ------------------------------------------------


def _gram_side(X: jax.Array) -> bool:
    """Static: decompose the n x n Gram ``X X^T`` (n <= D) rather than ``X^T X`` (D x D)."""
    return X.shape[0] <= X.shape[1]


def _svd_matrix(X: jax.Array) -> jax.Array:
    """The symmetric matrix whose eigendecomposition gives the thin SVD of ``X`` (n, D):
    ``X X^T`` when n <= D, else ``X^T X`` (the smaller one, as in the LogME authors' code)."""
    return mm(X, X.T) if _gram_side(X) else mm(X.T, X)


def _svd_parts(X: jax.Array, w: jax.Array, Q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(s, proj) of ``X = U diag(sigma) V^T`` from the eigenpairs (w, Q) of ``_svd_matrix(X)``:
    ``s = sigma^2`` (k,) descending and ``proj = X V = U diag(sigma)`` (n, k), k = min(n, D)."""
    s = jnp.maximum(w, 0.0)
    proj = Q * jnp.sqrt(s)[None, :] if _gram_side(X) else mm(X, Q)
    return s, proj


def _one_hot(y: jax.Array) -> jax.Array:
    """(n, 2) one-hot columns of labels in {-1, +1}: [y = +1, y = -1]."""
    return jnp.stack([y > 0, y < 0], axis=1).astype(jnp.float32)


# -- LogME -----------------------------------------------------------------------------------


def logme_evidence(s: jax.Array, z: jax.Array, perp2, n, D: int, alpha, beta) -> jax.Array:
    r"""Log marginal evidence of Bayesian linear regression, per sample, at fixed (alpha, beta).

    Model (You et al. 2021, eq. 2-3): ``y = F m + N(0, 1/beta)``, prior ``m ~ N(0, I/alpha)``,
    ``F`` (n, D).  With ``s`` (k <= D) the non-zero part of the spectrum of ``F^T F`` (the
    other D - k eigenvalues are 0), ``z_i = u_i^T y`` the label's coordinates on the left
    singular vectors and ``perp2 = ||y||^2 - sum z_i^2`` (the part of y outside F's range),

        L = (1/n) [ n/2 log beta + D/2 log alpha - n/2 log 2 pi - beta/2 ||F m - y||^2
                    - alpha/2 ||m||^2 - 1/2 sum_{i=1..D} log(alpha + beta s_i) ],

    ``m = beta A^{-1} F^T y``, ``A = alpha I + beta F^T F``, i.e. ``log N(y; 0, I/beta +
    F F^T/alpha) / n``, with ``||m||^2 = sum (beta sqrt(s_i) z_i / (alpha + beta s_i))^2`` and
    ``||F m - y||^2 = sum (alpha z_i / (alpha + beta s_i))^2 + perp2`` (no cancellation).
    ``z`` may carry trailing columns (several label vectors, with ``perp2``, ``alpha``,
    ``beta`` of that trailing shape).
    """
    k = s.shape[0]
    s = s.reshape((k,) + (1,) * (z.ndim - 1))
    alpha, beta = jnp.asarray(alpha), jnp.asarray(beta)
    a, b = alpha[None], beta[None]  # broadcast over the k components
    den = a + b * s
    m2 = jnp.sum((b * jnp.sqrt(s) * z / den) ** 2, 0)
    r2 = jnp.sum((a * z / den) ** 2, 0) + perp2
    logdet = jnp.sum(jnp.log(den), 0) + (D - k) * jnp.log(alpha)
    ev = (0.5 * n * jnp.log(beta) + 0.5 * D * jnp.log(alpha) - 0.5 * n * jnp.log(2 * jnp.pi)
          - 0.5 * beta * r2 - 0.5 * alpha * m2 - 0.5 * logdet)  # fmt: skip
    return ev / n


def _logme_from_svd(s, proj, Y, D: int, U=None, max_iter: int = 200, tol: float = 1e-6):
    """LogME of the columns of ``Y`` (n, K) from the thin SVD (s, proj) of the raw features;
    returns (evidence averaged over the columns, alpha (K,), beta (K,), iterations).

    ``U`` (n, n): a complete orthonormal basis of eigenvectors (the Gram side, n <= D), from
    which the part of y outside F's range is summed directly rather than as
    ``||y||^2 - sum z_i^2`` (float32 cancellation, which a large beta would amplify)."""
    n = proj.shape[0]
    keep = s > 1e-6 * jnp.maximum(s[0], jnp.finfo(s.dtype).tiny)
    s = jnp.where(keep, s, 0.0)[:, None]  # (k, 1)
    sig = jnp.sqrt(s)
    if U is None:
        z = jnp.where(keep[:, None], mm(proj.T, Y) / jnp.where(keep[:, None], sig, 1.0), 0.0)  # (k, K)
        perp2 = jnp.maximum(jnp.sum(Y * Y, 0) - jnp.sum(z * z, 0), 0.0)  # (K,)
    else:
        z_all = mm(U.T, Y)
        z = jnp.where(keep[:, None], z_all, 0.0)
        perp2 = jnp.sum(jnp.where(keep[:, None], 0.0, z_all * z_all), 0)
    tiny = jnp.finfo(proj.dtype).tiny
    evidence = lambda a, b: logme_evidence(s[:, 0], z, perp2, n, D, a, b)  # noqa: E731

    def body(state):
        alpha, beta, ev, it, _ = state
        a, b = alpha[None, :], beta[None, :]
        den = a + b * s  # (k, K)
        gamma, m2, r2 = jnp.sum(jnp.stack([b * s / den, (b * sig * z / den) ** 2, (a * z / den) ** 2]), 1)
        a2, b2 = gamma / (m2 + tiny), (n - gamma) / (r2 + perp2 + tiny)  # MacKay's fixed point
        ev2 = evidence(a2, b2)
        return a2, b2, ev2, it + 1, jnp.all(jnp.abs(ev2 - ev) <= tol)

    one = jnp.ones((Y.shape[1],), proj.dtype)
    init = (one, one, evidence(one, one), jnp.asarray(0, jnp.int32), jnp.asarray(False))
    alpha, beta, ev, it, _ = jax.lax.while_loop(lambda st: (st[3] < max_iter) & ~st[4], body, init)
    return jnp.mean(ev), alpha, beta, it


def logme(F: jax.Array, y: jax.Array) -> jax.Array:
    r"""LogME (You et al., "LogME: Practical assessment of pre-trained models for transfer
    learning", ICML 2021): the maximised log marginal evidence per sample of Bayesian linear
    regression of each one-hot label column on the raw features, averaged over the K = 2
    columns, ``(1/K) sum_k max_{alpha, beta} L_k(alpha, beta)`` (``logme_evidence``).

    The maximum is found by MacKay's fixed point ``gamma = sum_i beta s_i / (alpha + beta s_i)``,
    ``alpha <- gamma / ||m||^2``, ``beta <- (n - gamma) / ||F m - y||^2`` from alpha = beta = 1,
    until the evidence changes by < 1e-6 (at most 200 iterations).  When n <= D (the
    default n_T = 20 = 2 m_up) a label column can lie in the span of the features: the
    evidence then rises monotonically towards a finite supremum as beta -> infinity (the
    marginal covariance I/beta + F F^T/alpha tends to the non-singular F F^T/alpha), beta
    grows geometrically, and the loop stops within ~1e-5 of the supremum.  (The authors'
    code stops after 11 iterations or a 1e-2 change of alpha/beta, with 1e-5 added to the
    denominators; in that case it stops ~1e-3 short of the supremum.)
    ``F`` (n, D) features, ``y`` (n,) labels in {-1, +1}.
    """
    w, Q = sym_eig(_svd_matrix(F))
    s, proj = _svd_parts(F, w, Q)
    return _logme_from_svd(s, proj, _one_hot(y), F.shape[1], Q if _gram_side(F) else None)[0]


# -- spectral components (DISCO-like) and H-score -------------------------------------------


def _spectral_and_hscore(s, proj, y, D: int, ridge):
    """(spectral score, H-score) from the thin SVD (s, proj) of the centred features."""
    n = proj.shape[0]
    Y = _one_hot(y)
    cnt = jnp.sum(Y, 0)
    Mp = mm(Y.T, proj) / jnp.maximum(cnt, 1.0)[:, None]  # (2, k) class means of the projections
    sig = jnp.sqrt(s)
    ratio = sig / jnp.maximum(jnp.sum(sig), jnp.finfo(sig.dtype).tiny)
    # nearest class centroid on each projection: predict +1 iff (z - mid) (m_pos - m_neg) > 0
    margin = y[:, None] * (proj - 0.5 * (Mp[0] + Mp[1])[None, :]) * (Mp[0] - Mp[1])[None, :]
    spectral = jnp.sum(ratio * (1.0 - jnp.mean(half_errors(margin), 0)))
    lam = s / n  # eigenvalues of cov(f); Mp = V^T (E[f | c] - E[f])
    eps = ridge * jnp.sum(lam) / D + jnp.finfo(lam.dtype).tiny
    return spectral, jnp.sum((cnt / n)[:, None] * Mp**2 / (lam + eps)[None, :])


def spectral_score(F: jax.Array, y: jax.Array) -> jax.Array:
    r"""Spectral-component score in the spirit of DISCO (Zhang et al., "Assessing pre-trained
    models for transfer learning through distribution of spectral components", AAAI 2025,
    arXiv 2412.19085).

    With the SVD of the centred features ``F - mean = U diag(sigma) V^T``, component i is the
    projection ``z_i = sigma_i u_i`` (n,); its share of the singular-value mass is
    ``sigma_i / sum_j sigma_j`` and its label score is the training accuracy of the nearest
    class-centroid classifier on ``z_i`` alone (DISCO's S_ncc; ties count 1/2).  The score

        S = sum_i (sigma_i / sum_j sigma_j) * acc_i   in [0, 1]

    is high when the feature mass concentrates on components that separate the target
    labels (near 1/2 when none does).  ``F`` (n, D), ``y`` (n,) in {-1, +1}.
    """
    Fc = F - F.mean(0, keepdims=True)
    w, Q = sym_eig(_svd_matrix(Fc))
    return _spectral_and_hscore(*_svd_parts(Fc, w, Q), y, F.shape[1], HSCORE_RIDGE)[0]


def hscore(F: jax.Array, y: jax.Array, ridge: float = HSCORE_RIDGE) -> jax.Array:
    r"""H-score (Bao et al., "An information-theoretic approach to transferability in task
    transfer learning", ICIP 2019) with a ridge:

        H = tr( (cov(f) + eps I)^{-1} cov(E[f | y]) ),   eps = ridge * tr(cov(f)) / D,

    ``cov(E[f|y]) = sum_c p_c (mu_c - mu)(mu_c - mu)^T`` (empirical, 1/n normalised).  In
    [0, K - 1]; without the ridge it is exactly K - 1 = 1 whenever n <= D + 1 (see
    ``HSCORE_RIDGE``).  ``F`` (n, D), ``y`` (n,) in {-1, +1}.
    """
    Fc = F - F.mean(0, keepdims=True)
    w, Q = sym_eig(_svd_matrix(Fc))
    return _spectral_and_hscore(*_svd_parts(Fc, w, Q), y, F.shape[1], ridge)[1]
