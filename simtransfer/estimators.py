r"""Transferability estimators (issue 6): scores of the inherited model, before fine-tuning.

Practitioners rank pre-trained models by a score computed from the model's *features* on
the target training set, without fine-tuning.  Here the pre-trained model is the upstream
CNN of DESIGN.md section 4, and its features are the 2 m_up filter responses

    phi(x)_{j,r} = sum_{p=1..P} act(<w_{j,r}, x^(p)>),   j in {+1, -1}, r = 1..m_up,

flattened class-major into D = 2 m_up columns (``features``).  The upstream classifier is
a fixed linear read-out of them: ``f(W_up, x) = (1/m_up) sum_r (phi_{+1,r} - phi_{-1,r})``.
Every score is a pure JAX function of the features F (n, D) of the target training inputs
(and, for task relatedness, of the source training inputs), jit- and vmap-safe, with
"higher = more transferable"; ``transfer_scores`` computes all of them at once inside
the trial (``simtransfer.trial``, both backends), and ``simtransfer.testbed`` measures
how well they rank the true transfer gain.

Numerics.  The estimators need thin SVDs of the feature matrix and eigenvalues of small
PSD matrices, all min(n_T, D)-square (D = 2 m_up <= ~40; the n_T x n_T Gram side when
n_T <= D).  LAPACK calls (``jnp.linalg.eigh``/``svd``) inside vmapped jits have hung
XLA:CPU (DESIGN.md section 7), so ``sym_eig`` is a hand-written cyclic Jacobi method in
round-robin order (each round n/2 disjoint rotations as elementwise row/column updates),
with a relative stopping rule so that small eigenvalues converge too (4-8 sweeps).
Jacobi needs only ``jnp`` ops and batches: the trial's four eigenproblems run as one
vmapped call (measured: ~2 ms a seed on one CPU core at n_T = D = 20).  Matrix products
use full float32 precision (the GPU default, TF32, would drown the small eigenvalues).
Computing the scores after the run in numpy instead would need the (n_T + n_S) x D
features of every seed stored in every Result and sweep: ~40x the rest of its scalars.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.exact import psd_cholesky

__all__ = [
    "SCORES",
    "HSCORE_RIDGE",
    "features",
    "features_from_preacts",
    "sym_eig",
    "logme",
    "logme_evidence",
    "spectral_score",
    "hscore",
    "gaussian_w2",
    "relatedness",
    "transfer_scores",
]

#: Per-seed score outputs of a trial (``simtransfer.trial.SCALARS``); higher = more transferable.
SCORES = ("score_logme", "score_spectral", "score_relatedness", "score_hscore")

#: Ridge of the H-score, relative to the mean feature variance: eps = HSCORE_RIDGE tr(Sigma)/D.
#: Needed because with n_T <= D + 1 (the default n_T = 20, D = 20) the unregularised H-score
#: is identically K - 1 = 1 (the centred labels lie in the span of the centred features),
#: and in float32 its small eigenvalues make it anything from 1 to 2.  Measured in the
#: prototype setup: with 0.01 every seed scores ~0.91 (saturated), with 0.1 from 0.6 to 0.95.
HSCORE_RIDGE = 0.1


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """Matrix product at full float32 precision (no TF32/bf16 passes on GPU)."""
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


# -- features -----------------------------------------------------------------------------


def features_from_preacts(pre: jax.Array, act) -> jax.Array:
    """phi (n, 2m) from pre-activations ``pre[i, p, j, r] = <w_{j,r}, x_i^(p)>`` (n, P, 2, m):
    ``phi_{j,r} = sum_p act(pre[:, p, j, r])``, columns class-major (j = +1 first)."""
    n = pre.shape[0]
    return act(pre).sum(axis=1).reshape(n, -1)


def features(W: jax.Array, xi: jax.Array, y_signal: jax.Array, mu: jax.Array | None, act) -> jax.Array:
    """phi (n, 2m) of the filters ``W`` (2, m, d) on inputs given by patch type (``data.Batch``):
    noise patches ``xi`` (n, P-1, d) and signal patch ``y_signal mu``; with ``mu = None``,
    ``xi`` (n, P, d) holds every patch.  ``f(W, x) = (phi[:, :m].sum(1) - phi[:, m:].sum(1)) / m``."""
    n, Pn, d = xi.shape
    pre = _mm(xi.reshape(n * Pn, d), W.reshape(-1, d).T).reshape(n, Pn, 2, -1)
    if mu is not None:
        pre_sig = y_signal[:, None, None, None] * _mm(W, mu)[None, None]  # (n, 1, 2, m)
        pre = jnp.concatenate([pre_sig, pre], axis=1)
    return features_from_preacts(pre, act)


# -- symmetric eigendecomposition (cyclic Jacobi) ----------------------------------------------


def sym_eig(A: jax.Array, max_sweeps: int = 12, rtol: float = 1e-6, atol: float = 1e-6) -> tuple[jax.Array, jax.Array]:
    """Eigenvalues (descending) and eigenvectors (columns) of a symmetric ``A`` (n, n).

    Cyclic Jacobi (Golub & Van Loan, *Matrix Computations*, section 8.5) in round-robin
    order.  The rotation of the pair (p, q) is ``J`` with ``J_pp = J_qq = c``,
    ``J_pq = s = -J_qp``, ``t = s / c`` the smaller root of ``t^2 + 2 tau t - 1 = 0``,
    ``tau = (a_qq - a_pp) / (2 a_pq)``, written
    ``t = 2 a_pq sign(a_qq - a_pp) / (|a_qq - a_pp| + sqrt((a_qq - a_pp)^2 + 4 a_pq^2))``
    (no overflow; t = 0 for a_pq = 0); ``A <- J^T A J`` zeroes a_pq.

    A sweep is the n - 1 rounds of the circle method of round-robin tournaments, each
    round n/2 disjoint rotations applied at once.  The matrix is kept in "tournament
    order": position i is paired with position n - 1 - i, so a round is elementwise
    products with the row/column-reversed matrix (``x_i <- c x_i -+ s x_{n-1-i}``), and
    between rounds every index but the first moves one place (a fixed permutation of
    static slices); after n - 1 rounds the order is the original one again.  No gathers
    and no small matmuls, which are slow on XLA:CPU.  Sweeps repeat while some
    ``a_pq^2 > rtol^2 |a_pp a_qq| + atol^2 ||A||_F^2`` (a relative criterion, so that the
    small eigenvalues converge too, not only the large ones; the absolute floor is float32
    rounding, where zero rows stop it), at most ``max_sweeps`` (convergence is quadratic:
    4-8 sweeps for n <= 40).  Odd n is padded with a decoupled zero row.  Pure ``jnp``
    (no LAPACK), vmap-safe.

    The eigenvalues returned are the Rayleigh quotients ``v_i^T A v_i`` of the original
    matrix (second order in the eigenvector error) rather than the diagonal of the rotated
    one, which accumulates float32 rounding over the ~100 updates of each entry.  Measured
    against float64 LAPACK: eigenvalues to ~2e-6 of the largest (n = 8..40), and LogME
    on trial features to ~1e-5.
    """
    n = A.shape[-1]
    A = A0 = 0.5 * (A + A.T)
    N = n + n % 2
    if N != n:
        A = jnp.pad(A, ((0, 1), (0, 1)))
    V = jnp.eye(N, dtype=A.dtype)
    h = N // 2

    def shift(x, axis):
        """The next round's order: positions [0, N-1, 1, ..., N-2] (circle method)."""
        first, last, mid = (jax.lax.slice_in_dim(x, a, b, axis=axis) for a, b in ((0, 1), (N - 1, N), (1, N - 1)))
        return jnp.concatenate([first, last, mid], axis=axis)

    def one_round(_, carry):
        A, V = carry
        d = jnp.diagonal(A)
        apq = jnp.diagonal(A[:, ::-1])[:h]  # A[i, N-1-i], i < N/2
        dd = d[::-1][:h] - d[:h]  # a_qq - a_pp with p = i, q = N-1-i
        den = jnp.abs(dd) + jnp.sqrt(dd * dd + 4.0 * apq * apq)
        ok = den > 0
        t = jnp.where(ok, 2.0 * apq * jnp.where(dd >= 0, 1.0, -1.0) / jnp.where(ok, den, 1.0), 0.0)
        c = jax.lax.rsqrt(1.0 + t * t)
        s = t * c
        ci = jnp.concatenate([c, c[::-1]])
        si = jnp.concatenate([s, -s[::-1]])  # + s at p (first half), - s at q
        A = A * ci[None, :] - A[:, ::-1] * si[None, :]  # A J
        A = A * ci[:, None] - A[::-1, :] * si[:, None]  # J^T A J
        V = V * ci[None, :] - V[:, ::-1] * si[None, :]
        return shift(shift(A, 0), 1), shift(V, 1)

    def cond(state):
        A, _, k = state
        d = jnp.abs(jnp.diagonal(A))
        # relative (Demmel & Veselic 1992) with an absolute floor at float32 rounding
        big = A * A > rtol**2 * d[:, None] * d[None, :] + (atol**2) * jnp.sum(A * A)
        return (k < max_sweeps) & jnp.any(big & ~jnp.eye(N, dtype=bool))

    def body(state):
        A, V, k = state
        A, V = jax.lax.fori_loop(0, N - 1, one_round, (A, V))
        return 0.5 * (A + A.T), V, k + 1

    if N > 1:
        A, V, _ = jax.lax.while_loop(cond, body, (A, V, jnp.asarray(0, jnp.int32)))
    V = V[:n, :n]
    w = jnp.sum(V * _mm(A0, V), 0)  # Rayleigh quotients (see the docstring)
    order = jnp.argsort(-w)
    return w[order], V[:, order]


# -- thin SVD from the batched eigendecomposition ------------------------------------------------


def _gram_side(X: jax.Array) -> bool:
    """Static: decompose the n x n Gram ``X X^T`` (n <= D) rather than ``X^T X`` (D x D)."""
    return X.shape[0] <= X.shape[1]


def _svd_matrix(X: jax.Array) -> jax.Array:
    """The symmetric matrix whose eigendecomposition gives the thin SVD of ``X`` (n, D):
    ``X X^T`` when n <= D, else ``X^T X`` (the smaller one, as in the LogME authors' code)."""
    return _mm(X, X.T) if _gram_side(X) else _mm(X.T, X)


def _svd_parts(X: jax.Array, w: jax.Array, Q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(s, proj) of ``X = U diag(sigma) V^T`` from the eigenpairs (w, Q) of ``_svd_matrix(X)``:
    ``s = sigma^2`` (k,) descending and ``proj = X V = U diag(sigma)`` (n, k), k = min(n, D)."""
    s = jnp.maximum(w, 0.0)
    proj = Q * jnp.sqrt(s)[None, :] if _gram_side(X) else _mm(X, Q)
    return s, proj


def _one_hot(y: jax.Array) -> jax.Array:
    """(n, 2) one-hot columns of labels in {-1, +1}: [y = +1, y = -1]."""
    return jnp.stack([y > 0, y < 0], axis=1).astype(jnp.float32)


def _half_errors(margin):
    return jnp.where(margin < 0, 1.0, jnp.where(margin == 0, 0.5, 0.0))


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
        z = jnp.where(keep[:, None], _mm(proj.T, Y) / jnp.where(keep[:, None], sig, 1.0), 0.0)  # (k, K)
        perp2 = jnp.maximum(jnp.sum(Y * Y, 0) - jnp.sum(z * z, 0), 0.0)  # (K,)
    else:
        z_all = _mm(U.T, Y)
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
    Mp = _mm(Y.T, proj) / jnp.maximum(cnt, 1.0)[:, None]  # (2, k) class means of the projections
    sig = jnp.sqrt(s)
    ratio = sig / jnp.maximum(jnp.sum(sig), jnp.finfo(sig.dtype).tiny)
    # nearest class centroid on each projection: predict +1 iff (z - mid) (m_pos - m_neg) > 0
    margin = y[:, None] * (proj - 0.5 * (Mp[0] + Mp[1])[None, :]) * (Mp[0] - Mp[1])[None, :]
    spectral = jnp.sum(ratio * (1.0 - jnp.mean(_half_errors(margin), 0)))
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


# -- task relatedness ------------------------------------------------------------------------


def gaussian_w2(m1: jax.Array, S1: jax.Array, m2: jax.Array, S2: jax.Array) -> jax.Array:
    r"""Wasserstein-2 distance between N(m1, S1) and N(m2, S2) (Dowson & Landau 1982; Givens &
    Shortt 1984):

        W2^2 = ||m1 - m2||^2 + tr S1 + tr S2 - 2 tr (S2^{1/2} S1 S2^{1/2})^{1/2}.

    The last trace is ``sum_i sqrt(lambda_i)`` over the eigenvalues of ``L^T S1 L`` for any
    factor ``L L^T = S2`` (here ``theory.exact.psd_cholesky``: singular S2 allowed), which
    has the spectrum of ``S2^{1/2} S1 S2^{1/2}``.
    """
    L = psd_cholesky(S2)
    w, _ = sym_eig(_mm(_mm(L.T, S1), L))
    cross = jnp.sum(jnp.sqrt(jnp.maximum(w, 0.0)))
    return jnp.sqrt(jnp.maximum(jnp.sum((m1 - m2) ** 2) + jnp.trace(S1) + jnp.trace(S2) - 2.0 * cross, 0.0))


def _class_stats(F, Y):
    """Per class (columns of the one-hot ``Y``): counts (2,), means (2, D), the class-centred
    features X (n, D), covariances (2, D, D) normalised by 1/n_c, and their traces (2,)."""
    cnt = jnp.sum(Y, 0)
    c1 = jnp.maximum(cnt, 1.0)
    M = _mm(Y.T, F) / c1[:, None]
    X = F - _mm(Y, M)
    C = jnp.einsum("nc,nd,ne->cde", Y, X, X, precision=jax.lax.Precision.HIGHEST) / c1[:, None, None]
    return cnt, M, X, C, _mm(Y.T, jnp.sum(X * X, 1)) / c1


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
    J = _mm(_one_hot(jnp.where(f_up >= 0, 1.0, -1.0)).T, _one_hot(y_T)) / F_T.shape[0]  # joint of (Y_hat, Y_T)
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


# -- all of them at once (the trial) ---------------------------------------------------------


def transfer_scores(F_T: jax.Array, y_T: jax.Array, F_S: jax.Array, y_S: jax.Array,
                    ridge: float = HSCORE_RIDGE) -> dict[str, jax.Array]:  # fmt: skip
    """Every score of ``SCORES`` from the inherited (upstream) model's features on the target
    (``F_T`` (n_T, D), labels ``y_T``) and source (``F_S`` (n_S, D), ``y_S``) training inputs,
    with one batched Jacobi call for the four eigenproblems (the thin SVDs of the raw and of
    the centred target features, and the two class-conditional W2 matrices, all
    min(n_T, D)-square).  Each equals its stand-alone function (``logme``,
    ``spectral_score``, ``relatedness``, ``hscore``) to float32 rounding."""
    F_T, F_S = F_T.astype(jnp.float32), F_S.astype(jnp.float32)
    y_T, y_S = y_T.astype(jnp.float32), y_S.astype(jnp.float32)
    D = F_T.shape[1]
    Fc = F_T - F_T.mean(0, keepdims=True)
    Y_T = _one_hot(y_T)
    st_S, st_T = _class_stats(F_S, _one_hot(y_S)), _class_stats(F_T, Y_T)
    mats = jnp.concatenate([jnp.stack([_svd_matrix(F_T), _svd_matrix(Fc)]), _w2_matrices(st_S, st_T, Y_T)])
    w, Q = jax.vmap(sym_eig)(mats)
    spectral, h = _spectral_and_hscore(*_svd_parts(Fc, w[1], Q[1]), y_T, D, ridge)
    return {
        "score_logme": _logme_from_svd(*_svd_parts(F_T, w[0], Q[0]), Y_T, D, Q[0] if _gram_side(F_T) else None)[0],
        "score_spectral": spectral,
        "score_relatedness": -sum(_relatedness_from(F_S, F_T, y_T, st_S, st_T, w[2:])),
        "score_hscore": h,
    }
