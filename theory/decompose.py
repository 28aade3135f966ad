r"""Exact signal-noise decomposition of trained filters (docs/design.md section 5, docs/theory.md section 2).

Gradient descent only ever adds multiples of training patches to a filter, so

    w_{j,r} = w_{j,r}^(0) + sum_{z in {u, v_S, v_T}} gamma_{j,r,z} z / ||z||^2
              + sum_i rho_{j,r,i} xi_i / ||xi_i||^2

holds exactly: ``gamma`` is signal learning, ``rho`` noise memorisation.  Given
``W - W0`` they are recovered by projecting onto the span of the unit vectors
e_k = (u, v_S, v_T, xi_1, ..., xi_N) / norms, i.e. solving the normal equations
``G c = E (w - w0)`` with the Gram matrix ``G = E E^T`` (hand-written Cholesky
:func:`theory.linalg.psd_cholesky` and triangular solves in plain ``jnp`` ops, since LAPACK
calls have hung XLA:CPU inside vmapped jits, docs/design.md section 7), then rescaling:
``gamma_z = ||z|| c_z`` and ``rho_i = ||xi_i|| c_i``.

Convention for a signal of norm 0 (e.g. ``a = 0``): ``z / ||z||^2`` is undefined, so
``gamma_z`` is then the coefficient along the unit direction of z (the frame row).
``gamma_{j,r,z}`` is signed as the raw coefficient: filters of class j = -1 that learn the
signal have ``gamma < 0`` (``j gamma`` is the signal learning of the proofs).

``residual = ||(W - W0) - reconstruction|| / ||W - W0||`` (Frobenius over all filters) is
~1e-6 in float32 when ``W - W0`` lies in the span, which proves the decomposition exact.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from theory.linalg import psd_cholesky, solve_lower, solve_upper

__all__ = ["Decomposition", "decompose", "solve_lower", "solve_upper"]


class Decomposition(NamedTuple):
    gamma: jax.Array  # (..., 3) signal coefficients along (u, v_S, v_T), per filter
    rho: jax.Array  # (..., *noise_shape) noise coefficients, per filter and training noise patch
    residual: jax.Array  # () relative norm of what the span does not reconstruct


@jax.jit
def _decompose(dW: jax.Array, frame: jax.Array, norms: jax.Array, xi: jax.Array):
    d = dW.shape[-1]
    D = dW.reshape(-1, d)  # (F, d) filters
    xi_norm = jnp.linalg.norm(xi, axis=-1)  # (N,)
    E = jnp.concatenate([frame, xi / jnp.where(xi_norm == 0, 1.0, xi_norm)[:, None]])  # (3 + N, d) unit rows
    L = psd_cholesky(E @ E.T)
    c = solve_upper(L.T, solve_lower(L, E @ D.T))  # (3 + N, F) coefficients along unit rows
    recon = c.T @ E
    residual = jnp.linalg.norm(D - recon) / jnp.linalg.norm(D)
    sig_scale = jnp.where(norms == 0, 1.0, norms)
    gamma = (c[:3] * sig_scale[:, None]).T  # (F, 3)
    rho = (c[3:] * xi_norm[:, None]).T  # (F, N)
    return gamma, rho, residual


def _frame_and_norms(signals: Any, signal_norms) -> tuple[jax.Array, jax.Array]:
    if hasattr(signals, "frame") and hasattr(signals, "u"):  # a data.Signals, by duck typing
        frame = jnp.asarray(signals.frame)
        norms = jnp.stack([jnp.linalg.norm(jnp.asarray(v)) for v in (signals.u, signals.v_S, signals.v_T)])
    else:
        frame = jnp.asarray(signals)
        norms = jnp.ones((frame.shape[0],), frame.dtype)
    if signal_norms is not None:
        norms = jnp.asarray(signal_norms, frame.dtype)
    return frame, norms.astype(frame.dtype)


def decompose(
    W: jax.Array, W0: jax.Array, signals_frame: Any, noise_patches: jax.Array, signal_norms=None
) -> Decomposition:
    r"""gamma and rho of ``W - W0`` in the span of the signals and the given noise patches.

    Args:
      W, W0: (..., d) trained and initial filters, e.g. (2, m, d).
      signals_frame: (3, d) orthonormal directions of (u, v_S, v_T), or an object with
        fields ``frame``, ``u``, ``v_S``, ``v_T`` (``simtransfer.data.Signals``), whose
        norms (a, b_S, b_T) are then used.
      noise_patches: (..., d) every training noise patch ``xi_i`` the filters may have
        met (e.g. upstream and downstream concatenated); any leading shape, e.g. (n, P-1, d).
      signal_norms: (3,) norms (a, b_S, b_T) of the signals; with a bare frame and no norms,
        gamma is along the unit directions.

    Returns:
      ``Decomposition(gamma (*W.shape[:-1], 3), rho (*W.shape[:-1], *noise_shape), residual)``.
    """
    frame, norms = _frame_and_norms(signals_frame, signal_norms)
    W, W0, xi = jnp.asarray(W), jnp.asarray(W0), jnp.asarray(noise_patches)
    d = W.shape[-1]
    dt = W.dtype
    gamma, rho, res = _decompose(W - W0, frame.astype(dt), norms.astype(dt), xi.reshape(-1, d).astype(dt))
    lead = W.shape[:-1]
    return Decomposition(gamma.reshape(lead + (3,)), rho.reshape(lead + xi.shape[:-1]), res)
