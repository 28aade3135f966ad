"""Signal-plus-noise data of two tasks sharing a universal signal (docs/design.md section 1).

All functions act on one draw; batches of seeds are vmaps.  Shapes:
``frame`` (3, d) orthonormal rows (u, v_S, v_T directions); ``X`` (n, P, d); ``y`` (n,).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Signals", "Batch", "make_frame", "make_signals", "sample", "project_noise"]


class Signals(NamedTuple):
    """The signal vectors of both tasks, each of shape (d,)."""

    u: jax.Array  # universal signal, norm a
    v_S: jax.Array  # source-specific signal, norm b_S
    v_T: jax.Array  # target-specific signal, norm b_T
    mu_S: jax.Array  # u + v_S
    mu_T: jax.Array  # s u + v_T
    frame: jax.Array  # (3, d) orthonormal directions of u, v_S, v_T


class Batch(NamedTuple):
    """n samples of one task, stored by patch type.

    The network sums over patches, so the position of the signal patch does not change
    f; training and evaluation use ``xi`` and ``y_signal`` directly (half the flops of the
    full inputs for P = 2), and ``inputs(mu)`` rebuilds the full ``x`` when needed.
    """

    xi: jax.Array  # (n, P-1, d) noise patches, xi ~ N(0, sigma_p^2 (I - Pi))
    y_signal: jax.Array  # (n,) clean label y: the signal patch is y_signal * mu
    y: jax.Array  # (n,) observed label (y_signal flipped with probability p)
    pos: jax.Array  # (n,) int, index of the signal patch among the P patches
    # (n,) 1.0 on the real samples and 0.0 on the padding of a bucketed training set
    # (``backends.dense``): the training means are over the real ones; None: no padding
    mask: jax.Array | None = None

    def inputs(self, mu: jax.Array) -> jax.Array:
        """Full inputs ``X`` (n, P, d): patch ``pos`` is ``y_signal mu``, the others are ``xi``."""
        n, Pm1, d = self.xi.shape
        P = Pm1 + 1
        # noise patch q goes to position q if q < pos, else q + 1
        slot = jnp.arange(P)[None, :]  # (1, P)
        q = jnp.clip(slot - (slot > self.pos[:, None]), 0, Pm1 - 1)  # (n, P)
        noise = jnp.take_along_axis(self.xi, q[..., None], axis=1)
        is_sig = slot == self.pos[:, None]
        return jnp.where(is_sig[..., None], self.y_signal[:, None, None] * mu[None, None, :], noise)


def make_frame(key: jax.Array | None, d: int, kind: str) -> jax.Array:
    """Orthonormal directions (3, d) of (u, v_S, v_T): e_1, e_2, e_3 or a random frame."""
    if kind == "canonical":
        return jnp.eye(3, d)
    if kind == "random":
        assert key is not None
        # Gram-Schmidt (twice, for float32 orthogonality) by hand: no LAPACK call,
        # which XLA:CPU has been seen to hang on inside vmapped jits (docs/design.md section 7).
        g = jax.random.normal(key, (3, d))
        rows: list[jax.Array] = []
        for i in range(3):
            v = g[i]
            for _ in range(2):
                for q in rows:
                    v = v - (v @ q) * q
            rows.append(v / jnp.linalg.norm(v))
        return jnp.stack(rows)
    raise ValueError(f"task.frame: unknown frame {kind!r}")


def make_signals(frame: jax.Array, a, b_S, b_T, s) -> Signals:
    """u = a e_u, v_S = b_S e_S, v_T = b_T e_T, mu_S = u + v_S, mu_T = s u + v_T."""
    u, v_S, v_T = a * frame[0], b_S * frame[1], b_T * frame[2]
    return Signals(u, v_S, v_T, u + v_S, s * u + v_T, frame)


def project_noise(g: jax.Array, frame: jax.Array) -> jax.Array:
    """(I - Pi) g for g of shape (..., d): removes the components along the frame.

    With the canonical frame the first three coordinates become exactly zero and the
    others are untouched, so noise is exactly orthogonal to every signal.
    """
    return g - (g @ frame.T) @ frame


def sample(
    key: jax.Array,
    n: int,
    P: int,
    frame: jax.Array,
    sigma_p,
    label_flip,
    fixed_position: bool,
    dtype=jnp.float32,
) -> Batch:
    """n samples of a task (docs/design.md section 1); the signal ``mu`` enters via ``Batch.inputs``.

    ``y`` is uniform on {-1, +1}; one patch (uniform position, or patch 1 when
    ``fixed_position``) equals ``y mu``; the other P - 1 are ``xi ~ N(0, sigma_p^2 (I - Pi))``.
    The observed label is flipped with probability ``label_flip`` after ``x`` is built.
    """
    k_y, k_pos, k_xi, k_flip = jax.random.split(key, 4)
    d = frame.shape[1]
    y = jax.random.rademacher(k_y, (n,), dtype=dtype)
    if fixed_position:
        pos = jnp.zeros((n,), jnp.int32)
    else:
        pos = jax.random.randint(k_pos, (n,), 0, P)
    xi = sigma_p * project_noise(jax.random.normal(k_xi, (n, P - 1, d), dtype), frame)
    flip = jax.random.bernoulli(k_flip, label_flip, (n,))
    return Batch(xi, y, jnp.where(flip, -y, y), pos)
