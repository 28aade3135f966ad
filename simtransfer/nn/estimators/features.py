"""The features of a CNN for the transferability estimators: the 2m filter responses
phi(x)_{j,r} = sum_p act(<w_{j,r}, x^(p)>) (see ``simtransfer.nn.estimators``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory.linalg import mm

__all__ = ["features", "features_from_preacts"]


def features_from_preacts(pre: jax.Array, act) -> jax.Array:
    """phi (n, 2m) from pre-activations ``pre[i, p, j, r] = <w_{j,r}, x_i^(p)>`` (n, P, 2, m):
    ``phi_{j,r} = sum_p act(pre[:, p, j, r])``, columns class-major (j = +1 first)."""
    n = pre.shape[0]
    return act(pre).sum(axis=1).reshape(n, -1)


def features(W: jax.Array, xi: jax.Array, y_signal: jax.Array, mu: jax.Array | None, act) -> jax.Array:
    """phi (n, 2m) of the filters ``W`` (2, m, d) on inputs given by patch type (``config.data.Batch``):
    noise patches ``xi`` (n, P-1, d) and signal patch ``y_signal mu``; with ``mu = None``,
    ``xi`` (n, P, d) holds every patch.  ``f(W, x) = (phi[:, :m].sum(1) - phi[:, m:].sum(1)) / m``."""
    n, Pn, d = xi.shape
    pre = mm(xi.reshape(n * Pn, d), W.reshape(-1, d).T).reshape(n, Pn, 2, -1)
    if mu is not None:
        pre_sig = y_signal[:, None, None, None] * mm(W, mu)[None, None]  # (n, 1, 2, m)
        pre = jnp.concatenate([pre_sig, pre], axis=1)
    return features_from_preacts(pre, act)
