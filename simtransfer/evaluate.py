"""Test error of dense filters: empirical on a fresh test set, and exact given the weights
(``theory.exact``, THEORY.md section 2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.exact import ExactError, exact_error, half_errors, noise_cov

from .data import sample
from .model import Activation, cnn_structured

__all__ = ["noise_cov_dense", "exact_error_dense", "empirical_error"]


#: (2m, 2m) covariance ``sigma_p^2 W (I - Pi) W^T`` of the noise pre-activations.
noise_cov_dense = noise_cov


def exact_error_dense(W, mu, frame, sigma_p, draws, act, label_flip=0.0) -> ExactError:
    """Exact conditional test error of dense filters ``W`` (2, m, d) on the task with signal ``mu``."""
    return exact_error(W @ mu, noise_cov_dense(W, frame, sigma_p), draws, act, label_flip)


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
