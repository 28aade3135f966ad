"""Sampling of the gram backend's basis (docs/design.md section 5): the exact joint law of
the Gram matrix of the frame, the initial filters and the noise patches, at a cost
independent of d (see ``simtransfer.backends.gram``)."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from theory.linalg import mm

from ...config import Experiment
from ...nn.evaluate import sign_and_uniform

__all__ = ["LINEAR_OPTIMIZERS", "GramBasis", "basis_layout", "normal", "chi2", "wishart_factor", "sample_gram",
           "sample_basis", "one_hot_init"]  # fmt: skip

#: Optimizers whose update is linear in the gradient history: exact on coefficients.
LINEAR_OPTIMIZERS = ("sgd", "momentum", "nesterov")


class GramBasis(NamedTuple):
    """One seed's basis, as inner products, and the labels of its training sets.

    ``G = F F^T + L_p L_p^T``: ``F`` are the frame coordinates and ``L_p`` a factor of the
    complement Gram ``G_perp[k, l] = <(I - Pi) b_k, (I - Pi) b_l>`` (any factor works;
    the sampler gives a lower-triangular one, a test may pass the explicit vectors).
    """

    G: jax.Array  # (K, K) Gram matrix of the basis
    Lp: jax.Array  # (K, R) with Lp Lp^T = G_perp
    y_signal_S: jax.Array  # (n_S,) clean source labels: the signal patch is y mu_S
    y_S: jax.Array  # (n_S,) observed source labels (flipped with probability p)
    y_signal_T: jax.Array  # (n_T,)
    y_T: jax.Array  # (n_T,)


def basis_layout(exp: Experiment) -> dict[str, slice]:
    """Static position of each block of the common basis (see the module docstring).

    The upstream model lives on the prefix ``upstream`` (frame, upstream init, source
    noise), so the upstream stage trains on ``G[:K_up, :K_up]``.
    """
    P, m, m_up = exp.task.P, exp.model.m, exp.model.m_upstream
    sizes = (
        ("frame", 3),
        ("up_init", 2 * m_up),
        ("source_noise", exp.n_source * (P - 1)),
        ("fresh_init", 2 * m),
        ("target_noise", exp.n_target * (P - 1)),
    )
    out: dict[str, slice] = {}
    lo = 0
    for name, size in sizes:
        out[name] = slice(lo, lo + size)
        lo += size
    out["upstream"] = slice(0, out["source_noise"].stop)
    out["all"] = slice(0, lo)
    return out


#: Size of the blocks ``normal`` draws (see there).
_BLOCK = 4096


def normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Standard normals of any ``shape``, drawn in blocks of ``_BLOCK``: one block from
    ``key`` when it suffices, else block i from ``fold_in(key, i)`` under ``lax.map``.

    Why: XLA:CPU compiles a separate threefry kernel for every distinct random shape, ~1.3 s
    each in a vmapped trial (measured: six shapes 8.5 s, the same six drawn in blocks 2.5 s).
    Every draw of the gram trial goes through here, so its program holds one such kernel.
    """
    n = math.prod(shape)
    n_blocks = -(-n // _BLOCK)
    if n_blocks == 1:
        z = jax.random.normal(key, (_BLOCK,))
    else:
        z = jax.lax.map(lambda i: jax.random.normal(jax.random.fold_in(key, i), (_BLOCK,)), jnp.arange(n_blocks))
    return z.reshape(-1)[:n].reshape(shape)


def chi2(key: jax.Array, df: jax.Array) -> jax.Array:
    """Chi-square draws with ``df`` (any shape, every entry >= 1) degrees of freedom.

    ``df = 1``: ``x^2`` for a standard normal x.  Otherwise ``2 Gamma(df / 2)`` by
    Marsaglia and Tsang's rejection method (ACM TOMS 26, 2000; shape ``df/2 >= 1``, no
    boosting needed), as ``jax.random.gamma`` does it, with three changes:

    * the log acceptance ratio is written ``0.5 x^2 + delta (3 (log1p(t) - t) - 3 t^2 - t^3)``
      with ``t = x / (3 sqrt(delta))``: jax's form ``delta (1 - v + log v)`` cancels
      catastrophically in float32 once ``delta = df/2 - 1/3`` is ~1e6 (here df = d - 3 - i,
      up to 1e7); this form keeps ~1e-4 absolute accuracy;
    * one vectorised rejection loop for the whole array, each round one ``normal`` draw
      (the proposal x, and the uniform as ``Phi(z)``, compared in log space): no new
      random kernel, where ``jax.random.gamma`` alone cost ~6 s of XLA:CPU compilation
      inside a trial.
    """

    def body(state):
        it, out, done = state
        z = normal(jax.random.fold_in(key, it), (2,) + df.shape)
        x = z[0]
        log_u = jax.scipy.special.log_ndtr(z[1])
        delta = 0.5 * df - 1.0 / 3.0
        t = x / (3.0 * jnp.sqrt(delta))
        tt = jnp.where(t > -1.0, t, 0.0)  # keep log1p finite; t <= -1 is rejected anyway
        log_ratio = 0.5 * x**2 + delta * (3.0 * (jnp.log1p(tt) - tt) - 3.0 * tt**2 - tt**3)
        mt_ok = (t > -1.0) & (log_u < log_ratio)
        one = df < 1.5  # chi^2_1 = x^2, accepted at once
        ok = (one | mt_ok) & ~done
        return it + 1, jnp.where(ok, jnp.where(one, x**2, 2.0 * delta * (1.0 + tt) ** 3), out), done | ok

    init = (jnp.asarray(0, jnp.int32), jnp.zeros(df.shape), jnp.zeros(df.shape, bool))
    return jax.lax.while_loop(lambda st: ~jnp.all(st[2]), body, init)[1]


def wishart_factor(k_normal: jax.Array, k_chi: jax.Array, p: int, n) -> jax.Array:
    """Bartlett factor: lower-triangular ``L`` (p, p) with ``L L^T ~ Wishart_p(n, I)``.

    ``L L^T`` has the law of ``Z Z^T`` for ``Z`` (p, n) with iid N(0, 1) entries:
    ``L_ii^2 ~ chi^2_{n-i}`` (i = 0..p-1; zero once n - i <= 0), ``L_ij ~ N(0, 1)`` for
    j < min(i, n), zero elsewhere (for n < p the Wishart is singular, of rank n).
    No n-sized array: ``n`` (an int, or a traced integer scalar) only enters as degrees
    of freedom.  ``k_normal`` draws the below-diagonal part, ``k_chi`` the diagonal.
    """
    i = jnp.arange(p)
    df = (n - i).astype(jnp.float32)  # (p,) degrees of freedom
    diag = jnp.where(df > 0, jnp.sqrt(chi2(k_chi, jnp.maximum(df, 1.0))), 0.0)
    below = (i[None, :] < i[:, None]) & (i[None, :] < n)  # (p, p): j < i and j < n
    return jnp.where(below, normal(k_normal, (p, p)), 0.0) + jnp.diag(diag)


def sample_gram(
    k_normal: jax.Array, k_chi: jax.Array, d, scale: jax.Array, frame_coords: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Exact Gram of ``[e_u, e_S, e_T, g_1, ..., g_N]`` for Gaussian vectors ``g_k`` in R^d.

    Args:
      k_normal, k_chi: keys of the Bartlett factor (``wishart_factor``).
      d: ambient dimension, an int or a traced integer (only enters as chi-square
        degrees of freedom: nothing of size d is formed).
      scale: (N,) ``g_k``'s complement part is ``N(0, scale_k^2 (I - Pi))``.
      frame_coords: (N, 3) ``g_k``'s coordinates on (e_u, e_S, e_T) (zeros for noise).

    Returns:
      (G (K, K), Lp (K, K)) with K = N + 3, ``G = F F^T + Lp Lp^T`` and ``Lp`` lower
      triangular (first three rows zero): ``Lp Lp^T`` is the complement Gram G_perp.
    """
    N = scale.shape[0]
    L = wishart_factor(k_normal, k_chi, N, d - 3)  # (N, N): law of the complement parts' Gram
    Lp = jnp.pad(scale[:, None] * L, ((3, 0), (3, 0)))  # (K, K)
    F = jnp.concatenate([jnp.eye(3), frame_coords])  # (K, 3)
    return mm(F, F.T) + mm(Lp, Lp.T), Lp


def sample_basis(
    exp: Experiment, *, k_normal: jax.Array, k_chi: jax.Array, k_init: jax.Array, k_labels: jax.Array,
    d, sigma_0, sigma_p, label_flip,
) -> GramBasis:  # fmt: skip
    """One seed's basis Gram (docs/design.md sections 1, 2 and 5) and training labels.

    Keys: ``k_normal`` / ``k_chi`` the Bartlett factor; ``k_init`` the frame coordinates
    (N(0, sigma_0^2) each) of the upstream and fresh downstream init filters;
    ``k_labels`` the labels of both training sets (y uniform on {-1, +1}, the observed
    label flipped with probability ``label_flip``, docs/design.md section 1).  ``d`` (an
    int, or the traced int32 ``task.d``) only enters the chi-square degrees of freedom.
    """
    lay = basis_layout(exp)
    size = {name: sl.stop - sl.start for name, sl in lay.items()}
    n_up, n_src, n_dn, n_tgt = (size[b] for b in ("up_init", "source_noise", "fresh_init", "target_noise"))
    full = lambda n, v: jnp.full((n,), v, jnp.float32)  # noqa: E731
    scale = jnp.concatenate([full(n_up, sigma_0), full(n_src, sigma_p), full(n_dn, sigma_0), full(n_tgt, sigma_p)])
    init_coords = sigma_0 * normal(k_init, (n_up + n_dn, 3))
    zeros = lambda n: jnp.zeros((n, 3))  # noqa: E731
    frame_coords = jnp.concatenate([init_coords[:n_up], zeros(n_src), init_coords[n_up:], zeros(n_tgt)])
    G, Lp = sample_gram(k_normal, k_chi, d, scale, frame_coords)
    n_S = exp.n_source
    y_signal, u = sign_and_uniform(normal(k_labels, (2, n_S + exp.n_target)))
    y = jnp.where(u[1] < label_flip, -y_signal[0], y_signal[0])
    return GramBasis(G, Lp, y_signal[0, :n_S], y[:n_S], y_signal[0, n_S:], y[n_S:])


def one_hot_init(lo: int, m: int, K: int) -> jax.Array:
    """(2, m, K) coefficients of the init filters b_{lo + j m + r} themselves."""
    return jnp.eye(2 * m, K, k=lo).reshape(2, m, K)
