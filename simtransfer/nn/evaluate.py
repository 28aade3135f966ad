"""Test error: empirical on a fresh test set, and exact given the weights
(``theory.exact``, docs/theory.md section 2), for the dense and the gram backends."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from theory.exact import ExactError, exact_errors, noise_cov, output_from_preacts
from theory.linalg import half_errors, psd_cholesky

from ..config.data import sample
from .model import Activation, cnn_structured

__all__ = [
    "noise_cov_dense",
    "empirical_error",
    "empirical_error_dense",
    "projected_error_counts",
    "sign_and_uniform",
    "stage_curves",
    "paired_errors",
    "final_errors",
]


#: (2m, 2m) covariance ``sigma_p^2 W (I - Pi) W^T`` of the noise pre-activations.
noise_cov_dense = noise_cov


def empirical_error(
    key: jax.Array,
    Ws: jax.Array,
    n_test: int,
    chunk: int,
    P: int,
    mu: jax.Array,
    frame: jax.Array,
    sigma_p,
    label_flip,
    fixed_position: bool,
    act: Activation,
) -> jax.Array:
    """Error of each model of ``Ws`` (k, 2, m, d) on one shared fresh test set of ``n_test``
    points (labels flipped with probability p, so the Bayes error is p).

    The test set is generated and evaluated ``chunk`` points at a time (chunk c from
    ``fold_in(key, c)``), so memory does not grow with ``n_test``.  Returns (k,).
    """
    k = Ws.shape[0]
    if n_test == 0:
        return jnp.full((k,), jnp.nan)
    chunk = min(chunk, n_test)
    n_chunks = -(-n_test // chunk)

    def body(c, acc):
        b = sample(jax.random.fold_in(key, c), chunk, P, frame, sigma_p, label_flip, fixed_position)
        valid = (c * chunk + jnp.arange(chunk)) < n_test
        f = jax.vmap(lambda W: cnn_structured(W, b.xi, b.y_signal, mu, act))(Ws)  # (k, chunk)
        return acc + jnp.sum(jnp.where(valid[None], half_errors(b.y[None] * f), 0.0), axis=1)

    return jax.lax.fori_loop(0, n_chunks, body, jnp.zeros((k,))) / n_test


def sign_and_uniform(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A fair sign and a uniform from standard normals: ``sign(z)`` and ``Phi(z)``, so that
    one normal draw serves labels, flips and acceptance tests."""
    return jnp.where(z >= 0, 1.0, -1.0), jax.scipy.special.ndtr(z)


def projected_error_counts(
    key: jax.Array,
    sig: jax.Array,
    M: jax.Array,
    n_test: int,
    chunk: int,
    P: int,
    sigma_p,
    label_flip,
    act: Activation,
    normal: Callable[[jax.Array, tuple[int, ...]], jax.Array] = jax.random.normal,
) -> jax.Array:
    """Errors (half for a tie) of k models, *counted*, on one shared fresh test set of
    ``n_test`` points, sampled through what the networks see of a point.

    A test point is a label y, its signal patch ``y mu`` and P - 1 noise patches
    ``xi ~ N(0, sigma_p^2 (I - Pi))``; model k sees xi only through the 2m inner products
    ``<w_{j,r}, xi> = sigma_p (M_k eps)_{j,r}``, eps standard normal (dense: ``M_k`` is
    ``W_k (I - Pi)`` and eps lives in R^d; gram: ``M_k = C_k L_p``).  Jointly over all
    the models these are ``N(0, A)``, ``A = sigma_p^2 M M^T`` (2mk x 2mk), drawn as
    ``L g`` with ``L L^T = A`` and g standard normal in 2mk dimensions: exact in
    distribution, shared by the k models (so paired differences keep their pairing),
    and at a cost that does not grow with the dimension of eps.  Two bit-for-bit equal
    models (e.g. transfer and scratch at alpha = 0) see bit-for-bit equal projections,
    as they would on materialised points.

    Args:
      sig: (k, 2, m) signal pre-activations ``<w_{j,r}, mu>``.
      M: (k, 2, m, R) or (k, 2m, R), see above.
      normal: ``normal(key, shape)`` standard-normal sampler (the gram backend's blocked one).

    Chunked: ``chunk`` points from ``normal(fold_in(key, c), ...)``, one draw per chunk
    holding the label (its sign), the flip (its ``Phi``, see ``sign_and_uniform``) and
    the noise projections.  Returns (k,) counts; NaN if n_test = 0.
    """
    k, _, m = sig.shape
    if n_test == 0:
        return jnp.full((k,), jnp.nan)
    M = M.reshape(k, 2 * m, -1)
    D = k * 2 * m
    flat = M.reshape(D, -1)
    # A row by row per model (a vmap over k), so equal models get equal rows of A, L
    A = sigma_p**2 * jax.vmap(lambda Mk: Mk @ flat.T)(M).reshape(D, D)
    L = psd_cholesky(A)
    # the first model bit-for-bit equal to each model: it takes that one's projections
    same = jax.vmap(lambda a: jax.vmap(lambda b: jnp.all(a == b))(M))(M)  # (k, k)
    first = jnp.argmax(same, axis=1)  # same[i, i] holds, so first[i] <= i
    chunk = min(chunk, n_test)
    n_chunks = -(-n_test // chunk)

    def body(c, acc):
        z = normal(jax.random.fold_in(key, c), (chunk, 2 + (P - 1) * D))
        y_sig, u = sign_and_uniform(z[:, :2])
        y_sig = y_sig[:, 0]
        y = jnp.where(u[:, 1] < label_flip, -y_sig, y_sig)
        g = z[:, 2:].reshape(chunk * (P - 1), D)
        pre_noise = (g @ L.T).reshape(chunk, P - 1, k, 2, m)[:, :, first]  # (chunk, P-1, k, 2, m)
        pre_sig = y_sig[:, None, None, None, None] * sig[None, None]  # (chunk, 1, k, 2, m)
        pre = jnp.concatenate([pre_sig, pre_noise], axis=1).transpose(2, 0, 1, 3, 4)  # (k, chunk, P, 2, m)
        f = output_from_preacts(pre, act)  # (k, chunk)
        valid = (c * chunk + jnp.arange(chunk)) < n_test
        return acc + jnp.sum(jnp.where(valid[None, :], half_errors(y[None, :] * f), 0.0), axis=1)

    return jax.lax.fori_loop(0, n_chunks, body, jnp.zeros((k,)))


def empirical_error_dense(key, Ws, n_test: int, chunk: int, P: int, mu, frame, sigma_p, label_flip, act) -> jax.Array:
    """Error of each model of ``Ws`` (k, 2, m, d) on one shared fresh test set of ``n_test``
    target points (labels flipped with probability p), sampled through the projections
    ``<w_{j,r}, xi>`` (``projected_error_counts``): the law of ``empirical_error``'s
    materialised test set, without its n_test x d Gaussian draws.  Returns (k,); NaN if
    n_test = 0."""
    Wf = Ws.reshape(Ws.shape[0], -1, Ws.shape[-1])
    M = Wf - (Wf @ frame.T) @ frame  # W (I - Pi)
    counts = projected_error_counts(key, Ws @ mu, M, n_test, chunk, P, sigma_p, label_flip, act)
    return counts / max(n_test, 1)


def paired_errors(sig_a, cov_a, draws_a, sig_b, cov_b, draws_b, act: Activation, label_flip) -> tuple:
    """``exact_errors`` of two sets of weight settings, (sig (T_a, 2, m), cov) and (sig
    (T_b, 2, m), cov), each on its draws: one call, so one compiled copy of the exact error,
    when the draws have the same shape (m_up = m: the backends slice both from the seed's
    one set of common Gaussian draws, so they are then the same numbers), else two."""
    if draws_a.shape != draws_b.shape:
        sets = ((sig_a, cov_a, draws_a), (sig_b, cov_b, draws_b))
        return tuple(exact_errors(s, c, d, act, label_flip) for s, c, d in sets)
    n = sig_a.shape[0]
    e = exact_errors(jnp.concatenate([sig_a, sig_b]), jnp.concatenate([cov_a, cov_b]), draws_a, act, label_flip)
    return ExactError(e.err[:n], e.se[:n]), ExactError(e.err[n:], e.se[n:])


def final_errors(sig_up, cov_up, draws_up, sig_dn, cov_dn, draws_dn, act: Activation, label_flip) -> tuple:
    """Exact errors (docs/theory.md section 2) of the upstream model, sig (2, m_up) and cov
    on its draws, as scalars, and of the k target models, sig (k, 2, m) and cov (k, 2m, 2m),
    as (k,): one ``paired_errors`` call."""
    up, dn = paired_errors(sig_up[None], cov_up[None], draws_up, sig_dn, cov_dn, draws_dn, act, label_flip)
    return ExactError(up.err[0], up.se[0]), dn


def stage_curves(c_up: dict, c_dn: dict, draws_up: jax.Array, draws_dn: jax.Array, act: Activation,
                 label_flip) -> tuple[dict, dict]:
    """The logged curves of the upstream model and of the downstream pair (leading axis 2:
    transfer, scratch) with their logged ``_sig`` (T, 2, m) and ``_cov`` (T, 2m, 2m) (signal
    pre-activations ``<w, mu>`` and noise covariance ``sigma_p^2 W (I - Pi) W^T`` at each
    logged step) replaced by the exact test-error curve ``err`` (T,), each stage on its own
    common Gaussian draws (docs/theory.md section 2): computed after training rather than
    per logged step, through ``paired_errors`` (every logged step of both stages in one
    ``exact_errors`` call when m_up = m)."""
    up, dn = dict(c_up), dict(c_dn)
    s_up, v_up, s_dn, v_dn = up.pop("_sig"), up.pop("_cov"), dn.pop("_sig"), dn.pop("_cov")
    lead = s_dn.shape[:2]  # (2, L_dn)
    e_up, e_dn = paired_errors(s_up, v_up, draws_up, s_dn.reshape((-1,) + s_dn.shape[2:]),
                               v_dn.reshape((-1,) + v_dn.shape[2:]), draws_dn, act, label_flip)  # fmt: skip
    up["err"], dn["err"] = e_up.err, e_dn.err.reshape(lead)
    return up, dn
