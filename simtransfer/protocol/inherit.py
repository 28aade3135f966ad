"""Step 2 of the protocol (docs/design.md section 4): what the downstream model takes from
the upstream one, by inheritance (copied filters) and by distillation (per-sample weights)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["inheritance", "distill_mask"]


def inheritance(key, W_up, W_fresh, u_dir, alpha, rescale, policy: str, freeze: bool):
    """Downstream initialisation: k = round(alpha m) filters per class copied from ``W_up``.

    Args:
      W_up: (2, m_up, d) trained upstream filters; W_fresh: (2, m, d) fresh filters.
      u_dir: (d,) unit direction of the universal signal u (for ``top_signal``).
      policy: ``first`` (upstream filters 1..k), ``random`` (k distinct, per class) or
        ``top_signal`` (the k with the largest alignment j <w_{j,r}, u/||u||>, i.e. the
        most signal learning along u for class j).

    Returns:
      (W_init, inherited mask (2, m) bool, source index (2, m) int, frozen mask (2, m)).
      Inherited filters occupy positions 0..k-1 of each class; ``W_init`` multiplies
      them by ``rescale``.
    """
    m_up, m = W_up.shape[1], W_fresh.shape[1]
    if policy == "first":
        order = jnp.broadcast_to(jnp.arange(m_up), (2, m_up))
    elif policy == "random":
        order = jnp.stack([jax.random.permutation(k, m_up) for k in jax.random.split(key, 2)])
    elif policy == "top_signal":
        align = (W_up @ u_dir) * jnp.array([1.0, -1.0])[:, None]  # (2, m_up): j <w_{j,r}, u>
        order = jnp.argsort(-align, axis=1)
    else:
        raise ValueError(f"transfer.policy: unknown policy {policy!r}")
    if m <= m_up:
        src = order[:, :m]
    else:  # positions >= m_up are never inherited (validated k <= m_up): pad
        src = jnp.concatenate([order, jnp.zeros((2, m - m_up), order.dtype)], axis=1)
    k = jnp.round(alpha * m)
    mask = jnp.broadcast_to(jnp.arange(m) < k, (2, m))
    inherited = jnp.take_along_axis(W_up, src[..., None], axis=1)
    W_init = jnp.where(mask[..., None], rescale * inherited, W_fresh)
    frozen = mask & freeze
    return W_init, mask, src, frozen


def distill_mask(f_teacher: jax.Array, y: jax.Array, partition: str, confidence) -> jax.Array:
    """(n,) 1.0 on the target samples that receive the distillation term (Roth et al. 2024):
    all (``none``), those where the teacher's sign agrees with the label (``agree``), or
    those where the teacher is confident, max(sigma(f_t), 1 - sigma(f_t)) >= confidence."""
    if partition == "none":
        return jnp.ones_like(f_teacher)
    if partition == "agree":
        return (y * f_teacher > 0).astype(f_teacher.dtype)
    if partition == "confident":
        return (jax.nn.sigmoid(jnp.abs(f_teacher)) >= confidence).astype(f_teacher.dtype)
    raise ValueError(f"transfer.partition: unknown partition {partition!r}")
