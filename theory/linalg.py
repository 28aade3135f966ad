"""Small dense linear algebra in plain ``jnp`` ops, shared by ``theory`` and ``simtransfer``.

Why hand-written: LAPACK custom calls (``jnp.linalg.cholesky``, ``eigh``, ``svd``,
``solve_triangular``) inside vmapped, looped jits have hung XLA:CPU (docs/design.md
section 7), and the matrices here are small (at most a few hundred rows), so loops of
elementwise updates cost little and batch under ``vmap``.  One place for all of them:

* ``mm``: matrix product at full float32 precision (no TF32/bf16 passes on GPU);
* ``psd_cholesky``: Cholesky factor of a positive semi-definite matrix (rank-deficient ok);
* ``solve_lower`` / ``solve_upper``: triangular solves (a zero pivot gives a zero row);
* ``sym_eig``: symmetric eigendecomposition by cyclic Jacobi;
* ``half_errors``: the 0 / 1/2 / 1 error indicator of a margin (a tie counts one half).

``theory`` never imports ``simtransfer``; both import this module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["mm", "psd_cholesky", "solve_lower", "solve_upper", "sym_eig", "half_errors"]


def mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """Matrix product at full float32 precision: Gram entries span sigma_p^2 d (1e7 at
    d = 1e7) down to O(sqrt(d)) off-diagonal, and the estimators' small eigenvalues need
    every bit, which TF32/bf16 passes (the GPU default for f32) would drown.  On CPU it is
    the ordinary product."""
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def half_errors(margin: jax.Array) -> jax.Array:
    """1 for y f < 0, 1/2 for a tie y f = 0, 0 otherwise."""
    return jnp.where(margin < 0, 1.0, jnp.where(margin == 0, 0.5, 0.0))


def psd_cholesky(A: jax.Array, rtol: float = 1e-6) -> jax.Array:
    """Lower-triangular L with L L^T = A for a symmetric positive semi-definite A (n, n).

    Hand-written (a ``fori_loop`` over columns) rather than LAPACK: XLA:CPU has been seen
    to hang on LAPACK custom calls inside vmapped, looped jits (docs/design.md section 7).
    A pivot below ``rtol * max(diag A)`` marks a direction A does not span: its column
    is set to zero, so rank-deficient covariances factor without jitter or NaN.
    """
    n = A.shape[-1]
    tol = rtol * jnp.max(jnp.diagonal(A))
    idx = jnp.arange(n)

    def body(j, L):
        v = A[:, j] - L @ L[j]
        piv = v[j]
        ok = piv > tol
        col = jnp.where(ok & (idx >= j), v / jnp.sqrt(jnp.where(ok, piv, 1.0)), 0.0)
        return L.at[:, j].set(col)

    return jax.lax.fori_loop(0, n, body, jnp.zeros_like(A))


def solve_lower(L: jax.Array, B: jax.Array) -> jax.Array:
    """X with L X = B for lower-triangular L (n, n), B (n, k); a zero pivot gives a zero row."""
    n = L.shape[0]

    def body(i, X):
        piv = L[i, i]
        xi = (B[i] - L[i] @ X) / jnp.where(piv == 0, 1.0, piv)
        return X.at[i].set(jnp.where(piv == 0, 0.0, xi))

    return jax.lax.fori_loop(0, n, body, jnp.zeros_like(B))


def solve_upper(U: jax.Array, B: jax.Array) -> jax.Array:
    """X with U X = B for upper-triangular U (n, n), B (n, k); a zero pivot gives a zero row."""
    n = U.shape[0]

    def body(t, X):
        i = n - 1 - t
        piv = U[i, i]
        xi = (B[i] - U[i] @ X) / jnp.where(piv == 0, 1.0, piv)
        return X.at[i].set(jnp.where(piv == 0, 0.0, xi))

    return jax.lax.fori_loop(0, n, body, jnp.zeros_like(B))


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
    w = jnp.sum(V * mm(A0, V), 0)  # Rayleigh quotients (see the docstring)
    order = jnp.argsort(-w)
    return w[order], V[:, order]
